"""A worker killed in the middle of an import: the job, re-run, ends with no duplicate and no missing study."""

import time

import pydicom
import pytest

from curation.demo import generate_dataset
from curation.models import Image, Job, JobStatus, Study

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _many_dicom_files(root, copies=6):
    """A generated dataset, each file copied with fresh UIDs, so the import takes long enough to be killed."""
    generate_dataset(root, n_patients=10, seed=21, image_size=128)
    originals = sorted((root / "dicom").rglob("*.dcm"))
    for n in range(1, copies):
        study_uids = {}
        for path in originals:
            ds = pydicom.dcmread(path)
            study_uids.setdefault(ds.StudyInstanceUID, pydicom.uid.generate_uid())
            ds.StudyInstanceUID = study_uids[ds.StudyInstanceUID]
            ds.SeriesInstanceUID = pydicom.uid.generate_uid()
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.AccessionNumber = f"{ds.AccessionNumber}{n}"
            out = path.parent.parent / f"{path.parent.name}_copy{n}"
            out.mkdir(exist_ok=True)
            ds.save_as(out / path.name)
    return len(list((root / "dicom").rglob("*.dcm")))


def test_killed_worker_then_rerun_ends_complete_without_duplicates(
    celery_worker_process, project, members, api, settings, tmp_path
):
    # Given a large enough DICOM folder and a worker that commits 5 files per transaction
    source = tmp_path / "incoming"
    total = _many_dicom_files(source)
    expected_studies = len(
        {pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID for p in (source / "dicom").rglob("*.dcm")}
    )
    settings.IMPORT_ALLOWED_ROOTS = [str(source)]
    celery_worker_process.stop()
    celery_worker_process.env["IMPORT_DICOM_BATCH"] = "5"
    celery_worker_process.start()
    client = api(members["admin"])
    job_id = client.post(
        "/api/projects/chest/imports/", {"source": "dicom", "path": str(source)}, format="json"
    ).json()["id"]

    # When the worker is SIGKILLed once the import is under way
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status == JobStatus.RUNNING and 10 <= job.progress_done:
            break
        time.sleep(0.01)
    celery_worker_process.kill()
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.progress_done < total, "the import finished before the kill"
    partial = Image.objects.count()
    assert 0 < partial < total
    # Then every committed study is whole: its image count matches its images (batches are atomic)
    for study in Study.objects.all():
        assert study.image_count == study.images.count()

    # When a new worker starts and the admin re-runs the stalled job
    settings.JOB_STALE_SECONDS = 0
    celery_worker_process.start()
    response = client.post(f"/api/projects/chest/jobs/{job_id}/rerun/")
    assert response.status_code == 201, response.content
    rerun_id = response.json()["id"]
    while time.monotonic() < deadline + 120:
        rerun = Job.objects.get(pk=rerun_id)
        if rerun.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            break
        time.sleep(0.1)

    # Then the re-run succeeds, nothing is missing and nothing is there twice
    assert rerun.status == JobStatus.SUCCEEDED, rerun.message
    assert rerun.counters["duplicates"] == partial, rerun.counters
    assert rerun.counters["imported"] == total - partial, (rerun.counters, total, partial)
    assert Image.objects.count() == total
    assert Image.objects.values("content_sha256").distinct().count() == total
    assert Study.objects.count() == expected_studies
    for study in Study.objects.all():
        assert study.image_count == study.images.count()
    old = Job.objects.get(pk=job_id)
    assert old.status == JobStatus.FAILED and f"job #{rerun_id}" in old.message
