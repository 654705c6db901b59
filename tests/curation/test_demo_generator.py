"""Tests for the synthetic demo dataset generator (curation.demo), which needs no database."""

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from curation.demo import generate_dataset
from curation.demo.dicom import PRIVATE_CREATOR, StudyMeta, write_dicom
from curation.demo.generator import CORRUPTIONS, MASK_BITS, corrupt_masks, dice
from curation.demo.phantom import chest_phantom
from curation.demo.reports import CHEXPERT_LABELS, empty_findings, write_report

SEED = 7
PATIENTS = 3
SIZE = 64


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny dataset written once for the read-only tests: (folder, summary, truth, progress calls)."""
    out_dir = tmp_path_factory.mktemp("demo")
    calls = []
    summary = generate_dataset(
        out_dir, n_patients=PATIENTS, seed=SEED, image_size=SIZE, progress=lambda *args: calls.append(args)
    )
    truth = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))
    return out_dir, summary, truth, calls


def _images(truth):
    return [image for study in truth["studies"].values() for image in study["images"]]


def _meta(**overrides):
    values = {
        "patient_name": "DOE^JANE^Q",
        "patient_id": "12345678",
        "patient_birth_date": "19540314",
        "patient_sex": "F",
        "patient_age": "067Y",
        "other_patient_ids": "A7654321",
        "patient_address": "12 Maple Street, Springfield, IL 62701",
        "institution_name": "Springfield General Hospital",
        "referring_physician_name": "SMITH^JOHN^^DR",
        "accession_number": "2103001123",
        "study_instance_uid": "2.25.1",
        "study_date": "20210314",
        "study_time": "101500",
        "study_id": "1",
    }
    return StudyMeta(**{**values, **overrides})


def _text(value) -> str:
    # Private tags of an unknown creator read back as UN (raw bytes) from implicit VR files.
    return value.decode("latin-1").rstrip(" \x00") if isinstance(value, bytes) else value


def _read_mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _organs(encoded: np.ndarray) -> dict[str, np.ndarray]:
    return {organ: (encoded & bit) > 0 for organ, bit in MASK_BITS.items()}


def test_summary_counts_match_files_on_disk(dataset):
    # Given a generated dataset
    out_dir, summary, truth, _ = dataset
    images = _images(truth)

    # When the files are counted
    dicom_files = sorted(out_dir.glob("dicom/*/*/*.dcm"))
    mask_files = sorted(out_dir.glob("masks/*.png"))
    truth_mask_files = sorted(out_dir.glob("truth_masks/*.png"))
    with (out_dir / "reports.csv").open(encoding="utf-8", newline="") as handle:
        report_rows = list(csv.DictReader(handle))

    # Then the summary agrees with the disk and with truth.json
    assert summary["patients"] == PATIENTS == len({path.parts[-3] for path in dicom_files})
    assert summary["studies"] == len(truth["studies"]) == len({path.parent for path in dicom_files})
    assert summary["images"] == len(dicom_files) == len(images)
    assert summary["reports"] == len(report_rows) == summary["studies"]
    assert summary["masks"] == len(mask_files) == len(truth_mask_files)
    assert summary["masks"] == sum(1 for image in images if image["view"] in ("PA", "AP"))
    assert summary["corrupted_masks"] == sum(1 for image in images if image["mask"] and image["mask"]["corrupted"])
    assert summary["compressed"] == sum(1 for image in images if image["compression"] is not None)
    assert summary["monochrome1"] == sum(1 for image in images if image["photometric"] == "MONOCHROME1")
    assert summary["truth_json"] == str(out_dir / "truth.json")
    assert summary["reports_csv"] == str(out_dir / "reports.csv")


def test_the_tiny_dataset_covers_every_file_variant(dataset):
    # Given the tiny dataset used by these tests
    _, summary, truth, _ = dataset
    images = _images(truth)

    # When the variants are collected
    syntaxes = {image["transfer_syntax"] for image in images}
    photometrics = {image["photometric"] for image in images}
    bits = {image["bits_stored"] for image in images}

    # Then every variant the ingest pipeline must handle is present at least once
    assert syntaxes == {"explicit", "implicit", "rle", "jpeg2000"}
    assert photometrics == {"MONOCHROME1", "MONOCHROME2"}
    assert bits == {12, 14, 16}
    assert {image["modality"] for image in images} == {"CR", "DX"}
    assert summary["corrupted_masks"] >= 1
    assert summary["masks"] - summary["corrupted_masks"] >= 1
    assert summary["burned_in"] >= 1
    assert any(image["window"] for image in images)
    assert any(image["window"] is None for image in images)


def test_every_dicom_decodes_with_headers_matching_truth(dataset):
    # Given the images recorded in truth.json
    out_dir, _, truth, _ = dataset

    for study_uid, study in truth["studies"].items():
        for image in study["images"]:
            # When each file is read and decoded
            ds = pydicom.dcmread(out_dir / image["path"])
            pixels = ds.pixel_array

            # Then its headers and pixels match what the generator recorded
            assert ds.StudyInstanceUID == study_uid
            assert ds.SOPInstanceUID == image["sop_instance_uid"]
            assert ds.file_meta.MediaStorageSOPInstanceUID == image["sop_instance_uid"]
            assert ds.file_meta.TransferSyntaxUID == image["transfer_syntax_uid"]
            assert ds.PhotometricInterpretation == image["photometric"]
            assert ds.Modality == image["modality"]
            assert (
                ds.SOPClassUID
                == {"CR": "1.2.840.10008.5.1.4.1.1.1", "DX": "1.2.840.10008.5.1.4.1.1.1.1"}[image["modality"]]
            )
            assert ds.ViewPosition == image["view"]
            assert ds.BodyPartExamined == "CHEST"
            assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (
                16,
                image["bits_stored"],
                image["bits_stored"] - 1,
            )
            assert pixels.shape == (image["rows"], image["cols"]) == (ds.Rows, ds.Columns)
            assert pixels.dtype == np.uint16
            assert int(pixels.max()) < 2 ** image["bits_stored"]
            assert ds.AccessionNumber == study["accession_number"]


def test_compressed_files_carry_their_transfer_syntax(dataset):
    # Given the compressed images
    out_dir, _, truth, _ = dataset
    compressed = [image for image in _images(truth) if image["compression"] is not None]

    # When their file meta is read
    syntaxes = {
        image["compression"]: pydicom.dcmread(out_dir / image["path"]).file_meta.TransferSyntaxUID
        for image in compressed
    }

    # Then RLE and JPEG 2000 files say so and are encapsulated
    assert syntaxes == {"rle": RLELossless, "jpeg2000": JPEG2000Lossless}
    for image in compressed:
        assert pydicom.dcmread(out_dir / image["path"])["PixelData"].is_undefined_length is True


def test_monochrome1_files_are_inverted_relative_to_the_phantom(dataset):
    # Given every frontal image and its true masks
    out_dir, _, truth, _ = dataset

    for image in _images(truth):
        if image["mask"] is None:
            continue
        stored = pydicom.dcmread(out_dir / image["path"]).pixel_array.astype(np.float64)
        organs = _organs(_read_mask(out_dir / image["mask"]["truth_path"]))
        lungs = organs["right_lung"] | organs["left_lung"]

        # When the mean stored value of aerated lung is compared with the heart
        lung_mean, heart_mean = stored[lungs].mean(), stored[organs["heart"] & ~lungs].mean()

        # Then air is dark in MONOCHROME2 and bright (inverted) in MONOCHROME1
        if image["photometric"] == "MONOCHROME1":
            assert lung_mean > heart_mean
        else:
            assert lung_mean < heart_mean


@pytest.mark.parametrize("transfer_syntax", ["explicit", "implicit", "rle", "jpeg2000"])
@pytest.mark.parametrize("bits_stored", [12, 16])
def test_write_dicom_stores_inverted_values_for_monochrome1(tmp_path, transfer_syntax, bits_stored):
    # Given a phantom scaled to the stored bit depth
    pixels, _ = chest_phantom(48, 40, np.random.default_rng(0))
    display = (pixels.astype(np.uint32) << (bits_stored - 12)).astype(np.uint16)

    # When it is written as MONOCHROME1 and as MONOCHROME2
    paths = {}
    for photometric in ("MONOCHROME1", "MONOCHROME2"):
        paths[photometric] = write_dicom(
            tmp_path / f"{photometric}.dcm",
            display,
            meta=_meta(),
            sop_instance_uid=f"2.25.{len(paths) + 10}",
            series_instance_uid="2.25.2",
            photometric=photometric,
            transfer_syntax=transfer_syntax,
            bits_stored=bits_stored,
        )
    monochrome1 = pydicom.dcmread(paths["MONOCHROME1"])
    monochrome2 = pydicom.dcmread(paths["MONOCHROME2"])

    # Then MONOCHROME2 keeps the phantom and MONOCHROME1 stores its inverse, losslessly
    expected_syntax = {
        "explicit": ExplicitVRLittleEndian,
        "implicit": ImplicitVRLittleEndian,
        "rle": RLELossless,
        "jpeg2000": JPEG2000Lossless,
    }[transfer_syntax]
    assert monochrome1.file_meta.TransferSyntaxUID == expected_syntax
    assert np.array_equal(monochrome2.pixel_array, display)
    assert np.array_equal(monochrome1.pixel_array, (2**bits_stored - 1) - display.astype(np.int64))
    assert monochrome1.SOPInstanceUID == "2.25.10"


def test_write_dicom_writes_window_and_rescale_tags(tmp_path):
    # Given a phantom
    pixels, _ = chest_phantom(32, 32, np.random.default_rng(1))

    # When it is written with two windows and a rescale
    path = write_dicom(
        tmp_path / "w.dcm",
        pixels,
        meta=_meta(),
        sop_instance_uid="2.25.3",
        series_instance_uid="2.25.4",
        window=[(1000.5, 2000.0), (900.0, 800.0)],
        rescale=(0.5, -1024.0),
        modality="CR",
    )
    ds = pydicom.dcmread(path)

    # Then the VOI and modality LUT tags hold those values
    assert [float(v) for v in ds.WindowCenter] == [1000.5, 900.0]
    assert [float(v) for v in ds.WindowWidth] == [2000.0, 800.0]
    assert list(ds.WindowCenterWidthExplanation) == ["STANDARD", "SOFT"]
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (0.5, -1024.0)


def test_phi_tags_are_present_for_deidentification_to_remove(dataset):
    # Given the fake identities recorded in truth.json
    out_dir, summary, truth, _ = dataset
    burned_in = 0

    for study in truth["studies"].values():
        patient = truth["patients"][study["patient_key"]]
        for image in study["images"]:
            # When each header is read
            ds = pydicom.dcmread(out_dir / image["path"], stop_before_pixels=True)
            block = ds.private_block(0x0009, PRIVATE_CREATOR)

            # Then the identifiers are there, with the same values as in the truth
            assert str(ds.PatientName) == patient["patient_name"]
            assert ds.PatientID == patient["patient_id"]
            assert ds.PatientBirthDate == patient["patient_birth_date"]
            assert ds.OtherPatientIDs == patient["other_patient_ids"]
            assert ds.PatientAddress == patient["patient_address"]
            assert ds.InstitutionName == patient["institution_name"]
            assert str(ds.ReferringPhysicianName) == patient["referring_physician_name"]
            assert ds.AccessionNumber == study["accession_number"]
            study_date = study["study_date"].replace("-", "")
            assert [ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate, ds.ContentDate] == [study_date] * 4
            assert len(ds.StudyTime) == 6
            assert ds.PatientAge.endswith("Y")
            assert ds.PatientSex == patient["patient_sex"]
            assert _text(block[0x10].value) == patient["patient_name"].replace("^", " ")
            assert _text(block[0x11].value) == patient["patient_id"]
            assert ds.BurnedInAnnotation == ("YES" if image["burned_in_annotation"] else "NO")
            burned_in += ds.BurnedInAnnotation == "YES"

    assert burned_in == summary["burned_in"]


def test_reports_csv_rows_map_to_existing_studies(dataset):
    # Given reports.csv and the DICOM files
    out_dir, _, truth, _ = dataset
    study_uids = {
        pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID for path in out_dir.glob("dicom/*/*/*.dcm")
    }

    # When the CSV is parsed with the csv module
    with (out_dir / "reports.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)

    # Then every row names a study that exists, with its accession number and multi-line text
    assert header == ["StudyInstanceUID", "AccessionNumber", "report"]
    assert {row[0] for row in rows} == study_uids == set(truth["studies"])
    for uid, accession, text in rows:
        assert accession == truth["studies"][uid]["accession_number"]
        for phi in truth["studies"][uid]["report"]["phi"]:
            assert phi in text
        for trace in truth["studies"][uid]["report"]["deid_traces"]:
            assert trace in text
    assert any("\n" in text for _, _, text in rows)


def test_report_truth_uses_only_chexpert_labels_and_known_values(dataset):
    # Given the report truth of every study
    _, _, truth, _ = dataset

    for study in truth["studies"].values():
        labels = study["report"]["labels"]

        # Then names, statuses and changes come from the fixed vocabularies
        assert set(labels) <= set(CHEXPERT_LABELS)
        for entry in labels.values():
            assert entry["status"] in ("positive", "negative", "uncertain")
            assert entry["change"] in (None, "new", "increased", "decreased", "unchanged", "resolved")
            if study["prior_study_uid"] is None:
                assert entry["change"] is None


def test_report_records_an_increased_effusion_against_the_prior():
    # Given a small left effusion that is now moderate
    prior = empty_findings() | {"effusion": {"side": "left", "size": "small"}}
    current = empty_findings() | {"effusion": {"side": "left", "size": "moderate"}}

    # When the report is written
    text, truth = write_report(current, prior, np.random.default_rng(3))

    # Then the truth says positive, left, moderate, increased, and the text says so too
    assert truth["labels"]["Pleural Effusion"] == {
        "status": "positive",
        "location": "left",
        "severity": "moderate",
        "change": "increased",
    }
    assert "effusion" in text
    assert "increase" in text
    assert "No Finding" not in truth["labels"]


def test_report_records_a_resolved_finding_as_negative():
    # Given a right pleural effusion that has gone
    prior = empty_findings() | {"effusion": {"side": "right", "size": "small"}}

    # When the report is written
    text, truth = write_report(empty_findings(), prior, np.random.default_rng(5))

    # Then the effusion is negative with change 'resolved' and the study has no finding
    assert truth["labels"]["Pleural Effusion"] == {
        "status": "negative",
        "location": "right",
        "severity": None,
        "change": "resolved",
    }
    assert "right pleural effusion" in text
    assert truth["labels"]["No Finding"]["status"] == "positive"


def test_reports_carry_phi_and_deidentification_traces_in_a_fraction():
    # Given many reports for a normal study with a prior
    rng = np.random.default_rng(11)
    phi = {"physician": "Smith", "mrn": "12345678", "phone": "555-867-5309", "patient_name": "DOE, JANE"}
    truths = [
        write_report(
            empty_findings(), empty_findings(), rng, prior_date="03/14/2021", study_date="09/01/2021", phi=phi
        )[1]
        for _ in range(200)
    ]

    # When the PHI and traces are counted
    found = {item for truth in truths for item in truth["phi"]}
    traces = {item for truth in truths for item in truth["deid_traces"]}
    with_phi = sum(1 for truth in truths if truth["phi"])

    # Then some, not all, reports contain each kind of PHI-like text and each kind of trace
    assert found == {"Dr. Smith", "03/14/2021", "09/01/2021", "12345678", "555-867-5309", "DOE, JANE"}
    assert traces == {"___", "XXXX"}
    assert 40 <= with_phi <= 100


def test_masks_match_the_recorded_truth(dataset):
    # Given every delivered mask with its true mask
    out_dir, _, truth, _ = dataset

    for image in _images(truth):
        mask = image["mask"]
        if mask is None:
            assert image["view"] == "LL"
            continue
        delivered = _read_mask(out_dir / mask["path"])
        expected = _read_mask(out_dir / mask["truth_path"])

        # When the Dice of each organ is recomputed from the PNG bits
        recomputed = {organ: dice(_organs(delivered)[organ], _organs(expected)[organ]) for organ in MASK_BITS}

        # Then it matches truth.json: exactly 1.0 when intact, below 1.0 somewhere when corrupted
        assert delivered.dtype == np.uint8
        assert delivered.shape == (image["rows"], image["cols"])
        assert set(np.unique(delivered)) <= set(range(8))
        assert recomputed == mask["dice"]
        if mask["corrupted"]:
            assert mask["kind"] in CORRUPTIONS
            assert min(mask["dice"].values()) < 1.0
        else:
            assert mask["kind"] is None
            assert mask["dice"] == {"right_lung": 1.0, "left_lung": 1.0, "heart": 1.0}
            assert np.array_equal(delivered, expected)


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_every_corruption_kind_changes_the_mask(kind):
    # Given the true masks of a phantom
    _, masks = chest_phantom(64, 56, np.random.default_rng(2))

    # When they are corrupted
    corrupted = corrupt_masks(masks, kind, np.random.default_rng(3))

    # Then at least one organ no longer matches
    assert min(dice(corrupted[organ], masks[organ]) for organ in masks) < 1.0


def test_phantom_masks_follow_radiographic_convention_and_findings():
    # Given a normal phantom and one with cardiomegaly and a large left effusion
    normal_image, normal = chest_phantom(128, 128, np.random.default_rng(4))
    sick_image, sick = chest_phantom(
        128, 128, np.random.default_rng(4), cardiomegaly="severe", effusion_side="left", effusion_size="large"
    )

    # When mask positions and areas are measured
    right_x = np.nonzero(normal["right_lung"])[1].mean()
    left_x = np.nonzero(normal["left_lung"])[1].mean()

    # Then the patient's right lung is on the image left, the heart grows and the effusion hides lung
    assert normal_image.dtype == sick_image.dtype == np.uint16
    assert right_x < 64 < left_x
    assert sick["heart"].sum() > 1.5 * normal["heart"].sum()
    assert sick["left_lung"].sum() < 0.8 * normal["left_lung"].sum()
    assert normal_image[normal["right_lung"]].mean() < normal_image[normal["heart"] & ~normal["left_lung"]].mean()


def test_same_seed_gives_identical_files(tmp_path):
    # Given two runs with the same seed into different folders
    first = generate_dataset(tmp_path / "a", n_patients=2, seed=SEED, image_size=SIZE)
    second = generate_dataset(tmp_path / "b", n_patients=2, seed=SEED, image_size=SIZE)

    # When every written file is compared byte for byte
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())

    # Then the file lists and contents are identical
    assert files_a == files_b
    assert Path("truth.json") in files_a
    assert any(path.suffix == ".dcm" for path in files_a)
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    assert {k: v for k, v in first.items() if not k.endswith(("dir", "csv", "json"))} == {
        k: v for k, v in second.items() if not k.endswith(("dir", "csv", "json"))
    }


def test_different_seeds_give_different_studies(tmp_path):
    # Given two runs with different seeds
    generate_dataset(tmp_path / "a", n_patients=1, seed=1, image_size=SIZE)
    generate_dataset(tmp_path / "b", n_patients=1, seed=2, image_size=SIZE)

    # When their study UIDs are read
    uids_a = set(json.loads((tmp_path / "a" / "truth.json").read_text())["studies"])
    uids_b = set(json.loads((tmp_path / "b" / "truth.json").read_text())["studies"])

    # Then they do not overlap
    assert uids_a.isdisjoint(uids_b)


def test_rerun_on_the_same_folder_overwrites_and_drops_stale_files(tmp_path):
    # Given a folder generated with three patients
    generate_dataset(tmp_path, n_patients=3, seed=SEED, image_size=SIZE)

    # When it is regenerated with one patient
    summary = generate_dataset(tmp_path, n_patients=1, seed=SEED, image_size=SIZE)

    # Then only the files of the new run remain
    assert len(list(tmp_path.glob("dicom/*/*/*.dcm"))) == summary["images"]
    assert len(list(tmp_path.glob("masks/*.png"))) == summary["masks"]
    assert [path.name for path in tmp_path.glob("dicom/*")] == ["patient_001"]


def test_progress_is_reported_after_each_patient(dataset):
    # Given the progress calls recorded while generating the tiny dataset
    _, _, _, calls = dataset

    # Then there is one call per patient, ending with (n, n)
    assert calls == [(1, PATIENTS), (2, PATIENTS), (3, PATIENTS)]
