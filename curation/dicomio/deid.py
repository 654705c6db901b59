"""De-identifies DICOM datasets at ingest following the PS3.15 Basic Application Level Confidentiality Profile.

The caller supplies the pseudonyms, the per-patient date offset and the UID mapping (all derived from a
project secret by the helpers below, so re-ingesting a file gives the same result); this module applies the
action table (PS3.15 Table E.1-1) to the attributes chest radiographs carry and reports what it did.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
from collections import Counter
from collections.abc import Callable, Iterable

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from curation.dicomio.errors import DicomError
from curation.dicomio.scrub import scrub_report

DEID_METHOD_SHIFTED = "PS3.15 Basic Profile; dates shifted; UIDs remapped"
DEID_METHOD_REMOVED = "PS3.15 Basic Profile; dates removed; UIDs remapped"
# PS3.16 CID 7050 codes for the profile and its options.
CODE_BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_DESCRIPTORS = ("113105", "Clean Descriptors Option")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")
CODE_SAFE_PRIVATE = ("113111", "Retain Safe Private Option")
# UIDs defined by the standard (SOP classes, transfer syntaxes, coding schemes) identify no one: keep them.
DICOM_UID_ROOT = "1.2.840.10008."


def _tags(*keywords: str) -> frozenset[int]:
    tags = {tag_for_keyword(keyword) for keyword in keywords}
    missing = [keyword for keyword in keywords if tag_for_keyword(keyword) is None]
    if missing:
        raise RuntimeError(f"unknown DICOM keywords {missing}")
    return frozenset(int(tag) for tag in tags if tag is not None)


# D: replaced with the patient pseudonym.
_PATIENT_PSEUDONYM = _tags("PatientName", "PatientID")
_ACCESSION = _tags("AccessionNumber")
# Z: type 2 attributes that must stay present but empty.
_ZERO = _tags("ReferringPhysicianName", "StudyID", "ContentCreatorName")
# X: removed outright.
_REMOVE = _tags(
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientTelecomInformation",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientBirthTime",
    "MilitaryRank",
    "BranchOfService",
    "MedicalRecordLocator",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientReligiousPreference",
    "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence",
    "CountryOfResidence",
    "RegionOfResidence",
    "PatientState",
    "MedicalAlerts",
    "Allergies",
    "SpecialNeeds",
    "LastMenstrualDate",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "PersonAddress",
    "PersonTelephoneNumbers",
    "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence",
    "IssuerOfAccessionNumberSequence",
    "ReferencedPatientSequence",
    "ReferencedPatientPhotoSequence",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionalDepartmentName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "RequestingPhysician",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "ScheduledPerformingPhysicianName",
    "StationName",
    "DeviceSerialNumber",
    "PlateID",
    "DetectorID",
    "GantryID",
    "AdmissionID",
    "IssuerOfAdmissionIDSequence",
    "CurrentPatientLocation",
    "PatientInstitutionResidence",
    "RequestAttributesSequence",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
    "PerformedProcedureStepID",
    "PerformedStationName",
    "PerformedLocation",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
    "TimezoneOffsetFromUTC",
    "OriginalAttributesSequence",
    "ModifiedAttributesSequence",
    "ContentSequence",
    "DigitalSignaturesSequence",
    "MACParametersSequence",
    "DataSetTrailingPadding",
    # An icon may show the burned-in labels of the full image.
    "IconImageSequence",
)
# X unless the Clean Descriptors Option is on, then C: kept with residual PHI scrubbed.
_DESCRIPTORS = _tags(
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "ProtocolName",
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "AdmittingDiagnosesDescription",
    "DerivationDescription",
    "AcquisitionComments",
    "StudyComments",
    "ReasonForTheRequestedProcedure",
    "FrameComments",
)
# Kept with the Retain Patient Characteristics Option (age and sex are curation variables for chest films).
_PATIENT_CHARACTERISTICS = _tags("PatientSex", "PatientAge", "PatientSize", "PatientWeight", "SmokingStatus")
# UI attributes whose value names a class or syntax, never an instance.
_KEEP_UIDS = _tags(
    "SOPClassUID",
    "ReferencedSOPClassUID",
    "MediaStorageSOPClassUID",
    "TransferSyntaxUID",
    "ImplementationClassUID",
    "CodingSchemeUID",
    "ContextGroupExtensionCreatorUID",
    "AffectedSOPClassUID",
    "RequestedSOPClassUID",
)
_FILE_META_REMOVE = _tags(
    "SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle"
)
_OVERLAY_OR_CURVE_GROUPS = tuple(range(0x6000, 0x6020, 2)) + tuple(range(0x5000, 0x5020, 2))


@dataclasses.dataclass(frozen=True)
class DeidProfile:
    """Per-project de-identification settings; the defaults are the PS3.15 Basic Profile plus two options.

    retain_longitudinal_dates: shift DA/DT values by the patient's offset (Modified Dates option) rather than
    empty them. retain_patient_characteristics: keep sex, age, size and weight. remove_burned_in: refuse images
    whose header says BurnedInAnnotation=YES (pixels are never cleaned here); when False they are only flagged.
    clean_descriptors: keep study/series descriptions and comments, scrubbed, instead of removing them.
    """

    keep_private_tags: bool = False
    retain_longitudinal_dates: bool = True
    retain_patient_characteristics: bool = True
    remove_burned_in: bool = False
    clean_descriptors: bool = False


@dataclasses.dataclass
class DeidOutcome:
    """What deidentify did: burned-in flag, a count per action kind, and the original -> pseudonym map."""

    burned_in: bool
    actions: Counter
    pseudonyms: dict[str, str]


def deidentify(
    ds: Dataset,
    *,
    patient_pseudonym: str,
    date_offset_days: int,
    uid_for: Callable[[str], str],
    accession_pseudonym: str,
    profile: DeidProfile | None = None,
) -> DeidOutcome:
    """De-identify `ds` in place (dataset, nested sequences and file meta) and report what changed.

    Action kinds counted: D (replaced by a pseudonym), Z (emptied), X (removed), U (UID remapped),
    C (descriptor cleaned), shift (date shifted), private (private element removed).
    Raises DicomError when the profile refuses burned-in annotation and the header declares it.
    """
    profile = profile or DeidProfile()
    burned_in = str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    if burned_in and profile.remove_burned_in:
        raise DicomError("burned-in annotation: this project excludes images with text in the pixels")
    pseudonyms: dict[str, str] = {}
    patient_id = str(ds.get("PatientID", "") or "").strip()
    accession = str(ds.get("AccessionNumber", "") or "").strip()
    if patient_id:
        pseudonyms[patient_id] = patient_pseudonym
    if accession:
        pseudonyms[accession] = accession_pseudonym
    names = [str(ds.get(keyword, "") or "") for keyword in ("PatientName", "ReferringPhysicianName")]
    run = _Run(
        profile=profile,
        patient_pseudonym=patient_pseudonym,
        accession_pseudonym=accession_pseudonym,
        date_offset_days=date_offset_days,
        uid_for=uid_for,
        known_names=[name for name in names if name],
    )
    if not profile.keep_private_tags:
        before = _count_private(ds)
        ds.remove_private_tags()
        run.actions["private"] += before
    _clean(ds, run)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for tag in _FILE_META_REMOVE & set(meta.keys()):
            del meta[tag]
            run.actions["X"] += 1
        if "SOPInstanceUID" in ds:
            # The file meta must name the same (new) instance as the dataset.
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    _mark(ds, profile)
    return DeidOutcome(burned_in=burned_in, actions=run.actions, pseudonyms=pseudonyms)


@dataclasses.dataclass
class _Run:
    profile: DeidProfile
    patient_pseudonym: str
    accession_pseudonym: str
    date_offset_days: int
    uid_for: Callable[[str], str]
    known_names: list[str]
    actions: Counter = dataclasses.field(default_factory=Counter)


def _count_private(ds: Dataset) -> int:
    count = 0
    for elem in ds.iterall():
        count += elem.tag.is_private
    return count


def _clean(ds: Dataset, run: _Run) -> None:
    profile = run.profile
    for tag in list(ds.keys()):
        elem = ds[tag]
        tag_int = int(tag)
        if tag.group in _OVERLAY_OR_CURVE_GROUPS or tag_int in _REMOVE:
            del ds[tag]
            run.actions["X"] += 1
            continue
        if tag_int in _PATIENT_PSEUDONYM:
            elem.value = run.patient_pseudonym
            run.actions["D"] += 1
            continue
        if tag_int in _ACCESSION:
            elem.value = run.accession_pseudonym if elem.value else ""
            run.actions["D"] += 1
            continue
        if tag_int in _ZERO:
            elem.value = ""
            run.actions["Z"] += 1
            continue
        if tag_int in _DESCRIPTORS:
            if profile.clean_descriptors and elem.VR in ("LO", "SH", "LT", "ST", "UT"):
                cleaned = scrub_report(str(elem.value or ""), known_names=run.known_names).text
                elem.value = cleaned
                run.actions["C"] += 1
            else:
                del ds[tag]
                run.actions["X"] += 1
            continue
        if tag_int in _PATIENT_CHARACTERISTICS and not profile.retain_patient_characteristics:
            elem.value = ""
            run.actions["Z"] += 1
            continue
        if elem.VR == "SQ":
            for item in elem.value or Sequence():
                _clean(item, run)
            continue
        if elem.VR == "UI":
            _remap_uid(elem, tag_int, run)
            continue
        if elem.VR in ("DA", "DT"):
            _shift_date(elem, tag_int, run)
            continue
        if elem.VR == "PN" and elem.value:
            # A person's name in an attribute the table does not list (e.g. inside a sequence): empty it.
            elem.value = ""
            run.actions["Z"] += 1


def _remap_uid(elem, tag: int, run: _Run) -> None:
    if tag in _KEEP_UIDS or not elem.value:
        return
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    mapped = [str(v) if str(v).startswith(DICOM_UID_ROOT) else run.uid_for(str(v)) for v in values]
    elem.value = mapped if elem.VM > 1 else mapped[0]
    run.actions["U"] += 1


def _shift_date(elem, tag: int, run: _Run) -> None:
    if not elem.value:
        return
    if not run.profile.retain_longitudinal_dates:
        elem.value = ""
        run.actions["Z"] += 1
        return
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    shifted = [shift_date_value(str(v), run.date_offset_days, is_datetime=elem.VR == "DT") for v in values]
    elem.value = shifted if elem.VM > 1 else shifted[0]
    run.actions["shift"] += 1


def shift_date_value(value: str, days: int, *, is_datetime: bool = False) -> str:
    """Shift a DA ('YYYYMMDD') or the date part of a DT value by `days`; unparseable values become ''.

    Times are kept, so the order of events within a day survives.
    """
    text = value.strip()
    if len(text) < 8 or not text[:8].isdigit():
        return ""
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return ""
    moved = (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    return moved + text[8:] if is_datetime else moved


def _mark(ds: Dataset, profile: DeidProfile) -> None:
    ds.PatientIdentityRemoved = "YES"
    dates_shifted = profile.retain_longitudinal_dates
    ds.DeidentificationMethod = DEID_METHOD_SHIFTED if dates_shifted else DEID_METHOD_REMOVED
    codes = [CODE_BASIC_PROFILE]
    if dates_shifted:
        codes.append(CODE_MODIFIED_DATES)
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    if profile.retain_patient_characteristics:
        codes.append(CODE_PATIENT_CHARACTERISTICS)
    if profile.clean_descriptors:
        codes.append(CODE_CLEAN_DESCRIPTORS)
    if profile.keep_private_tags:
        codes.append(CODE_SAFE_PRIVATE)
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)


def _digest(secret: bytes, message: str) -> bytes:
    return hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()


def uid_remapper(secret: bytes, root: str = "2.25") -> Callable[[str], str]:
    """Return a deterministic UID mapping: HMAC-SHA256 of the original UID under `root`, at most 64 chars.

    The same secret maps the same UID to the same new UID on every run, so re-ingested files dedupe and
    the images of one study keep one StudyInstanceUID.
    """
    root = root.rstrip(".")
    room = 64 - len(root) - 1
    if room < 10:
        raise ValueError(f"UID root {root!r} leaves too little room")
    cache: dict[str, str] = {}

    def uid_for(uid: str) -> str:
        uid = uid.strip().rstrip("\x00")
        if uid not in cache:
            # 128 bits is what the 2.25 (UUID) root expects; a longer root gets fewer digits.
            number = int.from_bytes(_digest(secret, "uid:" + uid)[:16], "big")
            digits = str(number)[:room].lstrip("0") or "1"
            cache[uid] = f"{root}.{digits}"
        return cache[uid]

    return uid_for


def date_offset_for(secret: bytes, patient_key: str, max_days: int = 365) -> int:
    """Return the patient's non-zero date shift in days, in [-max_days, max_days], stable for the secret."""
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    number = int.from_bytes(_digest(secret, "date:" + patient_key)[:8], "big")
    offset = number % (2 * max_days) - max_days
    return offset if offset < 0 else offset + 1


_PREFIXES = {"patient": "P", "patient_id": "P", "accession": "A", "accession_number": "A"}


def pseudonym_for(secret: bytes, kind: str, value: str) -> str:
    """Return a stable pseudonym for `value` of `kind`: a prefix ('P' patient, 'A' accession) + 10 base32 chars."""
    prefix = _PREFIXES.get(kind, kind[:1].upper() or "X")
    digest = _digest(secret, f"pseudonym:{kind}:{value.strip()}")
    return prefix + base64.b32encode(digest).decode("ascii")[:10]


def phi_values(ds: Dataset) -> Iterable[str]:
    """Yield every non-empty element value of `ds`, its sequences and file meta as text (for PHI checks)."""
    meta = getattr(ds, "file_meta", None)
    sources = [ds] if meta is None else [meta, ds]
    for source in sources:
        for elem in source.iterall():
            if elem.VR == "SQ" or elem.value in (None, b"", ""):
                continue
            if isinstance(elem.value, bytes):
                if elem.tag == 0x7FE00010:
                    continue
                yield elem.value.decode("latin-1", errors="replace")
            elif elem.VM > 1:
                yield "\\".join(str(v) for v in elem.value)
            else:
                yield str(elem.value)
