"""Hostile input to the API is a 400 (or 404) with a message, never a 500: lookups smuggled into filters,
integers beyond 64 bits, JSON nested 100,000 deep, forged cursors; and the browsable API and error pages."""

import base64
import json

import pytest
from django.test import Client

from curation.models import PseudonymMap
from nlp.models import LabelingRun

STUDIES = "/api/projects/chest/studies/"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("label=contains", "label"),
        ("label=in", "label"),
        ("label=isnull", "label"),
        ("label=regex", "label"),
        ("label=Effusion__in", "label"),
        ("label=Effusion__regex", "label"),
        ("label=a%00b", "label"),
        ("label=" + "x" * 101, "label"),
        ("label=<script>", "label"),
        ("mined_label=Effusion__isnull", "mined_label"),
        ("mined_status=maybe", "mined_status"),
        ("qc_decision=contains", "qc_decision"),
        ("dataset=nih__in", "dataset"),
        ("view=PA__contains", "view"),
        ("sex=X", "sex"),
        ("age_min=151", "age_min"),
        ("age_max=99999999999999999999999", "age_max"),
        ("age_min=-3", "age_min"),
        ("has_report=perhaps", "has_report"),
    ],
)
def test_bad_study_filter_is_a_400_with_a_message(members, api, query, field):
    response = api(members["viewer"]).get(f"{STUDIES}?{query}")
    assert response.status_code == 400
    messages = response.json()[field]
    assert len(messages) == 1 and messages[0].startswith("Give ")


def test_a_lookup_name_as_a_label_is_refused_by_name(members, api):
    response = api(members["viewer"]).get(f"{STUDIES}?label=regex")
    assert response.json() == {"label": ["Give a label name, not the query lookup 'regex'."]}


def test_label_names_with_spaces_slashes_and_commas_are_plain_names(members, api):
    names = ["Support Devices", "Pleural_Thickening", "Lung/hypoinflation", "Pulmonary Disease, Chronic Obstructive"]
    for name in names:
        response = api(members["viewer"]).get(STUDIES, {"label": name})
        assert response.status_code == 200, name
        assert response.json()["results"] == []


def test_every_bad_study_filter_is_reported_at_once(members, api):
    response = api(members["viewer"]).get(f"{STUDIES}?sex=Q&age_min=x&label=a__b&qc_decision=maybe")
    assert response.status_code == 400
    assert sorted(response.json()) == ["age_min", "label", "qc_decision", "sex"]
    assert response.json()["age_min"] == ["Give a whole number of years."]
    assert response.json()["qc_decision"] == ["Give one of: accept, reject, review."]


@pytest.fixture
def run(project):
    return LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t", complete=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("study=99999999999999999999999", "study"),
        ("study=9223372036854775808", "study"),
        ("study=0", "study"),
        ("study=abc", "study"),
        ("status=weird", "status"),
        ("changed=perhaps", "changed"),
        ("label=Effusion__in", "label"),
    ],
)
def test_bad_label_list_parameter_is_a_400(members, api, run, query, field):
    response = api(members["viewer"]).get(f"/api/projects/chest/labeling-runs/{run.pk}/labels/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_labels_of_the_largest_study_id_is_an_empty_page(members, api, run):
    response = api(members["viewer"]).get(f"/api/projects/chest/labeling-runs/{run.pk}/labels/?study={2**63 - 1}")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/chest/labeling-runs/99999999999999999999999/",
        "/api/projects/chest/labeling-runs/99999999999999999999999/labels/",
        "/api/projects/chest/images/99999999999999999999999/masks/",
    ],
)
def test_ids_beyond_64_bits_in_the_path_are_404(members, api, url):
    assert api(members["viewer"]).get(url).status_code == 404


def test_bad_qc_decision_is_a_400(members, api):
    response = api(members["viewer"]).get("/api/projects/chest/qc-results/?decision=review,maybe")
    assert response.status_code == 400
    assert response.json() == {"decision": ["Give one of: accept, reject, review."]}


def test_bad_pseudonym_kind_is_a_400(members, api):
    response = api(members["admin"]).get("/api/projects/chest/pseudonyms/?kind=ssn")
    assert response.status_code == 400
    assert list(response.json()) == ["kind"]


def _cursor(position) -> str:
    return base64.b64encode(f"o=0&r=0&p={position}".encode()).decode()


