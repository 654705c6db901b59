"""Exports of a dataset version: each format's exact layout, CSV cells no spreadsheet executes, the data card
beside the format's folder, the CLI's contract, and the export job with its expiring download link."""

import csv
import io
import json
import zipfile

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion, Job, JobStatus
from curation.services import jobs
from curation.services.datasets import freeze_version
from tests.curation.dataset_helpers import mask_rows, review, small_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(project):
    _run, studies = small_project(project, patients=6)
    review(project, studies[0], {"Atelectasis": "positive"})
    for study in studies[:2]:
        mask_rows(study.images.first())
    return freeze_version(None, project, "v1")


def _export(version, fmt, out, images=None):
    args = ["export_version", "--version", str(version.pk), "--format", fmt, "--output", str(out)]
    call_command(*args, *(["--images", images] if images else []))


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_nih_layout(version, tmp_path):
    _export(version, "nih", tmp_path)
    folder = tmp_path / "nih"
    rows = _rows(folder / "Data_Entry_2017.csv")
    assert list(rows[0]) == [
        "Image Index",
        "Finding Labels",
        "Follow-up #",
        "Patient ID",
        "Patient Age",
        "Patient Gender",
        "View Position",
    ]
    # Only frontal images: 9 PA + 3 AP (the 3 lateral images are left out)
    assert len(rows) == 12 and {r["View Position"] for r in rows} == {"PA", "AP"}
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(r["Image Index"] for r in rows)
    assert all("/" not in r["Image Index"] for r in rows)
    first = next(r for r in rows if r["Image Index"] == "00000001_000.png")
    assert first["Finding Labels"] == "Atelectasis|Effusion"
    listed = (folder / "train_val_list.txt").read_text().split() + (folder / "test_list.txt").read_text().split()
    assert sorted(listed) == sorted(r["Image Index"] for r in rows)
    # The folder holds only NIH's files; the data card sits beside it
    assert sorted(p.name for p in folder.iterdir()) == [
        "Data_Entry_2017.csv",
        "images",
        "test_list.txt",
        "train_val_list.txt",
    ]
    card = json.loads((tmp_path / "datacard.json").read_text())
    assert sum(card["counts"]["rows"].values()) == version.row_count
    assert card["counts"]["export"]["left_out_not_frontal"] == 3
    assert (tmp_path / "datacard.html").read_text().count("<img ") == len(list((tmp_path / "datacard_plots").iterdir()))


def test_chexpert_layout(version, tmp_path):
    _export(version, "chexpert", tmp_path)
    folder = tmp_path / "chexpert"
    rows = {name: _rows(folder / name) for name in ("train.csv", "valid.csv", "test.csv")}
    everything = [r for part in rows.values() for r in part]
    assert len(everything) == version.row_count == 15
    assert list(everything[0])[:6] == ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding"]
    assert len(everything[0]) == 19
    for name, part in rows.items():
        split = name.removesuffix(".csv")
        for row in part:
            assert row["Path"].startswith(f"{split}/patient")
            assert (folder / row["Path"]).is_file()
    lateral = [r for r in everything if r["Frontal/Lateral"] == "Lateral"]
    assert len(lateral) == 3 and all(r["Path"].endswith("_lateral.png") and r["AP/PA"] == "" for r in lateral)
    first = next(r for r in everything if "/patient00001/study1/view1_frontal.png" in r["Path"])
    assert (first["Atelectasis"], first["Pleural Effusion"], first["Cardiomegaly"], first["Edema"]) == (
        "1.0",
        "1.0",
        "0.0",
        "",
    )


