"""Masks in a project: import (label PNGs keyed by the original SOPInstanceUID, CheXmask CSV), the
reference bank, the QC job, and the worst-first list; re-imports add nothing."""

import json
import shutil

import pytest
from django.db.models import Max

from curation.demo import generate_dataset
from curation.services import ingest
from curation.services.jobs import start_job
from labeling.models import Mask, QcResult, ReferenceBankFile


@pytest.fixture
def run_job(settings, django_capture_on_commit_callbacks):
    settings.JOBS_IN_PROCESS_THREAD = False

    def run(user, project, kind, params):
        with django_capture_on_commit_callbacks(execute=True):
            job = start_job(user, project, kind, params)
        job.refresh_from_db()
        return job

    return run


@pytest.fixture
def demo(tmp_path, settings):
    """An imported synthetic dataset whose delivered masks are partly wrong, and trusted references."""
    source = tmp_path / "incoming" / "data"
    generate_dataset(source, n_patients=6, seed=9, image_size=128)
    references = tmp_path / "incoming" / "references"
    generate_dataset(tmp_path / "refsrc", n_patients=12, seed=99, image_size=128)
    shutil.copytree(tmp_path / "refsrc" / "truth_masks", references)
    settings.IMPORT_ALLOWED_ROOTS = [str(tmp_path / "incoming")]
    ingest.import_from_cli("chest", "dicom", str(source))
    return source, references


def test_import_bank_qc_ranks_corrupted_masks_worst(members, project, run_job, demo, api):
    source, references = demo
    admin = members["admin"]
    # Given trusted reference masks, the project's bank is built
    bank_job = run_job(admin, project, "qc.build_bank", {"path": str(references)})
    assert bank_job.status == "succeeded", bank_job.message
    assert ReferenceBankFile.objects.get(project=project, active=True).references >= 12
    # When the delivered masks are imported (PNG files named by the hospital's SOPInstanceUID)
    masks_job = run_job(
        admin,
        project,
        "qc.import_masks",
        {"format": "label_png", "match": "original_uid", "path": str(source / "masks")},
    )
    assert masks_job.status == "succeeded", masks_job.message
    truth = json.loads((source / "truth.json").read_text())["studies"]
    # truth.json: study -> images (with the original SOPInstanceUID) -> the mask delivered for it
    delivered = {
        image["sop_instance_uid"]: image["mask"]
        for study in truth.values()
        for image in study["images"]
        if image.get("mask")
    }
    assert masks_job.counters["imported"] == len(delivered)
    from labeling.qc.io import read_label_png

    organs = sum(sum(1 for m in read_label_png(path).values() if m.any()) for path in (source / "masks").glob("*.png"))
    assert Mask.objects.filter(project=project).count() == organs
    # And QC runs
    qc_job = run_job(admin, project, "qc.run", {})
    assert qc_job.status == "succeeded", qc_job.message
    results = list(QcResult.objects.filter(project=project).select_related("image"))
    assert len(results) == len(delivered)
    # Then corrupted masks score lower than correct ones and none of them is accepted blindly
    from curation.models import PseudonymMap

    to_original = dict(PseudonymMap.objects.filter(project=project, kind="uid").values_list("pseudonym", "original"))
    corrupted = [r for r in results if delivered[to_original[r.image.image_key]]["corrupted"]]
    clean = [r for r in results if not delivered[to_original[r.image.image_key]]["corrupted"]]
    assert corrupted and clean
    assert max(r.estimated_dice for r in corrupted) < max(r.estimated_dice for r in clean)
    assert sum(r.decision != "accept" for r in corrupted) >= len(corrupted) - 1
    assert all(r.flags == [] or all("reason" in f for f in r.flags) for r in results)
    # And the job's counts are the results it wrote, also when a retried chunk reports only its last attempt
    from collections import Counter
    from types import SimpleNamespace

    from labeling.services import finish_qc

    written = Counter(r.decision for r in results)
    assert {k: qc_job.result[k] for k in ("accept", "review", "reject")} == {
        k: written.get(k, 0) for k in ("accept", "review", "reject")
    }
    retried = finish_qc(SimpleNamespace(job=qc_job), {"bank": 1}, [{"accept": 0, "review": 0, "reject": 0}])
    assert sum(retried[k] for k in ("accept", "review", "reject")) == len(results)
    # And the API lists them worst first
    body = api(members["radiologist"]).get("/api/projects/chest/qc-results/").json()
    estimates = [r["estimated_dice"] for r in body["results"]]
    assert estimates == sorted(estimates)
    # And importing the same masks again adds no version
    again = run_job(
        admin,
        project,
        "qc.import_masks",
        {"format": "label_png", "match": "original_uid", "path": str(source / "masks")},
    )
    assert (again.counters.get("imported", 0), again.counters["duplicates"]) == (0, len(delivered))


