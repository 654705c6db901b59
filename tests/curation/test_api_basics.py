"""API plumbing: token auth, the OpenAPI schema, clear 400s."""

from django.core.management import call_command
from rest_framework.test import APIClient


def test_token_auth_round_trip(members):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "curator", "password": "correct-horse-battery-staple"})
    assert response.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    me = client.get("/api/me/").json()
    assert me["username"] == "curator"
    assert me["projects"] == [{"slug": "chest", "name": "Chest", "role": "curator"}]


def test_anonymous_api_calls_get_401_with_a_token_challenge(db):
    response = APIClient().get("/api/projects/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_openapi_schema_is_valid_and_lists_the_endpoints(members, api, tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    text = path.read_text()
    assert text.startswith("openapi: 3.")
    for route in ["/api/projects/{slug}/jobs/", "/api/projects/{slug}/jobs/{job_id}/cancel/", "/api/me/"]:
        assert route in text
    assert api(members["viewer"]).get("/api/docs/").status_code == 200


def test_bad_job_params_are_a_400_naming_the_field(members, api):
    response = api(members["admin"]).post(
        "/api/projects/chest/jobs/", {"kind": "demo.generate", "params": {"patients": 0}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"patients": ["Give a whole number of patients from 1 to 500."]}


def test_unknown_job_kind_is_a_400(members, api):
    response = api(members["admin"]).post("/api/projects/chest/jobs/", {"kind": "mystery"}, format="json")
    assert response.status_code == 400
    assert "Unknown job kind 'mystery'" in response.json()["kind"][0]


def test_admin_sets_deidentification_options_and_bad_ones_are_refused(members, api):
    client = api(members["admin"])
    response = client.patch("/api/projects/chest/", {"deid": {"keep_private_tags": True}}, format="json")
    assert response.status_code == 200
    assert response.json()["deid"]["keep_private_tags"] is True
    assert response.json()["deid"]["enabled"] is True
    bad = client.patch("/api/projects/chest/", {"deid": {"shred_everything": True}}, format="json")
    assert bad.status_code == 400
    assert "Unknown options: shred_everything" in bad.json()["deid"][0]
    assert (
        api(members["curator"]).patch("/api/projects/chest/", {"deid": {"enabled": False}}, format="json").status_code
        == 403
    )
