"""De-identification (PS3.15 Basic Profile): no PHI left anywhere, consistent UIDs, shifted dates, kept age."""

import datetime as dt
import re

import pydicom
import pytest

from curation.dicomio import (
    DeidProfile,
    DicomError,
    date_offset_for,
    decode_pixels,
    deidentify,
    phi_values,
    pseudonym_for,
    uid_remapper,
)
from tests.curation.dicomio.conftest import generated_images

SECRET = b"project-secret"


def _deidentify_file(path, out_path, secret=SECRET, profile=None):
    ds = pydicom.dcmread(path)
    patient_id = str(ds.PatientID)
    outcome = deidentify(
        ds,
        patient_pseudonym=pseudonym_for(secret, "patient", patient_id),
        date_offset_days=date_offset_for(secret, patient_id),
        uid_for=uid_remapper(secret),
        accession_pseudonym=pseudonym_for(secret, "accession", str(ds.AccessionNumber)),
        profile=profile or DeidProfile(),
    )
    ds.save_as(out_path, enforce_file_format=True)
    return outcome


def _phi_strings(patient: dict) -> set[str]:
    values = {patient[key] for key in patient if key != "patient_sex"}
    for key in ("patient_name", "referring_physician_name"):
        values |= {part for part in patient[key].split("^") if len(part) >= 3}
    return values


def test_no_phi_value_survives_anywhere(generated, tmp_path):
    # Given every generated file and the PHI the generator wrote (truth.json 'patients')
    folder, truth = generated

    for image in generated_images(truth):
        # When the file is de-identified, saved and read back
        out = tmp_path / f"{image['sop_instance_uid']}.dcm"
        _deidentify_file(folder / image["path"], out)
        back = pydicom.dcmread(out)
        text = "\n".join(phi_values(back)).upper()

        # Then no PHI value, original UID, study date or accession appears in any element, sequence or file meta
        study = truth["studies"][image["study_uid"]]
        forbidden = _phi_strings(truth["patients"][image["patient_key"]]) | {
            image["sop_instance_uid"],
            image["series_instance_uid"],
            image["study_uid"],
            study["accession_number"],
            image["study_date"].replace("-", ""),
        }
        leaked = sorted(value for value in forbidden if value.upper() in text)
        assert leaked == []
        assert not any(elem.tag.is_private for elem in back.iterall())


def test_uids_consistent_within_a_study_and_stable_across_runs(generated, tmp_path):
    # Given the two images (PA and lateral) of one generated study
    folder, truth = generated
    study_uid, study = next((uid, s) for uid, s in truth["studies"].items() if len(s["images"]) == 2)
    paths = [folder / image["path"] for image in study["images"]]

    # When both are de-identified twice with the same secret and once with another
    first = [_deidentify_file(p, tmp_path / f"a{i}.dcm") for i, p in enumerate(paths)]
    again = [_deidentify_file(p, tmp_path / f"b{i}.dcm") for i, p in enumerate(paths)]
    other = _deidentify_file(paths[0], tmp_path / "c.dcm", secret=b"another")
    a = [pydicom.dcmread(tmp_path / f"a{i}.dcm") for i in range(2)]
    b = [pydicom.dcmread(tmp_path / f"b{i}.dcm") for i in range(2)]
    c = pydicom.dcmread(tmp_path / "c.dcm")

    # Then the study UID is shared, instance UIDs differ, reruns give the same UIDs, another secret others
    expected_study = uid_remapper(SECRET)(study_uid)
    assert a[0].StudyInstanceUID == a[1].StudyInstanceUID == expected_study
    assert a[0].SOPInstanceUID != a[1].SOPInstanceUID
    assert [x.SOPInstanceUID for x in a] == [x.SOPInstanceUID for x in b]
    assert c.StudyInstanceUID != expected_study
    assert a[0].file_meta.MediaStorageSOPInstanceUID == a[0].SOPInstanceUID
    assert a[0].SOPClassUID == pydicom.dcmread(paths[0]).SOPClassUID
    assert first[0].pseudonyms == again[0].pseudonyms
    assert other.pseudonyms != first[0].pseudonyms