@pytest.mark.parametrize(
    "url",
    [
        f"{STUDIES}?cursor=not-base64!",
        f"{STUDIES}?cursor={_cursor('abc')}",
        f"{STUDIES}?cursor={_cursor(2**64)}",
        f"{STUDIES}?cursor={_cursor('-5')}",
        f"/api/projects/chest/qc-results/?cursor={_cursor('nan')}",
        f"/api/projects/chest/qc-results/?cursor={_cursor('x')}",
    ],
)
def test_forged_cursor_is_a_404(members, api, url):
    response = api(members["viewer"]).get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_100000_deep_is_a_400_even_anonymously():
    response = Client().post("/api/auth/token/", data=_nested(100_000), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 64 levels deep."}


def test_json_nested_just_past_the_bound_is_a_400(members, api):
    body = {"kind": "nlp.mine_labels", "params": json.loads(_nested(64))}
    response = api(members["admin"]).post("/api/projects/chest/jobs/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested more than 64 levels deep."}


def test_json_within_the_bound_reaches_the_view(members, api):
    body = json.loads("[" * 62 + "]" * 62)
    response = api(members["admin"]).put("/api/projects/chest/vocabulary/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"extension": ["Send a JSON object."]}


def test_import_mapping_sent_as_deep_json_text_is_a_400(members, api):
    body = {"source": "csv", "path": "/tmp", "mapping": _nested(5000)}
    response = api(members["admin"]).post("/api/projects/chest/imports/", body, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"mapping": ["JSON parse error - nested more than 64 levels deep."]}


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/chest/qc-results/",
        "/api/projects/chest/studies/",
        "/api/projects/chest/members/",
        "/api/projects/chest/vocabulary/",
        "/api/projects/chest/jobs/",
    ],
)
@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_browsable_api_works_with_a_session(members, url, role):
    client = Client()
    client.force_login(members[role])
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Django REST framework" in response.content.decode()


def test_forbidden_page_uses_the_app_layout(members):
    client = Client()
    client.force_login(members["viewer"])
    response = client.get("/p/chest/import/")
    html = response.content.decode()
    assert response.status_code == 403
    assert '<header class="topbar">' in html and "<h1>Not allowed</h1>" in html
    assert "Back to your projects" in html


@pytest.mark.parametrize("url", ["/p/chest/studies/999999/", "/p/chest/studies/99999999999999999999999/", "/nowhere/"])
def test_not_found_page_uses_the_app_layout(members, url):
    client = Client()
    client.force_login(members["viewer"])
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 404
    assert '<header class="topbar">' in html and "<h1>Not found</h1>" in html


def test_study_page_ignores_a_run_id_beyond_64_bits(members, project):
    from tests.factories import ImageFactory

    study = ImageFactory(study__patient__project=project).study
    client = Client()
    client.force_login(members["viewer"])
    assert client.get(f"/p/chest/studies/{study.pk}/?run=99999999999999999999999").status_code == 200


def test_a_nul_character_the_database_cannot_store_is_a_400_not_a_500(members, api):
    from django.db import connection

    response = api(members["admin"]).get("/api/projects/chest/pseudonyms/?pseudonym=a%00b")
    if connection.vendor == "postgresql":
        # PostgreSQL refuses NUL in text: the error handler turns the database's refusal into a 400.
        assert response.status_code == 400
        assert response.json() == {"detail": "A value in the request is out of range or not allowed."}
    else:
        assert response.status_code == 200
        assert response.json()["results"] == []


def _query_params(schema, path):
    return {p["name"]: p for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def test_schema_describes_every_list_filter_with_its_values(members, api):
    schema = api(members["viewer"]).get("/api/schema/?format=json").json()
    studies = _query_params(schema, "/api/projects/{slug}/studies/")
    assert sorted(studies) == [
        "age_max",
        "age_min",
        "cursor",
        "dataset",
        "has_report",
        "label",
        "mined_label",
        "mined_status",
        "page_size",
        "qc_decision",
        "review_state",
        "sex",
        "view",
    ]
    assert studies["mined_status"]["schema"]["enum"] == ["negative", "positive", "uncertain"]
    assert studies["qc_decision"]["schema"]["enum"] == ["accept", "reject", "review"]
    assert studies["view"]["schema"]["enum"] == ["AP", "LAT", "PA"]
    assert (studies["age_min"]["schema"]["minimum"], studies["age_min"]["schema"]["maximum"]) == (0, 150)
    assert studies["label"]["schema"]["pattern"] == r"^(?!.*__)[\w ,.()'/+-]+$"
    labels = _query_params(schema, "/api/projects/{slug}/labeling-runs/{run_id}/labels/")
    assert sorted(labels) == ["changed", "cursor", "label", "page_size", "status", "study"]
    assert labels["study"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert labels["status"]["schema"]["enum"] == ["negative", "not_mentioned", "positive", "uncertain"]
    qc = _query_params(schema, "/api/projects/{slug}/qc-results/")
    assert qc["decision"]["schema"]["items"]["enum"] == ["accept", "review", "reject"]
    pseudonyms = _query_params(schema, "/api/projects/{slug}/pseudonyms/")
    assert pseudonyms["kind"]["schema"]["enum"] == sorted(PseudonymMap.Kind.values)
    assert "pseudonym" in pseudonyms
    jobs = _query_params(schema, "/api/projects/{slug}/jobs/")
    assert jobs["status"]["schema"]["items"]["enum"] == ["cancelled", "failed", "queued", "running", "succeeded"]
    assert "kind" in jobs
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "page_size":
                    assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}, (method, path)