def test_jsonl_has_one_object_per_row_with_label_sources(version, tmp_path):
    _export(version, "jsonl", tmp_path, images="png16")
    lines = (tmp_path / "jsonl" / "dataset.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == version.row_count
    first = records[0]
    assert first["labels"]["Atelectasis"] == {"status": "positive", "source": "single_review"}
    assert set(first) >= {"image", "study", "patient", "split", "labels", "file"}
    from PIL import Image as PILImage

    with PILImage.open(tmp_path / "jsonl" / first["file"]) as picture:
        assert picture.mode.startswith("I;16") or picture.mode == "I"


def _decode_chexmask(rle: str, height: int, width: int) -> np.ndarray:
    """An RLE decoder written from CheXmask's description (1-based start, length; row-major), not ours."""
    flat = np.zeros(height * width, dtype=np.uint8)
    numbers = [int(x) for x in rle.split()]
    for start, length in zip(numbers[0::2], numbers[1::2], strict=True):
        flat[start - 1 : start - 1 + length] = 1
    return flat.reshape(height, width)


def test_chexmask_csv_decodes_to_the_stored_masks(version, tmp_path, project):
    from labeling.models import Mask
    from labeling.qc.rle import decode_chexmask_rle

    _export(version, "chexmask", tmp_path)
    rows = _rows(tmp_path / "chexmask" / "chexmask.csv")
    assert len(rows) == 2
    for row in rows:
        mask = Mask.objects.get(image__image_key=row["ImageID"], organ="heart")
        decoded = _decode_chexmask(row["Heart"], int(row["Height"]), int(row["Width"]))
        assert (decoded == decode_chexmask_rle(mask.rle, mask.height, mask.width)).all()
        assert decoded.sum() > 0


def test_dicom_seg_refuses_png_images(version, tmp_path):
    with pytest.raises(CommandError, match="--images dicom"):
        _export(version, "dicom-seg", tmp_path, images="png8")


def test_nih_refuses_16_bit_images(version, tmp_path):
    with pytest.raises(CommandError, match="8-bit"):
        _export(version, "nih", tmp_path, images="png16")


def test_no_exported_csv_cell_is_a_live_formula(project, tmp_path):
    from tests.curation.dataset_helpers import rendered_image
    from tests.factories import PatientFactory, StudyFactory

    patient = PatientFactory(project=project, pseudo_id="=HYPERLINK(1)")
    study = StudyFactory(patient=patient, study_key="+cmd|' /C calc'!A0")
    rendered_image(study, key="@SUM(1+1)")
    mask_rows(study.images.first())
    version = freeze_version(None, project, "hostile")
    for fmt in ("nih", "chexpert", "chexmask"):
        _export(version, fmt, tmp_path / fmt, images="none")
    for path in tmp_path.rglob("*.csv"):
        for row in csv.reader(path.open(encoding="utf-8")):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), (path, row)


def test_export_job_streams_a_zip_and_the_link_expires(
    version, project, members, api, settings, django_capture_on_commit_callbacks
):
    settings.JOBS_IN_PROCESS_THREAD = False
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(members["curator"], project, "export.version", {"version": version.pk, "format": "nih"})
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert (job.progress_done, job.progress_total) == (version.row_count, version.row_count)
    client = api(members["curator"])
    link = client.get(f"/api/projects/chest/exports/{job.pk}/link/").json()
    response = client.get(f"/api/projects/chest/exports/{job.pk}/download/?token={link['token']}")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    assert "nih/Data_Entry_2017.csv" in names and "datacard.json" in names and "datacard.html" in names
    assert sum(n.startswith("nih/images/") for n in names) == 12
    # Someone else's link is refused, and so is an expired one
    admin = api(members["admin"])
    assert admin.get(f"/api/projects/chest/exports/{job.pk}/download/?token={link['token']}").status_code == 403
    settings.EXPORT_LINK_SECONDS = -1
    assert client.get(f"/api/projects/chest/exports/{job.pk}/download/?token={link['token']}").status_code == 403


def test_export_job_refuses_a_format_it_cannot_make(version, project, members):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown format"):
        jobs.start_job(members["curator"], project, "export.version", {"version": version.pk, "format": "nifti"})
    with pytest.raises(ValidationError, match="--images dicom"):
        jobs.start_job(
            members["curator"],
            project,
            "export.version",
            {"version": version.pk, "format": "dicom-seg", "images": "png16"},
        )
    assert not Job.objects.filter(kind="export.version").exists()


def test_versions_api_lists_freezes_and_compares(version, project, members, api):
    curator = api(members["curator"])
    created = curator.post("/api/projects/chest/datasets/versions/", {"name": "v2"}, format="json")
    assert created.status_code == 201
    other = created.json()["id"]
    listed = api(members["viewer"]).get("/api/projects/chest/datasets/versions/").json()
    assert [v["name"] for v in listed] == ["v2", "v1"]
    diff = api(members["viewer"]).get(f"/api/projects/chest/datasets/versions/{version.pk}/compare/{other}/").json()
    assert diff["rows"]["unchanged"] == version.row_count
    assert DatasetVersion.objects.get(pk=other).content_hash == version.content_hash
