"""The mask formats of a dataset version: PNGs named after the image with exactly the stored masks, and DICOM
Segmentation objects that pydicom and highdicom open, whose segments decode to the stored masks and which
reference the exported image's SOP Instance UID; images that cannot carry them are left out and counted."""

import csv
import io
import zipfile

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image as PILImage
from pydicom.dataset import FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from curation.exporters import DirSink, ExportError, ZipSink, export_version
from curation.services.datasets import freeze_version
from labeling.models import Mask
from labeling.qc.rle import decode_chexmask_rle, encode_chexmask_rle
from tests.curation.dataset_helpers import mask_rows, small_project

pytestmark = pytest.mark.django_db
SIZE = 32
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def dicom_original(image, rows=SIZE, columns=SIZE) -> str:
    """Store a small de-identified DX instance as the image's original; its SOP Instance UID."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DX_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DX_IMAGE_STORAGE
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientSex = image.study.patient.pseudo_id, image.study.patient.pseudo_id, "F"
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "", "", "", "", ""
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "DX", 1, 1
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.full((rows, columns), 100, dtype="<u2").tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    image.original = default_storage.save(f"projects/chest/originals/{image.pk}.dcm", ContentFile(out.getvalue()))
    image.save(update_fields=["original"])
    return ds.SOPInstanceUID


@pytest.fixture
def masked(project):
    """A version of 6 patients (12 PA/AP/LAT images); the first three studies' PA images have masks and real
    DICOM originals, the second of them also a newer heart mask."""
    _run, studies = small_project(project, patients=6)
    images = [study.images.order_by("pk").first() for study in studies[:3]]
    uids = {}
    for image in images:
        mask_rows(image)
        uids[image.pk] = dicom_original(image)
    newer = np.zeros((SIZE, SIZE), dtype=bool)
    newer[10:20, 10:30] = True
    Mask.objects.create(
        project=project,
        image=images[1],
        organ="heart",
        rle=encode_chexmask_rle(newer),
        height=SIZE,
        width=SIZE,
        version=2,
        source="reviewer",
    )
    return freeze_version(None, project, "masks"), images, uids


def _stored(image, organ):
    mask = Mask.objects.filter(image=image, organ=organ).order_by("-version").first()
    return decode_chexmask_rle(mask.rle, mask.height, mask.width)


def test_mask_png_pixels_equal_the_newest_stored_masks(masked, tmp_path):
    version, images, _uids = masked
    # When the version is exported as mask PNGs with 8-bit images
    summary = export_version(version, "mask-png", "png8", DirSink(tmp_path))
    # Then each masked image has one 0/255 PNG per organ, equal to the newest stored mask
    folder = tmp_path / "mask-png"
    assert summary["rows"] == 3 and summary["masks"] == 9 and summary["left_out_no_masks"] == version.row_count - 3
    index = list(csv.DictReader((folder / "masks.csv").open(encoding="utf-8")))
    assert len(index) == 9
    for image in images:
        for organ in ("heart", "left_lung", "right_lung"):
            path = folder / "masks" / f"{image.image_key}_{organ}.png"
            with PILImage.open(path) as png:
                assert png.mode == "L" and png.size == (SIZE, SIZE)
                pixels = np.asarray(png)
            assert set(np.unique(pixels)) <= {0, 255}
            assert ((pixels == 255) == _stored(image, organ)).all()
    # And the index names each PNG, its image file and its area
    row = next(r for r in index if r["image"] == f"{images[1].image_key}.png" and r["organ"] == "heart")
    assert row["mask"] == f"masks/{images[1].image_key}_heart.png"
    assert (row["mask_version"], row["mask_source"], row["pixels"]) == ("2", "reviewer", "200")
    assert (folder / "images" / f"{images[0].image_key}.png").is_file()
    assert sorted(p.name for p in (tmp_path / "mask-png").iterdir()) == ["images", "masks", "masks.csv"]


def test_mask_png_refuses_masks_over_the_pixel_limit_without_failing(masked, tmp_path, settings):
    version, _images, _uids = masked
    settings.MASK_MAX_PIXELS = SIZE * SIZE - 1
    summary = export_version(version, "mask-png", "none", DirSink(tmp_path))
    assert summary["masks_refused"] == 9 and summary.get("masks", 0) == 0
    assert not (tmp_path / "mask-png" / "masks").exists()


def test_dicom_seg_opens_in_highdicom_and_decodes_to_the_stored_masks(masked, tmp_path):
    version, images, uids = masked
    # When the version is exported as DICOM SEG
    summary = export_version(version, "dicom-seg", "dicom", DirSink(tmp_path))
    folder = tmp_path / "dicom-seg"
    assert (summary["rows"], summary["images"], summary["segments"]) == (3, 3, 9)
    index = list(csv.DictReader((folder / "segmentations.csv").open(encoding="utf-8")))
    assert [r["sop_instance_uid"] for r in index] == [uids[image.pk] for image in images]
    for image in images:
        seg_path = folder / "seg" / f"{image.image_key}.seg.dcm"
        # Then pydicom reads a BINARY Segmentation of the exported image's study
        raw = pydicom.dcmread(seg_path)
        source = pydicom.dcmread(folder / "images" / f"{image.image_key}.dcm")
        assert raw.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and raw.SegmentationType == "BINARY"
        assert raw.StudyInstanceUID == source.StudyInstanceUID and raw.PatientID == source.PatientID
        assert source.SOPInstanceUID == uids[image.pk]
        # And highdicom reads it: it references the exported image, one segment per organ, equal to the masks
        seg = hd.seg.segread(seg_path)
        assert [r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence] == [
            uids[image.pk]
        ]
        labels = {seg.get_segment_description(n).segment_label: n for n in seg.segment_numbers}
        assert sorted(labels) == ["Heart", "Left lung", "Right lung"]
        for label, organ in (("Heart", "heart"), ("Left lung", "left_lung"), ("Right lung", "right_lung")):
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=[uids[image.pk]], segment_numbers=[labels[label]]
            )
            assert pixels.shape == (1, SIZE, SIZE, 1)
            assert ((pixels[0, :, :, 0] > 0) == _stored(image, organ)).all()
        heart = seg.get_segment_description(labels["Heart"])
        assert heart.segmented_property_type == codes.SCT.Heart
        left = seg.get_segment_description(labels["Left lung"])
        assert left.segmented_property_type == codes.SCT.Lung
        modifier = left.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
        assert (modifier.CodeValue, modifier.CodingSchemeDesignator) == (codes.SCT.Left.value, "SCT")
    # And the SEG's UIDs are the same when the version is exported again
    again = export_version(version, "dicom-seg", "dicom", DirSink(tmp_path / "again"))
    assert again["rows"] == 3
    first = pydicom.dcmread(folder / "seg" / f"{images[0].image_key}.seg.dcm")
    second = pydicom.dcmread(tmp_path / "again" / "dicom-seg" / "seg" / f"{images[0].image_key}.seg.dcm")
    assert first.SOPInstanceUID == second.SOPInstanceUID and first.SeriesInstanceUID == second.SeriesInstanceUID


def test_dicom_seg_leaves_out_and_counts_images_without_a_dicom_or_of_another_size(project, tmp_path):
    _run, studies = small_project(project, patients=3)
    png_origin, wrong_size, fine = (study.images.order_by("pk").first() for study in studies[:3])
    for image in (png_origin, wrong_size, fine):
        mask_rows(image)
    # Given one image whose original is a PNG, one whose DICOM is not the masks' size, and one that fits
    png_origin.original = default_storage.save("projects/chest/originals/p.png", ContentFile(b"\x89PNG\r\n\x1a\n"))
    png_origin.save(update_fields=["original"])
    dicom_original(wrong_size, rows=SIZE, columns=SIZE + 8)
    dicom_original(fine)
    version = freeze_version(None, project, "mixed")
    summary = export_version(version, "dicom-seg", None, DirSink(tmp_path))
    assert summary["images"] == 1 and summary["rows"] == 1
    assert (summary["left_out_not_dicom"], summary["left_out_size_mismatch"]) == (1, 1)
    assert [p.name for p in (tmp_path / "dicom-seg" / "seg").iterdir()] == [f"{fine.image_key}.seg.dcm"]


def test_dicom_seg_carries_only_dicom_images(masked, tmp_path):
    version, _images, _uids = masked
    with pytest.raises(ExportError, match="--images dicom"):
        export_version(version, "dicom-seg", "png8", DirSink(tmp_path))


def test_cli_writes_mask_pngs(masked, tmp_path):
    version, images, _uids = masked
    out = io.StringIO()
    call_command(
        "export_version", "--version", str(version.pk), "--format", "mask-png", "--output", str(tmp_path), stdout=out
    )
    assert '"rows": 3' in out.getvalue()
    assert (tmp_path / "mask-png" / "masks" / f"{images[0].image_key}_heart.png").is_file()
    assert (tmp_path / "datacard.json").is_file()


def test_both_mask_formats_stream_into_the_jobs_zip(masked, tmp_path):
    version, images, uids = masked
    for fmt in ("mask-png", "dicom-seg"):
        with (tmp_path / f"{fmt}.zip").open("wb") as target, ZipSink(target) as sink:
            export_version(version, fmt, None, sink)
    pngs = zipfile.ZipFile(tmp_path / "mask-png.zip")
    assert sum(n.startswith("mask-png/masks/") for n in pngs.namelist()) == 9
    segs = zipfile.ZipFile(tmp_path / "dicom-seg.zip")
    member = f"dicom-seg/seg/{images[2].image_key}.seg.dcm"
    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(io.BytesIO(segs.read(member))))
    assert seg.get_source_image_uids()[0][2] == uids[images[2].pk]
    assert f"dicom-seg/images/{images[2].image_key}.dcm" in segs.namelist()


def test_dicom_seg_leaves_out_a_source_highdicom_refuses_and_goes_on(masked, tmp_path):
    version, images, uids = masked
    # Given a stored original that lost its Patient ID (a SEG must copy it)
    with default_storage.open(images[0].original, "rb") as handle:
        broken = pydicom.dcmread(handle)
    del broken.PatientID
    out = io.BytesIO()
    broken.save_as(out, enforce_file_format=True)
    images[0].original = default_storage.save("projects/chest/originals/broken.dcm", ContentFile(out.getvalue()))
    images[0].save(update_fields=["original"])
    # When exported, that image is counted and the other two get their SEG
    summary = export_version(version, "dicom-seg", "dicom", DirSink(tmp_path))
    assert (summary["rows"], summary["left_out_seg_refused"]) == (2, 1)
    names = sorted(p.name for p in (tmp_path / "dicom-seg" / "seg").iterdir())
    assert names == sorted(f"{image.image_key}.seg.dcm" for image in images[1:])
