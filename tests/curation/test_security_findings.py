"""The attacker review's findings, each replayed through the API or the pages with two projects and every
role: server files stay unreadable, uploads belong to one project, raw uploads do not outlive their import,
one rule decides who starts what, the operations admin changes nothing, exports carry no live formula,
job errors carry no PHI, and job parameters are bounded."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from curation.models import AuditEvent, Job, JobStatus, Membership, Project, Role, Upload
from curation.services import uploads as upload_services
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, UserFactory

ROLES = ["viewer", "radiologist", "curator", "admin"]


@pytest.fixture
def other(db):
    """A second hospital's project, with its own admin and curator."""
    project = ProjectFactory(slug="other", name="Other hospital")
    users = {
        role: MembershipFactory(project=project, user=UserFactory(username=f"other-{role}"), role=role).user
        for role in ("admin", "curator")
    }
    return project, users


@pytest.fixture
def inline_jobs(settings):
    settings.JOBS_IN_PROCESS_THREAD = False


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return SimpleUploadedFile("batch.zip", buf.getvalue(), content_type="application/zip")


def _import(client, slug, source="csv", mapping=None, members=None, capture=None):
    body = {"source": source, "file": _zip(members or {"m.csv": b"pid,acc,file\n1,2,a.png\n"})}
    if mapping is not None:
        body["mapping"] = json.dumps(mapping)
    if capture is not None:
        with capture(execute=True):
            return client.post(f"/api/projects/{slug}/imports/", body, format="multipart")
    return client.post(f"/api/projects/{slug}/imports/", body, format="multipart")


# 1. Any server file can be read -----------------------------------------------------------------------
@pytest.mark.parametrize("csv_name", ["/etc/passwd", "../../etc/passwd", "a/../../x.csv", "C:\\x.csv", "..\\x.csv"])
def test_a_mapping_cannot_name_a_file_outside_the_upload(members, api, csv_name):
    # Given a curator's generic-CSV import whose mapping points the reader at a server file
    mapping = {"patient_key": "pid", "study_key": "acc", "path": "file", "csv": csv_name}
    # When it is posted
    response = _import(api(members["curator"]), "chest", mapping=mapping)
    # Then it is refused before any job exists, and the answer names no file content
    assert response.status_code == 400, response.content
    assert "mapping['csv'] is the name of the CSV inside the upload" in json.dumps(response.json())
    assert Job.objects.count() == 0


def test_a_link_inside_a_server_folder_is_never_followed(
    members, api, settings, tmp_path, inline_jobs, django_capture_on_commit_callbacks
):
    # Given an allowed server folder whose manifest is a link to a secret file outside it
    secret = tmp_path / "secret.env"
    secret.write_text("DJANGO_SECRET_KEY=hunter2-secret\nDB_PASSWORD=swordfish\n")
    root = tmp_path / "incoming"
    root.mkdir()
    (root / "m.csv").symlink_to(secret)
    settings.IMPORT_ALLOWED_ROOTS = [str(root)]
    mapping = {"patient_key": "pid", "study_key": "acc", "path": "file", "csv": "m.csv"}
    # When the admin imports it
    with django_capture_on_commit_callbacks(execute=True):
        response = api(members["admin"]).post(
            "/api/projects/chest/imports/", {"source": "csv", "path": str(root), "mapping": mapping}, format="json"
        )
    # Then the job fails without reading the secret, and nothing anyone can see quotes it
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.FAILED
    assert job.message == "mapping['csv'] 'm.csv' is not a file in the source"
    seen = json.dumps(api(members["viewer"]).get(f"/api/projects/chest/jobs/{job.pk}/").json())
    assert "hunter2" not in seen and "swordfish" not in seen and str(tmp_path) not in seen


def test_a_job_message_never_quotes_the_file(members, api, django_capture_on_commit_callbacks, inline_jobs):
    # Given an upload whose only CSV is not a manifest at all (a file of secrets)
    secret = b"DJANGO_SECRET_KEY=hunter2-secret,AWS_SECRET=abc123xyz\n"
    mapping = {"patient_key": "pid", "study_key": "acc", "path": "file"}
    # When a curator imports it as a generic CSV
    response = _import(
        api(members["curator"]),
        "chest",
        mapping=mapping,
        members={"m.csv": secret},
        capture=django_capture_on_commit_callbacks,
    )
    job = Job.objects.get(pk=response.json()["id"])
    # Then the job says what is missing without repeating a byte of the file
    assert job.status == JobStatus.FAILED
    assert job.message == "m.csv is missing required columns 'pid', 'acc', 'file' (its header has 2 columns)"
    assert "hunter2" not in json.dumps(api(members["viewer"]).get(f"/api/projects/chest/jobs/{job.pk}/").json())


