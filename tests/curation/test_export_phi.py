"""No export carries PHI: DICOM studies generated with PHI (names, ids, UIDs, report text) are imported through
the real ingest path, frozen, and exported in every format, with every image kind; every file written (CSV,
JSONL, JSON, HTML, SVG, PNG, DICOM, DICOM SEG) is searched for each seeded value. No patient is in two
splits of any export."""

import csv
import json

import numpy as np
import pytest

from curation.exporters import WRITERS, DirSink, export_version
from curation.models import Image
from curation.services import ingest
from curation.services.datasets import freeze_version
from labeling.models import Mask
from labeling.qc.rle import encode_chexmask_rle
from tests.curation.test_phi_everywhere import _dicom, _present_in, _write
from tests.phi_scan import compile_values, scan_storage

pytestmark = pytest.mark.django_db

IMAGE_KINDS = {
    "nih": "png8",
    "chexpert": "png8",
    "jsonl": "dicom",
    "chexmask": "png16",
    "coco": "png8",
    "mask-png": "png16",
    "dicom-seg": "dicom",
}


def _masks_on_image_grid(image):
    """Box masks of the image's own Rows x Columns, as imports store them, so that a SEG can reference it."""
    assert image.rows >= 32 and image.columns >= 32
    for n, organ in enumerate(("right_lung", "left_lung", "heart")):
        bits = np.zeros((image.rows, image.columns), dtype=bool)
        bits[4 + n : 12 + 3 * n, 2 + 5 * n : 9 + 5 * n] = True
        Mask.objects.create(
            project=image.project,
            image=image,
            organ=organ,
            rle=encode_chexmask_rle(bits),
            height=image.rows,
            width=image.columns,
        )


def test_no_export_holds_any_seeded_phi_and_no_patient_is_in_two_splits(project, tmp_path, settings):
    settings.JOBS_IN_PROCESS_THREAD = False
    # Given DICOM studies seeded with PHI, imported and rendered through the ingest path, with masks
    source = _dicom(tmp_path)
    folder = _write(source.files, tmp_path / "dataset")
    phi = {v: kind for v, kind in source.phi.items() if v in _present_in(folder, source.phi)}
    assert len(phi) > 10
    ingest.import_from_cli("chest", source.source, str(folder), None)
    for image in Image.objects.filter(project=project):
        _masks_on_image_grid(image)
    version = freeze_version(None, project, "phi")
    assert version.row_count + sum(version.summary["excluded"].values()) == source.imported
    assert version.row_count >= 1
    # When every built format is exported, with images
    for fmt in WRITERS:
        summary = export_version(version, fmt, IMAGE_KINDS[fmt], DirSink(tmp_path / "out" / fmt))
        assert summary["rows"] >= 1, summary
        assert summary.get("images_missing", 0) == 0, summary
        assert summary["rows"] == version.row_count or fmt not in ("mask-png", "dicom-seg"), summary
    # Then no written file holds any seeded value
    assert scan_storage(tmp_path / "out", compile_values(phi)) == []
    # And no patient is in two splits (NIH lists, CheXpert files, JSONL)
    nih = tmp_path / "out" / "nih" / "nih"
    entries = {r["Image Index"]: r["Patient ID"] for r in csv.DictReader((nih / "Data_Entry_2017.csv").open())}
    test = set((nih / "test_list.txt").read_text().split())
    train_val = set((nih / "train_val_list.txt").read_text().split())
    assert not {entries[i] for i in test} & {entries[i] for i in train_val}
    splits: dict[str, set[str]] = {}
    for line in (tmp_path / "out" / "jsonl" / "jsonl" / "dataset.jsonl").read_text().splitlines():
        record = json.loads(line)
        splits.setdefault(record["patient"], set()).add(record["split"])
    assert splits and all(len(s) == 1 for s in splits.values())
