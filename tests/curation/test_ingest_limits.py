"""Bad input through the real import and render jobs: oversized DICOM headers are per-file errors, a
render failure fails only its image, control characters never reach the database, and the counters
count only what was committed."""

import csv
import io

import pytest
from PIL import Image as PILImage

from curation import dispatch
from curation.models import Image, Job, Patient, PseudonymMap, RenderStatus, Report, Study
from curation.services import ingest, ingest_writer
from curation.services.jobs import start_job
from tests.bad_inputs import claim_size, small_dicom

HUGE = "image is 30000x30000 (900 megapixels), over the limit of 100 megapixels"


@pytest.fixture
def dicom_folder(tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    small_dicom(folder, "a.dcm", "2.25.10")
    small_dicom(folder, "c.dcm", "2.25.12")
    claim_size(small_dicom(tmp_path, "b-source.dcm", "2.25.11"), folder / "b.dcm", 30000, 30000)
    return folder


def test_dicom_import_refuses_a_30000_squared_header_and_imports_the_rest(db, dicom_folder):
    # When a folder with one file claiming 30000x30000 is imported
    summary = ingest.import_from_cli("chest", "dicom", str(dicom_folder))
    # Then that file is a per-file error, never stored, and the two others are imported and rendered
    assert (summary["status"], summary["imported"], summary["rendered"]) == ("succeeded", 2, 2)
    assert summary["errors"] == [{"file": "b.dcm", "reason": HUGE}]
    assert Image.objects.count() == 2
    assert set(Image.objects.values_list("render_status", flat=True)) == {RenderStatus.DONE}


def test_render_job_marks_an_oversized_image_failed_and_renders_the_next(db, dicom_folder, settings, tmp_path):
    # Given images imported before the limit existed: the 30000² one is stored and pending, between two others
    settings.IMAGE_MAX_PIXELS = 10**12
    project_summary = ingest.import_from_cli("chest", "dicom", str(dicom_folder))
    assert project_summary["imported"] == 3
    Image.objects.update(render_status=RenderStatus.PENDING, display="")
    huge = Image.objects.get(rows=30000)
    # When the render job runs with the limit in place
    settings.IMAGE_MAX_PIXELS = 100_000_000
    with dispatch.run_in_process():
        job = start_job(None, huge.project, "ingest.render", {})
    job.refresh_from_db()
    # Then the job succeeds, the oversized image is failed with the reason, and the others are rendered
    assert (job.status, job.counters) == ("succeeded", {"rendered": 2, "failed": 1})
    huge.refresh_from_db()
    assert (huge.render_status, huge.render_error) == (RenderStatus.FAILED, HUGE)
    assert Image.objects.filter(render_status=RenderStatus.DONE).count() == 2


NIH_HEADER = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
]


def _nih(root, n, nul_rows=()):
    images = root / "images_001" / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(n):
        name = f"{i + 1:08d}_000.png"
        labels = "Effusion\x00|Mass" if i in nul_rows else "Effusion"
        view = "P\x00A" if i in nul_rows else "PA"
        rows.append([name, labels, 0, i + 1, 40, "F", view, 16, 16, 0.1, 0.1])
        PILImage.new("L", (16, 16), 80).save(images / name)
    buf = io.StringIO()
    csv.writer(buf).writerows([NIH_HEADER, *rows])
    (root / "Data_Entry_2017.csv").write_text(buf.getvalue())


@pytest.mark.django_db(transaction=True)  # outside a test transaction, so PostgreSQL uses the pipelined writer
def test_nul_bytes_in_a_manifest_are_stripped_and_every_row_is_imported(tmp_path):
    # Given an NIH manifest of 12 rows, 3 of them with NUL bytes in labels and view
    root = tmp_path / "nih"
    _nih(root, 12, nul_rows=(0, 5, 11))
    # When it is imported (on PostgreSQL: through COPY, where one NUL used to fail the whole file)
    summary = ingest.import_from_cli("nul", "nih", str(root))
    # Then every row is imported, the counters match the rows, and no stored value holds a NUL
    assert (summary["status"], summary["imported"], summary["errors"]) == ("succeeded", 12, [])
    assert Image.objects.count() == 12
    labels = Report.objects.get(study__study_key="00000001_000").source_labels
    assert (labels["Effusion"], labels["Mass"]) == (1, 1)
    assert set(Image.objects.values_list("view_position", flat=True)) == {"PA"}
    assert not any("\x00" in str(v) for r in Report.objects.values_list("source_labels", flat=True) for v in r)


