"""DICOM import: de-identification end to end, re-runs add nothing, bad files are per-item errors."""

import io
import json
import re
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage

from curation.demo import generate_dataset
from curation.models import Image, Job, JobStatus, Patient, PseudonymMap, RenderStatus, Report, Study
from curation.services import ingest


@pytest.fixture
def import_from_cli():
    """The CLI's import service (it runs the import and render jobs in-process before returning)."""
    return ingest.import_from_cli


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_dataset(out, n_patients=3, seed=11, image_size=64)
    return out


@pytest.fixture
def truth(dataset_dir):
    return json.loads((dataset_dir / "truth.json").read_text())


def _phi_values(truth) -> set[str]:
    """Every PHI string the generator put into files and reports (names, ids, dates, addresses...)."""
    values = set()
    for patient in truth["patients"].values():
        for key, value in patient.items():
            if key == "patient_sex":
                continue
            values.add(value)
            if key.endswith("_name"):
                values.update(part for part in value.split("^") if len(part) >= 4 and part != "DR")
    for study in truth["studies"].values():
        values.add(study["accession_number"])
        # Dates in report text are shifted, not removed; a shifted date can equal some other original
        # date by chance, so they are left to the scrubber's own tests.
        values.update(
            v
            for v in study["report"]["phi"]
            if len(v) >= 4 and not re.fullmatch(r"\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2}", v)
        )
    # Study dates are checked per file below: a shifted date of one study may by chance equal another
    # study's original date, so a byte search over all files would fail without any leak.
    return {v for v in values if v}


def _all_stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _dicom_count(dataset_dir: Path) -> int:
    return len(list((dataset_dir / "dicom").rglob("*.dcm")))


def test_dicom_import_registers_everything_and_leaves_no_phi_anywhere(
    db, dataset_dir, truth, settings, import_from_cli
):
    # Given a generated folder of DICOM files full of fake PHI, with a reports.csv
    phi = _phi_values(truth)
    assert len(phi) > 10
    # When it is imported with the CLI's service
    summary = import_from_cli("chest", "dicom", str(dataset_dir))
    # Then every file is imported and rendered
    n = _dicom_count(dataset_dir)
    assert (summary["status"], summary["imported"], summary["duplicates"], summary["error_count"]) == (
        "succeeded",
        n,
        0,
        0,
    )
    assert summary["rendered"] == n
    assert Image.objects.filter(render_status=RenderStatus.DONE).count() == n
    assert Study.objects.count() == len(truth["studies"])
    assert Patient.objects.count() == len(truth["patients"])
    assert Report.objects.exclude(text="").count() == len(truth["studies"])
    # And no stored or rendered file contains any PHI value (bytes searched, DICOM elements walked)
    media = Path(settings.MEDIA_ROOT)
    files = _all_stored_files(media)
    uid_originals = dict(PseudonymMap.objects.filter(kind="uid").values_list("pseudonym", "original"))
    assert len(files) >= 4 * n
    for path in files:
        blob = path.read_bytes()
        for value in phi:
            assert value.encode() not in blob, f"{value!r} found in {path.name}"
        if path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert ds.PatientIdentityRemoved == "YES"
            original_uid = uid_originals[ds.StudyInstanceUID]
            original_date = truth["studies"][original_uid]["study_date"].replace("-", "")
            for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
                assert ds.get(keyword, "") != original_date, (keyword, path.name)
            text = str(ds) + str(ds.file_meta)
            for value in phi:
                assert value not in text
    # And no database row shows PHI outside the admin-only pseudonym map
    rows = (
        [str(v) for v in Study.objects.values_list("study_key", "accession")]
        + [t for t in Report.objects.values_list("text", flat=True)]
        + list(Patient.objects.values_list("pseudo_id", flat=True))
    )
    for value in phi:
        assert not any(value in row for row in rows), value
    assert PseudonymMap.objects.filter(kind="patient").count() == len(truth["patients"])
    # And each report's own dates were shifted out of its text
    to_pseudonym = {original: pseudonym for pseudonym, original in uid_originals.items()}
    for original_uid, study in truth["studies"].items():
        text = Report.objects.get(study__study_key=to_pseudonym[original_uid]).text
        for value in study["report"]["phi"]:
            assert value not in text, (value, original_uid)


def test_reimport_adds_nothing_twice(db, dataset_dir, import_from_cli):
    first = import_from_cli("chest", "dicom", str(dataset_dir))
    counts = (Patient.objects.count(), Study.objects.count(), Image.objects.count(), Report.objects.count())
    second = import_from_cli("chest", "dicom", str(dataset_dir))
    assert second["imported"] == 0
    assert second["duplicates"] == first["imported"]
    assert (Patient.objects.count(), Study.objects.count(), Image.objects.count(), Report.objects.count()) == counts


def test_dates_are_shifted_by_one_offset_per_patient_and_ages_kept(db, dataset_dir, truth, import_from_cli):
    import datetime as dt

    import_from_cli("chest", "dicom", str(dataset_dir))
    by_original = {row.original: row for row in PseudonymMap.objects.filter(kind="patient")}
    for patient in truth["patients"].values():
        mapping = by_original[patient["patient_id"]]
        assert mapping.date_offset_days != 0
        originals = sorted(
            dt.date.fromisoformat(s["study_date"])
            for s in truth["studies"].values()
            if truth["patients"][s["patient_key"]]["patient_id"] == patient["patient_id"]
        )
        stored = list(
            Study.objects.filter(patient__pseudo_id=mapping.pseudonym)
            .order_by("study_date")
            .values_list("study_date", flat=True)
        )
        assert stored == [d + dt.timedelta(days=mapping.date_offset_days) for d in originals]
    assert not Study.objects.filter(age_years__isnull=True).exists()