def test_chexmask_csv_round_trip_keeps_rca_and_reports_bad_rows(members, project, run_job, demo, api, tmp_path):
    source, _ = demo
    admin = members["admin"]
    params = {"format": "label_png", "match": "original_uid", "path": str(source / "masks")}
    run_job(admin, project, "qc.import_masks", params)
    # Export as CheXmask CSV, then re-import it (with a broken row added) into a second project
    response = api(admin).get("/api/projects/chest/masks/export/chexmask.csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    header = text.splitlines()[0]
    assert header.startswith("ImageID,Dice RCA (Mean),Dice RCA (Max),Right Lung,Left Lung,Heart,Height,Width")
    lines = text.splitlines()
    broken = lines[1].split(",")
    broken[3] = "5 10 7"  # an odd number of RLE values
    folder = tmp_path / "incoming" / "csv"
    folder.mkdir(parents=True)
    (folder / "masks.csv").write_text("\n".join([lines[0], ",".join(broken), *lines[2:]]) + "\n")
    job = run_job(admin, project, "qc.import_masks", {"format": "chexmask", "path": str(folder)})
    assert job.status == "succeeded"
    assert job.error_count == 1
    assert "odd number" in job.errors[0]["reason"]
    assert job.counters["duplicates"] == len(lines) - 2


def test_coco_export_reimports_as_the_same_masks_and_organ_pngs_import(members, project, run_job, demo, api, tmp_path):
    source, _ = demo
    admin = members["admin"]
    params = {"format": "label_png", "match": "original_uid", "path": str(source / "masks")}
    first = run_job(admin, project, "qc.import_masks", params)
    # COCO out and back in: every image is a duplicate, nothing new is versioned
    coco = api(admin).get("/api/projects/chest/masks/export/coco.json").json()
    assert len(coco["categories"]) >= 3 and len(coco["images"]) == first.counters["imported"]
    folder = tmp_path / "incoming" / "coco"
    folder.mkdir(parents=True)
    (folder / "masks.json").write_text(json.dumps(coco))
    again = run_job(admin, project, "qc.import_masks", {"format": "coco", "path": str(folder)})
    assert again.status == "succeeded", again.message
    assert again.counters["duplicates"] == first.counters["imported"]
    # One binary PNG per organ, a changed heart: a new version of the heart only
    from labeling.qc.io import write_organ_pngs
    from labeling.services import _masks_of, latest_masks

    image_id, masks = next(iter(latest_masks(project).items()))
    arrays = _masks_of(masks)
    heart = arrays["heart"].copy()
    rows = heart.any(axis=1).nonzero()[0]
    heart[: rows[len(rows) // 2]] = False  # cut off the top half of the heart
    arrays["heart"] = heart
    organ_dir = tmp_path / "incoming" / "organs"
    write_organ_pngs(arrays, organ_dir, masks[0].image.image_key)
    job = run_job(admin, project, "qc.import_masks", {"format": "organ_png", "path": str(organ_dir)})
    assert job.counters.get("imported") == 1, job.counters
    versions = dict(Mask.objects.filter(image_id=image_id).values_list("organ").annotate(v=Max("version")))
    assert versions["heart"] == 2 and versions["right_lung"] == 1


def test_label_pngs_with_a_value_map_and_bad_params(members, project, run_job, demo, tmp_path):
    import numpy as np
    from PIL import Image as PILImage

    from curation.models import Image
    from labeling.services import _masks_of, latest_masks

    source, _ = demo
    admin = members["admin"]
    run_job(
        admin,
        project,
        "qc.import_masks",
        {"format": "label_png", "match": "original_uid", "path": str(source / "masks")},
    )
    image_id, masks = next(iter(latest_masks(project).items()))
    arrays = _masks_of(masks)
    # A PNG that codes both lungs as 1 and the heart as 2 (no bits), mapped with a value map
    labels = np.zeros(arrays["heart"].shape, dtype=np.uint8)
    labels[arrays["right_lung"] | arrays["left_lung"]] = 1
    labels[arrays["heart"]] = 2
    folder = tmp_path / "incoming" / "values"
    folder.mkdir(parents=True)
    PILImage.fromarray(labels).save(folder / f"{Image.objects.get(pk=image_id).image_key}.png")
    params = {"format": "label_png", "path": str(folder), "value_map": {"1": "lungs", "2": "heart"}}
    job = run_job(admin, project, "qc.import_masks", params)
    assert job.status == "succeeded", job.message
    organs = set(Mask.objects.filter(image_id=image_id, job=job).values_list("organ", flat=True))
    # The heart is unchanged (no new version); both lungs as one region are a new organ entry
    assert organs == {"lungs"}
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown organs: spleen"):
        start_job(
            admin,
            project,
            "qc.import_masks",
            {"format": "label_png", "path": str(folder), "value_map": {"3": "spleen"}},
        )
