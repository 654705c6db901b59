"""Study filters on mined labels and mask QC: exactly the right studies, alone and combined; pages whose query
count does not grow with the data."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from curation.models import Report
from labeling.models import QcResult
from nlp.models import LabelingRun, MinedLabel
from tests.factories import ImageFactory, PatientFactory, ProjectFactory, StudyFactory


def _study(project, *, sex="F", views=("PA",), labels=None):
    study = StudyFactory(patient=PatientFactory(project=project, sex=sex), sex=sex, has_report=labels is not None)
    images = [ImageFactory(study=study, view_position=view) for view in views]
    if labels is not None:
        Report.objects.create(study=study, text="Report.", source=study.dataset, source_labels=labels)
    return study, images


def _run(project, complete=True):
    return LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t", complete=complete)


def _mined(run, study, label, status):
    return MinedLabel.objects.create(run=run, study=study, label=label, status=status)


def _qc(image, decision, dice=0.9):
    return QcResult.objects.create(
        project=image.project, image=image, estimated_dice=dice, decision=decision, method="t", version="1"
    )


@pytest.fixture
def cohort(project):
    """Four studies whose mined labels and QC results differ in exactly one respect each."""
    a, a_images = _study(project, sex="M", labels={"Effusion": 1, "Support Devices": 1})
    b, b_images = _study(project, views=("AP",), labels={"Effusion": 0, "Cardiomegaly": 1})
    c, c_images = _study(project, views=("LAT", "PA"))
    d, d_images = _study(project, labels={"Pleural_Thickening": 1, "Effusion": -1})
    old, latest, unfinished = _run(project), _run(project), _run(project, complete=False)
    _mined(old, d, "Effusion", "positive")  # an older run: ignored
    _mined(latest, a, "Effusion", "positive")
    _mined(latest, b, "Effusion", "uncertain")
    _mined(latest, b, "Cardiomegaly", "positive")
    _mined(latest, d, "Effusion", "negative")
    _mined(unfinished, c, "Effusion", "positive")  # a run that did not finish: ignored
    _qc(a_images[0], "reject", 0.4)
    _qc(a_images[0], "accept")  # newer: a's image is accepted now
    _qc(b_images[0], "review", 0.7)
    _qc(c_images[1], "reject", 0.3)
    # Another project with the same labels never shows up.
    other = ProjectFactory(slug="other")
    e, e_images = _study(other, labels={"Effusion": 1})
    _mined(_run(other), e, "Effusion", "positive")
    _qc(e_images[0], "accept")
    return {"a": a, "b": b, "c": c, "d": d}


def _names(client, query, cohort):
    response = client.get(f"/api/projects/chest/studies/?{query}")
    assert response.status_code == 200, response.content
    by_id = {study.pk: name for name, study in cohort.items()}
    return [by_id[row["id"]] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mined_label=Effusion", ["a"]),
        ("mined_label=Effusion&mined_status=positive", ["a"]),
        ("mined_label=Effusion&mined_status=uncertain", ["b"]),
        ("mined_label=Effusion&mined_status=negative", ["d"]),
        ("mined_label=Cardiomegaly", ["b"]),
        ("mined_label=Pneumonia", []),
        ("mined_status=positive", ["b", "a"]),
        ("mined_status=uncertain", ["b"]),
        ("mined_status=negative", ["d"]),
        ("qc_decision=accept", ["a"]),
        ("qc_decision=review", ["b"]),
        ("qc_decision=reject", ["c"]),
        ("label=Effusion", ["a"]),
        ("label=Cardiomegaly", ["b"]),
        ("label=Support Devices", ["a"]),
        ("label=Pleural_Thickening", ["d"]),
        ("sex=F&mined_status=positive", ["b"]),
        ("view=PA&qc_decision=accept&label=Effusion&mined_label=Effusion", ["a"]),
        ("view=AP&mined_label=Effusion&mined_status=uncertain&qc_decision=review", ["b"]),
        ("view=LAT&qc_decision=reject", ["c"]),
        ("sex=M&qc_decision=review", []),
        ("has_report=false&qc_decision=reject", ["c"]),
        ("label=Effusion&mined_label=Effusion&mined_status=negative", []),
    ],
)
def test_study_filters_select_exactly(cohort, members, api, query, expected):
    assert _names(api(members["viewer"]), query, cohort) == expected


def test_mined_filters_without_a_finished_run_match_nothing(project, members, api):
    study, _ = _study(project, labels={"Effusion": 1})
    _mined(_run(project, complete=False), study, "Effusion", "positive")
    client = api(members["viewer"])
    assert _names(client, "mined_label=Effusion", {"s": study}) == []
    assert _names(client, "mined_status=positive", {"s": study}) == []
    assert _names(client, "label=Effusion", {"s": study}) == ["s"]


def test_study_page_filters_by_mined_label_and_qc(cohort, members):
    client = Client()
    client.force_login(members["viewer"])
    html = client.get("/p/chest/studies/?mined_label=Effusion&mined_status=uncertain&qc_decision=review").content
    html = html.decode()
    assert html.count('data-href="/p/chest/studies/') == 1
    assert f'data-href="/p/chest/studies/{cohort["b"].pk}/"' in html
    assert 'name="mined_label"' in html and 'name="qc_decision"' in html
    assert '<option value="review" selected>' in html


def _grow(project, run, n):
    for i in range(n):
        study, images = _study(project, labels={"Effusion": 1})
        _mined(run, study, "Effusion", "positive" if i % 2 else "uncertain")
        _qc(images[0], "review", 0.5 + i / 1000)


def _queries(call) -> int:
    call()  # the first call fills per-user caches (the member's role); count a warm one
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


ALL_FILTERS = (
    "dataset=dicom&view=PA&sex=F&age_min=1&age_max=120&has_report=true&label=Effusion"
    "&mined_label=Effusion&mined_status=positive&qc_decision=review"
)


@pytest.mark.parametrize("query", ["", "label=Effusion", "mined_status=uncertain", "qc_decision=review", ALL_FILTERS])
def test_study_list_query_count_does_not_grow(project, members, api, django_assert_num_queries, query):
    run = _run(project)
    _grow(project, run, 3)
    client = api(members["viewer"])
    url = f"/api/projects/chest/studies/?{query}"
    expected = _queries(lambda: client.get(url))
    _grow(project, run, 120)
    with django_assert_num_queries(expected):
        body = client.get(url).json()
    assert len(body["results"]) == 50
    with django_assert_num_queries(expected):
        assert client.get(body["next"]).status_code == 200


def test_study_page_query_count_does_not_grow(project, members, django_assert_num_queries):
    run = _run(project)
    _grow(project, run, 3)
    client = Client()
    client.force_login(members["viewer"])
    url = f"/p/chest/studies/?{ALL_FILTERS}"
    expected = _queries(lambda: client.get(url))
    _grow(project, run, 120)
    with django_assert_num_queries(expected):
        html = client.get(url).content.decode()
    assert html.count('data-href="/p/chest/studies/') == 50


@pytest.mark.parametrize("query", ["", "label=Effusion", "status=uncertain", "label=Effusion&status=positive"])
def test_labels_list_query_count_does_not_grow(project, members, api, django_assert_num_queries, query):
    run = _run(project)
    _grow(project, run, 3)
    client = api(members["viewer"])
    url = f"/api/projects/chest/labeling-runs/{run.pk}/labels/?{query}"
    expected = _queries(lambda: client.get(url))
    _grow(project, run, 120)
    with django_assert_num_queries(expected):
        body = client.get(url).json()
    assert len(body["results"]) == 50
    with django_assert_num_queries(expected):
        assert client.get(body["next"]).status_code == 200


@pytest.mark.parametrize("query", ["", "decision=review", "decision=review,reject"])
def test_qc_list_query_count_does_not_grow(project, members, api, django_assert_num_queries, query):
    run = _run(project)
    _grow(project, run, 3)
    client = api(members["viewer"])
    url = f"/api/projects/chest/qc-results/?{query}"
    expected = _queries(lambda: client.get(url))
    _grow(project, run, 120)
    with django_assert_num_queries(expected):
        body = client.get(url).json()
    assert len(body["results"]) == 50
    assert [r["estimated_dice"] for r in body["results"]] == sorted(r["estimated_dice"] for r in body["results"])
    with django_assert_num_queries(expected):
        assert client.get(body["next"]).status_code == 200
