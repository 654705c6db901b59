"""Each export loaded by the library its users load it with: torchxrayvision's NIH_Dataset and CheX_Dataset,
pycocotools for the COCO JSON. The readers come from requirements-interop.txt (installed by .ci/run); outside
CI a machine without them skips these tests, in CI a missing reader fails them."""

import os

import pytest

from curation.exporters import DirSink, export_version
from curation.services.datasets import freeze_version
from tests.curation.dataset_helpers import mask_rows, small_project

pytestmark = [pytest.mark.interop, pytest.mark.django_db]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _reader(name):
    if IN_CI:
        return __import__(name)
    return pytest.importorskip(name)


@pytest.fixture
def version(project):
    _run, studies = small_project(project, patients=8)
    for study in studies[:3]:
        mask_rows(study.images.first())
    return freeze_version(None, project, "interop")


def test_nih_export_loads_in_torchxrayvision(version, tmp_path):
    xrv = _reader("torchxrayvision")
    out = tmp_path / "out"
    export_version(version, "nih", "png8", DirSink(out))
    dataset = xrv.datasets.NIH_Dataset(
        imgpath=str(out / "nih" / "images"),
        csvpath=str(out / "nih" / "Data_Entry_2017.csv"),
        views=["PA", "AP"],
        unique_patients=False,
    )
    assert len(dataset) == 16  # 12 PA + 4 AP images
    sample = dataset[0]
    assert sample["img"].shape == (1, 32, 32)
    effusion = dataset.pathologies.index("Effusion")
    assert sample["lab"][effusion] == 1.0  # the first patient's dataset label


def test_chexpert_export_loads_in_torchxrayvision(version, tmp_path):
    xrv = _reader("torchxrayvision")
    out = tmp_path / "out"
    export_version(version, "chexpert", "png8", DirSink(out))
    folder = out / "chexpert"
    loaded = 0
    for name in ("train.csv", "valid.csv"):
        dataset = xrv.datasets.CheX_Dataset(
            imgpath=str(folder), csvpath=str(folder / name), views=["PA", "AP"], unique_patients=False
        )
        loaded += len(dataset)
        if len(dataset):
            assert dataset[0]["img"].shape == (1, 32, 32)
    frontal_test = sum(1 for line in (folder / "test.csv").read_text().splitlines()[1:] if "_frontal" in line)
    assert loaded + frontal_test == 16


def test_coco_export_loads_in_pycocotools(version, tmp_path):
    _reader("pycocotools")
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    from labeling.models import Mask
    from labeling.qc.rle import decode_chexmask_rle

    out = tmp_path / "out"
    export_version(version, "coco", "png8", DirSink(out))
    coco = COCO(str(out / "coco" / "annotations.json"))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 9
    for ann in coco.loadAnns(coco.getAnnIds()):
        image = coco.loadImgs(ann["image_id"])[0]
        decoded = mask_utils.decode(ann["segmentation"])
        organ = {1: "right_lung", 2: "left_lung", 3: "heart"}[ann["category_id"]]
        stored = Mask.objects.get(image__image_key=image["image_key"], organ=organ)
        assert (decoded.astype(bool) == decode_chexmask_rle(stored.rle, stored.height, stored.width)).all()
        assert (out / "coco" / "images" / image["file_name"]).is_file()
