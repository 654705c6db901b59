"""Bad input to the API and pages is a clear 4xx, never a 500."""

import pytest
from django.test import Client


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/projects/chest/jobs/", {"kind": "demo.generate", "params": "not an object"}),
        ("post", "/api/projects/chest/jobs/", {"kind": "qc.run", "params": {"review_below": "high"}}),
        ("post", "/api/projects/chest/jobs/", {"kind": "nlp.mine_labels", "params": {"label_space": "radlex"}}),
        ("post", "/api/projects/chest/jobs/", {"kind": "qc.import_masks", "params": {"format": "tiff"}}),
        ("post", "/api/projects/chest/jobs/", {"kind": "ingest.import", "params": {"source": "dicom", "upload": "x"}}),
        ("post", "/api/projects/chest/imports/", {"source": "nope", "path": "/tmp"}),
        ("post", "/api/projects/chest/imports/", {"source": "csv", "path": "/tmp", "mapping": "{not json"}),
        ("put", "/api/projects/chest/vocabulary/", ["a", "list"]),
        ("put", "/api/projects/chest/vocabulary/", {"colours": {}}),
        ("patch", "/api/projects/chest/", {"deid": "yes"}),
        ("patch", "/api/projects/chest/", {"name": ""}),
        ("get", "/api/projects/chest/studies/?age_min=-3", None),
        ("get", "/api/projects/chest/labeling-runs/999/labels/", None),
        ("get", "/api/projects/chest/images/999/masks/", None),
        ("get", "/api/projects/chest/jobs/?status=exploded", None),
        ("post", "/api/projects/chest/members/", {"username": "ghost", "role": "viewer"}),
        ("post", "/api/projects/chest/members/", {"username": "viewer", "role": "emperor"}),
        ("post", "/api/projects/chest/jobs/999/rerun/", None),
    ],
)
def test_bad_api_input_is_a_4xx(method, url, body, members, api):
    response = getattr(api(members["admin"]), method)(url, body, format="json")
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])


@pytest.mark.parametrize(
    "url",
    [
        "/p/chest/studies/?age_min=old&before=abc",
        "/p/chest/labels/?run=abc&after=x:y&status=weird",
        "/p/chest/masks/?decision=maybe&after=1:2:3&order=sideways",
        "/p/chest/jobs/?status=nope&before=-1",
        "/p/chest/studies/999999/",
        "/p/chest/patients/NOBODY/",
    ],
)
def test_bad_page_input_is_handled(url, members):
    client = Client()
    client.force_login(members["admin"])
    response = client.get(url)
    assert response.status_code in (200, 404)