def test_dates_shifted_by_the_patient_offset_and_age_kept(write, tmp_path):
    # Given a file with study date 2021-03-14, birth date 1950-03-10 and age 071Y
    path = write()
    offset = date_offset_for(SECRET, "12345678")

    # When it is de-identified
    _deidentify_file(path, tmp_path / "out.dcm")
    ds = pydicom.dcmread(tmp_path / "out.dcm")

    # Then every date moved by the patient's offset, times and age are kept, and the interval is unchanged
    shifted = dt.date(2021, 3, 14) + dt.timedelta(days=offset)
    assert ds.StudyDate == ds.SeriesDate == ds.AcquisitionDate == ds.ContentDate == shifted.strftime("%Y%m%d")
    assert ds.PatientBirthDate == (dt.date(1950, 3, 10) + dt.timedelta(days=offset)).strftime("%Y%m%d")
    assert ds.StudyTime == "101500"
    assert ds.PatientAge == "071Y"
    assert ds.PatientSex == "F"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def test_basic_profile_actions_on_a_controlled_file(write, tmp_path):
    # Given a file with names, ids, address, institution, physicians and a private block
    path = write()

    # When it is de-identified with the default profile
    outcome = _deidentify_file(path, tmp_path / "out.dcm")
    ds = pydicom.dcmread(tmp_path / "out.dcm")

    # Then identifiers are pseudonyms, type 2 attributes are empty and the rest removed
    patient = pseudonym_for(SECRET, "patient", "12345678")
    accession = pseudonym_for(SECRET, "accession", "2103001123")
    assert ds.PatientName == patient
    assert ds.PatientID == patient
    assert ds.AccessionNumber == accession
    assert ds.ReferringPhysicianName == ""
    assert ds.StudyID == ""
    for keyword in (
        "PatientAddress",
        "OtherPatientIDs",
        "InstitutionName",
        "InstitutionAddress",
        "OperatorsName",
        "StationName",
        "IssuerOfPatientID",
        "StudyDescription",
        "SeriesDescription",
    ):
        assert keyword not in ds
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethod == "PS3.15 Basic Profile; dates shifted; UIDs remapped"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    assert outcome.pseudonyms == {"12345678": patient, "2103001123": accession}
    assert outcome.actions["private"] == 6
    assert outcome.actions["D"] == 3
    assert outcome.burned_in is False


def test_keep_private_tags_and_clean_descriptors(write, tmp_path):
    # Given a file whose series description is 'CHEST PA'
    path = write()

    # When it is de-identified keeping private tags and cleaning descriptors
    _deidentify_file(path, tmp_path / "out.dcm", profile=DeidProfile(keep_private_tags=True, clean_descriptors=True))
    ds = pydicom.dcmread(tmp_path / "out.dcm")

    # Then the private block stays, with its date shifted, and descriptions are kept
    block = ds.private_block(0x0009, "ACME_IMAGING 1.0")
    assert block[0x13].value == "ROOM 3"
    assert block[0x12].value == ds.StudyDate
    assert ds.SeriesDescription == "CHEST PA"
    assert [item.CodeValue for item in ds.DeidentificationMethodCodeSequence] == [
        "113100",
        "113107",
        "113108",
        "113105",
        "113111",
    ]


def test_dates_removed_when_not_retaining_longitudinal_dates(write, tmp_path):
    # Given a file with dates
    path = write()

    # When the profile does not retain dates
    _deidentify_file(path, tmp_path / "out.dcm", profile=DeidProfile(retain_longitudinal_dates=False))
    ds = pydicom.dcmread(tmp_path / "out.dcm")

    # Then dates are empty, the age stays, and the method says so
    assert ds.StudyDate == ""
    assert ds.PatientBirthDate == ""
    assert ds.PatientAge == "071Y"
    assert ds.DeidentificationMethod == "PS3.15 Basic Profile; dates removed; UIDs remapped"


def test_burned_in_annotation_flagged_or_refused(write, tmp_path):
    # Given a file whose header says BurnedInAnnotation=YES
    path = write(burned_in_annotation=True)

    # When it is de-identified with the default profile, then with remove_burned_in
    outcome = _deidentify_file(path, tmp_path / "out.dcm")
    with pytest.raises(DicomError) as caught:
        _deidentify_file(path, tmp_path / "out2.dcm", profile=DeidProfile(remove_burned_in=True))

    # Then it is flagged, or refused with a reason
    assert outcome.burned_in is True
    assert caught.value.reason == "burned-in annotation: this project excludes images with text in the pixels"


def test_compressed_pixels_still_decode_after_deidentification(write, tmp_path):
    # Given a JPEG 2000 file
    path = write(transfer_syntax="jpeg2000")
    _, before = decode_pixels(path)

    # When it is de-identified and saved
    _deidentify_file(path, tmp_path / "out.dcm")

    # Then the pixels are unchanged
    _, after = decode_pixels(tmp_path / "out.dcm")
    assert (after == before).all()


def test_uid_remapper_is_deterministic_and_valid():
    # Given a remapper and a long root
    remap = uid_remapper(SECRET)
    long_root = uid_remapper(SECRET, root="1.2.826.0.1.3680043.10.999.123456789")

    # When UIDs are mapped
    new = remap("1.2.3.4.5")

    # Then results are stable, valid and within 64 characters
    assert new == uid_remapper(SECRET)("1.2.3.4.5")
    assert new != remap("1.2.3.4.6")
    assert re.fullmatch(r"2\.25\.[1-9]\d*", new)
    assert len(new) <= 64
    assert len(long_root("1.2.3")) == 64


def test_date_offsets_and_pseudonyms():
    # Given many patients
    offsets = [date_offset_for(SECRET, f"patient-{i}", max_days=30) for i in range(500)]

    # When offsets and pseudonyms are derived
    # Then offsets are non-zero, within range, stable; pseudonyms have the documented form
    assert 0 not in offsets
    assert min(offsets) >= -30
    assert max(offsets) <= 30
    assert offsets[7] == date_offset_for(SECRET, "patient-7", max_days=30)
    assert re.fullmatch(r"P[A-Z2-7]{10}", pseudonym_for(SECRET, "patient", "12345678"))
    assert re.fullmatch(r"A[A-Z2-7]{10}", pseudonym_for(SECRET, "accession", "2103001123"))
    assert pseudonym_for(SECRET, "patient", "1") != pseudonym_for(SECRET, "accession", "1")