def test_bad_files_are_per_item_errors_and_the_rest_is_imported(db, dataset_dir, tmp_path, settings, import_from_cli):
    # Given a folder with good files and every kind of bad one
    src = tmp_path / "mixed"
    good = sorted((dataset_dir / "dicom").rglob("*.dcm"))[:3]
    src.mkdir()
    for i, path in enumerate(good):
        (src / f"good{i}.dcm").write_bytes(path.read_bytes())
    (src / "notes.dcm").write_bytes(b"this is not dicom at all" * 20)
    data = good[0].read_bytes()
    (src / "truncated.dcm").write_bytes(data[: len(data) // 3])
    ds = pydicom.dcmread(good[1])
    del ds.PixelData
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(src / "nopixels.dcm")
    settings.IMPORT_MAX_FILE_BYTES = len(data) * 4
    (src / "huge.dcm").write_bytes(b"\0" * (len(data) * 5))
    # When it is imported
    summary = import_from_cli("chest", "dicom", str(src))
    # Then the good ones are in and each bad one has its reason
    assert summary["status"] == "succeeded"
    assert summary["imported"] == 3, (summary["errors"], summary["render_errors"])
    reasons = {e["file"]: e["reason"] for e in summary["errors"]}
    assert set(reasons) == {"notes.dcm", "truncated.dcm", "nopixels.dcm", "huge.dcm"}
    assert "not a DICOM file" in reasons["notes.dcm"]
    assert "truncated" in reasons["truncated.dcm"]
    assert reasons["nopixels.dcm"] == "no pixel data"
    assert "over the" in reasons["huge.dcm"]


def _zip(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_zip_upload_through_the_api_refuses_attacks_per_member(
    members, api, dataset_dir, django_capture_on_commit_callbacks, settings
):
    # Given a zip with two good DICOMs and traversal, absolute-path and symlink members
    settings.JOBS_IN_PROCESS_THREAD = False
    good = sorted((dataset_dir / "dicom").rglob("*.dcm"))[:2]
    payload = _zip(
        {
            "a/one.dcm": good[0].read_bytes(),
            "a/two.dcm": good[1].read_bytes(),
            "../evil.dcm": b"x",
            "/etc/cron.d/x": b"x",
        },
        links=("a/link.dcm",),
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("batch.zip", payload, content_type="application/zip")
    # When a curator uploads it
    with django_capture_on_commit_callbacks(execute=True):
        response = api(members["curator"]).post(
            "/api/projects/chest/imports/", {"source": "dicom", "file": upload}, format="multipart"
        )
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    # Then the good files are imported and each attack is a per-item error
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.counters["imported"] == 2
    items = {e["item"] for e in job.errors}
    assert {"../evil.dcm", "/etc/cron.d/x", "a/link.dcm"} <= items
    # And nothing was written outside storage
    assert not (Path(settings.MEDIA_ROOT).parent / "evil.dcm").exists()


def test_server_folder_imports_are_for_admins_under_allowed_roots(members, api, dataset_dir, settings):
    settings.IMPORT_ALLOWED_ROOTS = [str(dataset_dir)]
    curator = api(members["curator"]).post(
        "/api/projects/chest/imports/", {"source": "dicom", "path": str(dataset_dir)}, format="json"
    )
    assert curator.status_code == 403
    outside = api(members["admin"]).post(
        "/api/projects/chest/imports/", {"source": "dicom", "path": "/etc"}, format="json"
    )
    assert outside.status_code == 400
    assert "not under an allowed import root" in outside.json()["path"][0]


def test_non_zip_upload_is_a_clear_400(members, api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("scan.dcm", b"DICM", content_type="application/dicom")
    response = api(members["admin"]).post(
        "/api/projects/chest/imports/", {"source": "dicom", "file": upload}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {"file": ["Upload a .zip archive."]}


def test_stored_renderings_are_served_to_members_only(members, api, dataset_dir, project, import_from_cli):
    import_from_cli("chest", "dicom", str(dataset_dir))
    image = Image.objects.filter(render_status=RenderStatus.DONE).first()
    url = f"/api/projects/chest/images/{image.pk}/thumbnail/"
    ok = api(members["viewer"]).get(url)
    assert ok.status_code == 200 and ok["Content-Type"] == "image/png"
    assert b"".join(ok.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    assert api(members["outsider"]).get(url).status_code == 404
    assert default_storage.exists(image.display16)


def test_16bit_rendering_is_packed_for_the_browser_and_matches_the_window(db, dataset_dir, import_from_cli):
    import numpy as np
    from PIL import Image as PILImage

    import_from_cli("chest", "dicom", str(dataset_dir))
    image = Image.objects.filter(render_status=RenderStatus.DONE).first()
    with default_storage.open(image.display16, "rb") as fh:
        packed = np.asarray(PILImage.open(fh).convert("RGB")).astype(np.uint16)
    values = (packed[..., 0] << 8) | packed[..., 1]
    meta = image.display_meta
    assert meta["packing"] == "rg16"
    # The default window sits inside the stored value range, so the viewer starts from a sensible image
    assert values.min() <= meta["window_center"] <= values.max()
    assert meta["window_width"] > 0
    with default_storage.open(image.display, "rb") as fh:
        display = np.asarray(PILImage.open(fh))
    assert display.dtype == np.uint8 and display.shape == values.shape