@pytest.mark.django_db(transaction=True)
def test_control_characters_in_a_hospital_csv_never_reach_keys_pseudonyms_or_reports(tmp_path):
    # Given a hospital CSV (pseudonymised on import) whose patient id, accession and report carry control bytes
    root = tmp_path / "csv"
    root.mkdir()
    PILImage.new("L", (16, 16), 80).save(root / "a.png")
    PILImage.new("L", (16, 16), 80).save(root / "b.png")
    rows = [
        ["MRN\x00001", "A\x011", "a.png", "Small\x00 effusion.\tStable.\r\nNo change."],
        ["MRN002", "A2", "b.png", "Clear\x1b lungs."],
    ]
    buf = io.StringIO()
    csv.writer(buf).writerows([["pid", "acc", "file", "report"], *rows])
    (root / "manifest.csv").write_text(buf.getvalue(), newline="")
    mapping = {"patient_key": "pid", "study_key": "acc", "image_key": "file", "path": "file", "report_text": "report"}
    # When it is imported
    summary = ingest.import_from_cli("hospital", "csv", str(root), mapping)
    # Then both rows are in, reports keep tab and line breaks but lose the control bytes
    assert (summary["status"], summary["imported"]) == ("succeeded", 2)
    texts = sorted(Report.objects.values_list("text", flat=True))
    assert texts == ["Clear lungs.", "Small effusion.\tStable.\r\nNo change."]
    # And the pseudonym map holds the originals without them
    originals = set(PseudonymMap.objects.filter(kind="patient").values_list("original", flat=True))
    assert originals == {"MRN001", "MRN002"}
    assert Patient.objects.count() == 2


def test_ingest_items_are_stripped_at_the_writer(db, project):
    # Given items as a DICOM import would hand them over, with control characters in keys and report
    items = [
        ingest_writer.IngestItem(
            patient_key="P\x001",
            study_key="S\x7f1",
            image_key="I\x0c1",
            report_text="Line one.\nLine\x00 two.",
            source_labels={"Eff\x00usion": 1},
        )
    ]
    # When they are written
    outcome = ingest_writer.write_batch(project, "dicom", items)
    # Then the rows hold clean text
    assert outcome.imported == 1
    assert list(Image.objects.values_list("image_key", "study__study_key", "study__patient__pseudo_id")) == [
        ("I1", "S1", "P1")
    ]
    report = Report.objects.get()
    assert (report.text, report.source_labels) == ("Line one.\nLine two.", {"Effusion": 1})


@pytest.mark.django_db(transaction=True)
def test_a_failed_batch_fails_the_job_and_is_not_counted(tmp_path, monkeypatch):
    # Given a 12-row manifest imported 5 rows per batch, whose second batch fails in the database
    root = tmp_path / "nih"
    _nih(root, 12)
    monkeypatch.setattr(ingest, "MANIFEST_BATCH", 5)
    image_writes = []
    real_run_copy, real_insert_rows = ingest_writer.run_copy, ingest_writer.insert_rows

    def failing(is_image, call, *args, **kwargs):
        if is_image:
            image_writes.append(1)
            if len(image_writes) == 2:
                raise RuntimeError("disk full")
        return call(*args, **kwargs)

    monkeypatch.setattr(
        ingest_writer,
        "run_copy",
        lambda statement, payload: failing("curation_image" in statement, real_run_copy, statement, payload),
    )
    monkeypatch.setattr(
        ingest_writer,
        "insert_rows",
        lambda model, rows, **kw: failing(model is Image, real_insert_rows, model, rows, **kw),
    )
    # When it is imported
    summary = ingest.import_from_cli("failing", "nih", str(root))
    # Then the job failed, and its counters say exactly what was committed: the first batch only
    job = Job.objects.get(pk=summary["job"])
    assert job.status == "failed" and "disk full" in job.message
    assert Image.objects.count() == 5
    assert job.counters.get("imported", 0) == 5
    assert (summary["imported"], Study.objects.count()) == (5, 5)


def test_settings_limits_have_sane_defaults():
    from django.conf import settings

    assert (settings.IMAGE_MAX_PIXELS, settings.MASK_MAX_PIXELS) == (100_000_000, 50_000_000)