# 2. Another project's raw upload can be imported ------------------------------------------------------
@pytest.mark.parametrize("role", ["curator", "admin"])
def test_an_upload_is_named_by_its_id_within_the_project(members, other, api, role):
    # Given an upload stored in the other hospital's project
    other_project, other_users = other
    theirs = upload_services.save_upload(other_users["admin"], other_project, _zip({"a.dcm": b"x"}), "a.zip")
    client = api(members[role])
    attempts = [
        theirs.pk,  # their id
        str(theirs.pk),
        theirs.storage_name,  # their storage path
        f"projects/chest/uploads/../../other/uploads/{theirs.storage_name.rsplit('/', 1)[1]}",
        "projects/chest/uploads/x.zip",
    ]
    for value in attempts:
        # When a member of this project names it in a job
        response = client.post(
            "/api/projects/chest/jobs/",
            {"kind": "ingest.import", "params": {"source": "dicom", "upload": value}},
            format="json",
        )
        # Then it is refused as unknown
        assert response.status_code == 400, (value, response.content)
        assert response.json()["upload"][0] in ("Unknown upload.", "An upload is named by its id (a whole number).")
    assert Job.objects.count() == 0


def test_job_params_hold_the_upload_id_not_its_storage_name(members, api, inline_jobs):
    # Given a curator's upload
    response = _import(api(members["curator"]), "chest", source="dicom", members={"a.dcm": b"not dicom"})
    job = Job.objects.get(pk=response.json()["id"])
    # Then the job names the upload by id only, for every member who reads it
    upload = Upload.objects.get()
    assert job.params == {"source": "dicom", "upload": upload.pk}
    for role in ROLES:
        seen = json.dumps(api(members[role]).get(f"/api/projects/chest/jobs/{job.pk}/").json())
        assert upload.storage_name not in seen and "uploads/" not in seen


# 3. Raw PHI is kept for ever --------------------------------------------------------------------------
def test_an_upload_is_deleted_once_its_import_succeeded(members, api, django_capture_on_commit_callbacks, inline_jobs):
    # Given a curator's upload (a file that is not DICOM: a per-item error, the import still succeeds)
    response = _import(
        api(members["curator"]),
        "chest",
        source="dicom",
        members={"a.dcm": b"not dicom"},
        capture=django_capture_on_commit_callbacks,
    )
    job = Job.objects.get(pk=response.json()["id"])
    upload = Upload.objects.get()
    # Then the raw archive is gone from storage and the row says why
    assert job.status == JobStatus.SUCCEEDED
    upload.refresh_from_db()
    assert (upload.deleted_reason, default_storage.exists(upload.storage_name)) == ("imported", False)
    assert AuditEvent.objects.filter(action="import.upload_deleted", object_id=str(upload.pk)).count() == 1


def test_a_failed_import_keeps_its_upload_for_a_rerun_then_the_purge_deletes_it(
    members, api, django_capture_on_commit_callbacks, inline_jobs, settings
):
    # Given an import that fails (a generic CSV without its columns)
    settings.IMPORT_KEEP_FAILED_UPLOADS_HOURS = 24
    mapping = {"patient_key": "pid", "study_key": "acc", "path": "file"}
    client = api(members["curator"])
    response = _import(
        client, "chest", mapping=mapping, members={"m.csv": b"x,y\n1,2\n"}, capture=django_capture_on_commit_callbacks
    )
    job = Job.objects.get(pk=response.json()["id"])
    upload = Upload.objects.get()
    # Then the archive is kept about a day, so the job can be re-run
    assert job.status == JobStatus.FAILED
    upload.refresh_from_db()
    assert upload.deleted_at is None and default_storage.exists(upload.storage_name)
    assert timedelta(hours=23) < upload.keep_until - timezone.now() <= timedelta(hours=24)
    with django_capture_on_commit_callbacks(execute=True):
        rerun = client.post(f"/api/projects/chest/jobs/{job.pk}/rerun/")
    assert rerun.status_code == 201
    assert Job.objects.get(pk=rerun.json()["id"]).status == JobStatus.FAILED  # same input, same failure
    # When the keep time has passed, the purge deletes it
    assert upload_services.purge_expired(now=timezone.now() + timedelta(hours=25)) == 1
    upload.refresh_from_db()
    assert (upload.deleted_reason, default_storage.exists(upload.storage_name)) == ("expired", False)
    # And re-running a job whose upload is gone is a clear 409
    again = client.post(f"/api/projects/chest/jobs/{rerun.json()['id']}/rerun/")
    assert again.status_code == 409
    assert "was deleted (expired); upload the archive again" in again.json()["detail"]


def test_the_purge_spares_an_upload_that_a_queued_job_still_needs(members, project):
    # Given an expired upload that a queued job refers to
    upload = upload_services.save_upload(members["admin"], project, _zip({"a.dcm": b"x"}), "a.zip")
    Job.objects.create(kind="ingest.import", project=project, params={"source": "dicom", "upload": upload.pk})
    # When the purge runs past its keep time, then it is kept
    assert upload_services.purge_expired(now=timezone.now() + timedelta(days=3)) == 0
    assert default_storage.exists(upload.storage_name)


# 4. Curators start admin-only jobs (server folders) ---------------------------------------------------
START_RULES = {
    # (kind, origin): roles that may start it — the authorization matrix of job kinds × input origin × role
    ("ingest.import", "upload"): {"curator", "admin"},
    ("ingest.import", "path"): {"admin"},
    ("qc.import_masks", "upload"): {"curator", "admin"},
    ("qc.import_masks", "path"): {"admin"},
    ("qc.build_bank", "upload"): {"curator", "admin"},
    ("qc.build_bank", "path"): {"admin"},
    ("qc.build_bank", "none"): {"curator", "admin"},
    ("qc.run", "none"): {"curator", "admin"},
    ("nlp.mine_labels", "none"): {"curator", "admin"},
    ("demo.generate", "none"): {"admin"},
}
KIND_PARAMS = {
    "ingest.import": {"source": "dicom"},
    "qc.import_masks": {"format": "label_png"},
    "qc.build_bank": {},
    "qc.run": {},
    "nlp.mine_labels": {},
    "demo.generate": {"patients": 1, "image_size": 64},
}


@pytest.mark.parametrize("role", ["outsider", *ROLES])
@pytest.mark.parametrize(("kind", "origin"), sorted(START_RULES), ids=[f"{k}-{o}" for k, o in sorted(START_RULES)])
def test_who_may_start_each_job_kind_from_each_origin(members, project, api, settings, tmp_path, role, kind, origin):
    # Given an allowed server folder and an upload of this project
    monkey_root = tmp_path / "incoming"
    monkey_root.mkdir()
    settings.IMPORT_ALLOWED_ROOTS = [str(monkey_root)]
    upload = upload_services.save_upload(members["admin"], project, _zip({"a.dcm": b"x"}), "a.zip")
    params = dict(KIND_PARAMS[kind])
    if origin == "path":
        params["path"] = str(monkey_root)
    elif origin == "upload":
        params["upload"] = upload.pk
    elif kind == "qc.build_bank":
        params["from"] = "reviewed"
    # When a member starts that kind through the generic job API (nothing really runs)
    from unittest import mock

    with mock.patch("curation.dispatch.send"):
        response = api(members[role]).post("/api/projects/chest/jobs/", {"kind": kind, "params": params}, format="json")
    # Then exactly the declared roles may; outsiders do not learn the project exists
    expected = 404 if role == "outsider" else 201 if role in START_RULES[(kind, origin)] else 403
    assert response.status_code == expected, response.content
    # And the job-kinds list and the action objects say the same
    from curation import jobkinds

    if role != "outsider":
        allowed = jobkinds.get(kind).start_action(origin).allowed(members[role], project)
        assert allowed is (expected == 201)


def test_a_kind_refuses_an_origin_it_does_not_take(members, api, project):
    upload = upload_services.save_upload(members["admin"], project, _zip({"a.dcm": b"x"}), "a.zip")
    response = api(members["admin"]).post(
        "/api/projects/chest/jobs/", {"kind": "qc.run", "params": {"upload": upload.pk}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["params"] == ["Mask QC jobs take no input, not upload."]


def test_the_masks_page_shows_the_server_folder_field_to_admins_only(members, project):
    for role, shown in (("curator", False), ("admin", True)):
        client = Client()
        client.force_login(members[role])
        page = client.get("/p/chest/masks/").content.decode()
        assert ('id="m-path"' in page) is shown
        assert ('id="m-file"' in page) is True


# 5. The Django admin edits projects and memberships around the services ------------------------------
def test_the_operations_admin_cannot_change_projects_or_memberships(members, project):
    # Given a superuser in the operations admin
    ops = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(ops)
    membership = Membership.objects.get(project=project, user=members["admin"])
    # When they try to change, add or delete projects and memberships
    change = client.post(f"/ops/admin/curation/project/{project.pk}/change/", {"slug": "x", "name": "Hijacked"})
    delete = client.post(f"/ops/admin/curation/membership/{membership.pk}/delete/", {"post": "yes"})
    add = client.post("/ops/admin/curation/membership/add/", {"project": project.pk, "user": ops.pk, "role": "admin"})
    # Then nothing changes (they may still look)
    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    assert client.get(f"/ops/admin/curation/project/{project.pk}/change/").status_code == 200
    project.refresh_from_db()
    assert project.name == "Chest"
    assert Membership.objects.filter(project=project, role=Role.ADMIN).count() == 1
    assert not Membership.objects.filter(user=ops).exists()


# 8. CSV formula injection -----------------------------------------------------------------------------
def test_exports_carry_no_live_formula(members, api, project):
    # Given an image whose key came from a hostile manifest, with a mask
    import numpy as np

    from labeling.models import Mask
    from labeling.qc.rle import encode_chexmask_rle

    image = ImageFactory(study__patient__project=project, image_key='=HYPERLINK("http://evil","x")', rows=8, columns=8)
    grid = np.zeros((8, 8), dtype=bool)
    grid[2:5, 2:5] = True
    Mask.objects.create(
        project=project,
        image=image,
        organ="heart",
        version=1,
        source="imported",
        rle=encode_chexmask_rle(grid),
        height=8,
        width=8,
    )
    client = api(members["curator"])
    # When the masks are exported as CheXmask CSV and COCO
    csv_text = b"".join(client.get("/api/projects/chest/masks/export/chexmask.csv").streaming_content).decode()
    coco = client.get("/api/projects/chest/masks/export/coco.json").json()
    # Then no cell starts with a formula trigger, and the COCO file name is a plain file name
    row = csv_text.splitlines()[1]
    assert row.startswith("\"'=HYPERLINK(")
    assert coco["images"][0]["file_name"] == "HYPERLINK_http_evil_x"


# 9. PHI in job errors and logs ------------------------------------------------------------------------
def test_job_errors_name_files_without_the_identifiers_in_their_folders(
    members, api, settings, tmp_path, inline_jobs, caplog, django_capture_on_commit_callbacks
):
    # Given a hospital folder named after a patient, holding a file that is not DICOM
    root = tmp_path / "incoming"
    folder = root / "DOE^JANE_88619809_DOB19460629"
    folder.mkdir(parents=True)
    (folder / "img1.dcm").write_bytes(b"not dicom" * 20)
    settings.IMPORT_ALLOWED_ROOTS = [str(root)]
    # When the admin imports the folder
    with django_capture_on_commit_callbacks(execute=True):
        response = api(members["admin"]).post(
            "/api/projects/chest/imports/", {"source": "dicom", "path": str(root)}, format="json"
        )
    job = Job.objects.get(pk=response.json()["id"])
    # Then the error names the file, not the patient, to every member, and nothing of it is logged
    assert job.errors[0]["item"] == "[redacted]/img1.dcm"
    for role in ROLES:
        seen = json.dumps(api(members[role]).get(f"/api/projects/chest/jobs/{job.pk}/").json())
        for value in ("DOE", "JANE", "88619809", "19460629"):
            assert value not in seen
    for value in ("JANE", "88619809", "19460629"):
        assert value not in caplog.text


# 10. Unbounded params ---------------------------------------------------------------------------------
def test_an_oversized_mapping_is_refused_before_it_is_stored(members, api):
    # Given an 8.6 MB mapping
    mapping = {"patient_key": "pid", "study_key": "acc", "path": "file", "extra": ["c" * 100] * 86_000}
    response = api(members["admin"]).post(
        "/api/projects/chest/jobs/",
        {"kind": "ingest.import", "params": {"source": "csv", "mapping": mapping}},
        format="json",
    )
    # Then it is a 400 and neither a job row nor an audit event holds it
    assert response.status_code == 400
    assert "Job parameters are limited to 16,384 bytes" in response.json()["params"][0]
    assert Job.objects.count() == 0
    assert AuditEvent.objects.filter(action="job.started").count() == 0


def test_other_projects_members_see_nothing_of_this_one(members, other, api):
    # Given the other hospital's admin
    _, other_users = other
    client = api(other_users["admin"])
    # Then this project's jobs, uploads and studies are 404 to them
    assert client.get("/api/projects/chest/jobs/").status_code == 404
    assert client.post("/api/projects/chest/imports/", {"source": "dicom"}, format="json").status_code == 404
    assert Project.objects.count() == 3  # chest, the outsider's, other
