"""No seeded PHI is stored anywhere: after the demo, and after every import path (an uploaded zip or a server
folder, for every manifest format and for DICOM), every file in storage (zips opened, DICOM elements walked,
image text chunks read) and every text column of the database is searched for the PHI the test data was
seeded with. Only the admin-only pseudonym map (curation.models.PseudonymMap) may hold it.
"""

import csv
import dataclasses
import io
import json
import re
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from curation.demo import generate_dataset
from curation.models import Image, Job, JobStatus, PseudonymMap, RenderStatus, Report
from curation.services import demo, ingest
from tests.phi_scan import assert_no_phi, compile_values, scan_storage

# A report as hospitals write them: the patient, clinicians with and without titles, record numbers,
# contacts, an address, the hospital, an SSN, ages over 89. One date only (the birth date): report dates
# are shifted per patient, and a second date could be shifted onto the first by chance.
REPORT = """EXAMINATION: CHEST PA AND LATERAL
HISTORY: 93-year-old woman with cough. Patient: HALVORSEN, INGRID   MRN: 4839201   DOB: 06/29/1946
FINDINGS: Small left pleural effusion. No pneumothorax. Heart size is normal.
IMPRESSION: Small left pleural effusion.
Findings discussed with Dr. Okonkwo by telephone at 555-867-1234 and with Maria Gonzalez, RN.
Preliminary read by Priya Raghunathan. Patient aged 93, lives at 1423 Birchwood Lane, Springfield, IL 62704.
Seen at St. Mary's Memorial Hospital; SSN 123-45-6789. Questions: jdoe@stmarys-hospital.org or
https://portal.mercyview.org/results/4839201
"""
REPORT_PHI = {
    "Halvorsen": "patient name",
    "Ingrid": "patient name",
    "4839201": "MRN",
    "06/29/1946": "birth date",
    "93-year-old": "age over 89",
    "aged 93": "age over 89",
    "Okonkwo": "clinician name with title",
    "555-867-1234": "phone",
    "Gonzalez": "clinician name with post-nominal",
    "Raghunathan": "clinician name without title",
    "Priya": "clinician name without title",
    "1423 Birchwood Lane": "street address",
    "62704": "ZIP code",
    "Mary's Memorial": "institution",
    "123-45-6789": "SSN",
    "jdoe@stmarys-hospital.org": "e-mail",
    "portal.mercyview.org": "URL",
}
# What a hospital's export tool writes into a PNG's text chunks.
PNG_TEXT = {"PatientName": "KOWALCZYK^TERESA", "PatientID": "55031877"}
PNG_PHI = {"KOWALCZYK": "PNG text chunk (patient name)", "55031877": "PNG text chunk (patient id)"}
REPORT_DATE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}")  # how the demo generator writes dates in reports
# The uploaded archive's own file name.
ZIP_NAME = "export_VASQUEZ^ELENA_4471902.zip"
ZIP_NAME_PHI = {"VASQUEZ^ELENA": "upload file name", "4471902": "upload file name"}


@dataclasses.dataclass
class Source:
    """A dataset to import: its files, the import's source and mapping, the PHI seeded in it."""

    source: str
    files: dict[str, bytes]
    phi: dict[str, str]
    imported: int
    reports: int
    mapping: dict | None = None
    truth: dict | None = None


def _png(text: dict | None = None) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    PILImage.new("L", (16, 16), 80).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _csv(header: list[str], rows: list[list], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def _nih() -> Source:
    # NIH has no reports: its only PHI channel is the images' own metadata.
    header = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender"]
    header += ["View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]
    rows = [
        ["00000001_000.png", "Cardiomegaly|Effusion", 0, 1, 58, "M", "PA", 2682, 2749, 0.143, 0.143],
        ["00000001_001.png", "No Finding", 1, 1, 59, "M", "AP", 2500, 2048, 0.168, 0.168],
    ]
    files = {"Data_Entry_2017.csv": _csv(header, rows)}
    files.update({f"images_001/images/{row[0]}": _png(PNG_TEXT) for row in rows})
    return Source("nih", files, PNG_PHI, imported=2, reports=0)


CHEXPERT_LABELS = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]


def _chexpert() -> Source:
    # valid.csv, with the study's report in CheXpert Plus' sections.
    header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS]
    values = ["", "", "1.0", "", "", "-1.0", "", "", "", "0.0", "1.0", "", "", "1.0"]
    study = "CheXpert-v1.0-small/valid/patient64541/study1"
    files = {
        "CheXpert-v1.0-small/valid.csv": _csv(
            header,
            [
                [f"{study}/view1_frontal.jpg", "Female", 73, "Frontal", "AP", *values],
                [f"{study}/view2_lateral.jpg", "Female", 73, "Lateral", "", *values],
            ],
        ),
        f"{study}/view1_frontal.jpg": _png(),
        f"{study}/view2_lateral.jpg": _png(),
    }
    history, rest = REPORT.split("FINDINGS:", 1)
    findings, impression = rest.split("IMPRESSION:", 1)
    files["df_chexpert_plus_240401.csv"] = _csv(
        ["path_to_image", "section_history", "section_findings", "section_impression"],
        [["train/patient64541/study1/view1_frontal.jpg", history, findings, impression]],
    )
    return Source("chexpert", files, REPORT_PHI, imported=2, reports=1)


def _mimic() -> Source:
    dicom_id = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
    header = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition"]
    header += ["Rows", "Columns", "StudyDate", "StudyTime"]
    row = [dicom_id, 10000032, 50414267, "CHEST (PA AND LAT)", "PA", 3056, 2544, 21800506, 213014.531]
    files = {
        "mimic-cxr-2.0.0-metadata.csv": _csv(header, [row]),
        f"files/p10/p10000032/s50414267/{dicom_id}.jpg": _png(),
        "files/p10/p10000032/s50414267.txt": ("                                 FINAL REPORT\n" + REPORT).encode(),
    }
    return Source("mimic", files, REPORT_PHI, imported=1, reports=1)


def _openi() -> Source:
    history, rest = REPORT.split("FINDINGS:", 1)
    findings, impression = rest.split("IMPRESSION:", 1)
    files = {
        "indiana_reports.csv": _csv(
            ["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings", "impression"],
            [
                [1, "Pleural Effusion/left", "Pleural Effusion", "Xray Chest PA and Lateral", history, "None."]
                + [findings, impression]
            ],
        ),
        "indiana_projections.csv": _csv(
            ["uid", "filename", "projection"],
            [[1, "1_IM-0001-4001.dcm.png", "Frontal"], [1, "1_IM-0001-3001.dcm.png", "Lateral"]],
        ),
        "images/images_normalized/1_IM-0001-4001.dcm.png": _png(),
        "images/images_normalized/1_IM-0001-3001.dcm.png": _png(),
    }
    return Source("openi", files, REPORT_PHI, imported=2, reports=1)


def _padchest() -> Source:
    header = ["ImageID", "ImageDir", "StudyDate_DICOM", "StudyID", "PatientID", "PatientBirth"]
    header += ["PatientSex_DICOM", "ViewPosition_DICOM", "Projection", "Labels", "Report"]
    rows = [
        ["img1.png", 0, 20140905, "st1", "pt1", 1939, "F", "POSTEROANTERIOR", "PA", "['pleural effusion']", REPORT],
        ["img2.png", 0, 20140905, "st1", "pt1", 1939, "F", "LATERAL", "L", "['pleural effusion']", REPORT],
    ]
    files = {
        "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv": _csv(header, rows, encoding="cp1252"),
        "0/img1.png": _png(),
        "0/img2.png": _png(),
    }
    return Source("padchest", files, REPORT_PHI, imported=2, reports=1)


def _generic() -> Source:
    # A hospital's own CSV: its keys are identifiers, its folders are named after patients, its PNGs carry
    # text chunks. One row's image is missing, one row's path is absolute: both become job errors.
    mapping = {
        "patient_key": "pid",
        "study_key": "acc",
        "path": "file",
        "study_date": "date",
        "view_position": "view",
        "report_text": "report",
        "label_prefix": "label_",
    }
    rows = [
        ["MRN00482913", "ACC7730021", "DOE^JANE_88619809_DOB19460629/chest_pa.png", "2021-03-04", "PA", REPORT, "1"],
        ["MRN00482913", "ACC7730022", "SMITH^JOHN_77120334_DOB19511103/chest_pa.png", "2021-05-04", "PA", "", "0"],
        ["MRN00519377", "ACC7730023", "/mnt/pacs/ROE^ANNA_66120991/chest_ap.png", "2021-06-01", "AP", "", "0"],
    ]
    files = {
        "manifest.csv": _csv(["pid", "acc", "file", "date", "view", "report", "label_Effusion"], rows),
        "DOE^JANE_88619809_DOB19460629/chest_pa.png": _png(PNG_TEXT),
    }
    phi = {
        **REPORT_PHI,
        **PNG_PHI,
        "MRN00482913": "patient id",
        "00482913": "patient id",
        "00519377": "patient id",
        "ACC7730021": "accession number",
        "7730021": "accession number",
        "7730022": "accession number",
        "7730023": "accession number",
        "DOE^JANE": "folder name (patient name)",
        "88619809": "folder name (patient id)",
        "19460629": "folder name (birth date)",
        "SMITH^JOHN": "folder name (patient name)",
        "77120334": "folder name (patient id)",
        "19511103": "folder name (birth date)",
        "ROE^ANNA": "folder name (patient name)",
        "66120991": "folder name (patient id)",
    }
    return Source("csv", files, phi, imported=2, reports=1, mapping=mapping)


def _dicom(tmp_path: Path) -> Source:
    generated = tmp_path / "generated"
    generate_dataset(generated, n_patients=1, seed=5, image_size=64)
    truth = json.loads((generated / "truth.json").read_text())
    files = {
        p.relative_to(generated).as_posix(): p.read_bytes()
        for p in sorted(generated.rglob("*"))
        if p.is_file() and (p.name == "reports.csv" or p.suffix == ".dcm")
    }
    return Source(
        "dicom",
        files,
        _truth_phi(truth),
        imported=len(_truth_images(truth)),
        reports=len(truth["studies"]),
        truth=truth,
    )


BUILDERS = {
    "nih": _nih,
    "chexpert": _chexpert,
    "mimic": _mimic,
    "openi": _openi,
    "padchest": _padchest,
    "csv": _generic,
}


def _truth_images(truth: dict) -> list[dict]:
    return [image for study in truth["studies"].values() for image in study["images"]]


def _truth_phi(truth: dict) -> dict[str, str]:
    """The demo generator's PHI (tests/curation/test_ingest_dicom.py `_phi_values`), by kind, and its UIDs."""
    values: dict[str, str] = {}
    for patient in truth["patients"].values():
        for key, value in patient.items():
            if key == "patient_sex":
                continue
            values[value] = key
            if key.endswith("_name"):
                values.update({part: key for part in value.split("^") if len(part) >= 4 and part != "DR"})
    for uid, study in truth["studies"].items():
        values[study["accession_number"]] = "accession number"
        values[uid] = "original StudyInstanceUID"
        for image in study["images"]:
            values[image["series_instance_uid"]] = "original SeriesInstanceUID"
            values[image["sop_instance_uid"]] = "original SOPInstanceUID"
        # Dates in report text are shifted, not removed, and a shifted date can equal another study's
        # original date by chance: they are checked per study (_report_dates_are_gone).
        for value in study["report"]["phi"]:
            if len(value) >= 4 and not REPORT_DATE.fullmatch(value):
                values[value] = "report text"
    return values


def _present_in(folder: Path, phi: dict[str, str]) -> set[str]:
    """The seeded values the scanner finds in the source: proof that it would find them in storage too."""
    return {finding.value for finding in scan_storage(folder, compile_values(phi))}


def _write(files: dict[str, bytes], folder: Path) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _stored_dicom_dates_are_shifted(media: Path, truth: dict) -> int:
    """Each stored DICOM's dates differ from its study's original date (per file: a byte search over all files
    could meet one study's shifted date equal to another's original). Returns how many files were checked."""
    originals = dict(PseudonymMap.objects.filter(kind="uid").values_list("pseudonym", "original"))
    checked = 0
    for path in media.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        original_date = truth["studies"][originals[ds.StudyInstanceUID]]["study_date"].replace("-", "")
        for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            assert ds.get(keyword, "") != original_date, (keyword, path.relative_to(media).as_posix())
        checked += 1
    return checked


def _report_dates(truth: dict) -> list[str]:
    return [v for s in truth["studies"].values() for v in s["report"]["phi"] if REPORT_DATE.fullmatch(v)]


def _report_dates_are_gone(truth: dict) -> int:
    """Each stored report holds none of its own original dates. Returns how many dates were checked."""
    originals = dict(PseudonymMap.objects.filter(kind="uid").values_list("pseudonym", "original"))
    checked = 0
    for study_key, text in Report.objects.values_list("study__study_key", "text"):
        for value in truth["studies"][originals[study_key]]["report"]["phi"]:
            if REPORT_DATE.fullmatch(value):
                assert value not in text, (value, study_key)
                checked += 1
    return checked


@pytest.fixture
def inline_jobs(settings):
    settings.JOBS_IN_PROCESS_THREAD = False


def _import_zip(api, members, source: Source, capture) -> Job:
    body = {"source": source.source, "file": SimpleUploadedFile(ZIP_NAME, _zip(source.files), "application/zip")}
    if source.mapping:
        body["mapping"] = json.dumps(source.mapping)
    with capture(execute=True):
        response = api(members["curator"]).post("/api/projects/chest/imports/", body, format="multipart")
    assert response.status_code == 201, response.content
    return Job.objects.get(pk=response.json()["id"])


def _import_folder(api, members, source: Source, folder: Path, settings, capture) -> Job:
    settings.IMPORT_ALLOWED_ROOTS = [str(folder)]
    body = {"source": source.source, "path": str(folder)}
    if source.mapping:
        body["mapping"] = source.mapping
    with capture(execute=True):
        response = api(members["admin"]).post("/api/projects/chest/imports/", body, format="json")
    assert response.status_code == 201, response.content
    return Job.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("origin", ["zip", "folder", "cli"])
@pytest.mark.parametrize("fmt", [*BUILDERS, "dicom"])
def test_an_import_stores_none_of_the_seeded_phi(
    fmt, origin, members, api, tmp_path, settings, inline_jobs, django_capture_on_commit_callbacks
):
    # Given a dataset seeded with PHI, every value of which the scanner finds in the source
    source = _dicom(tmp_path) if fmt == "dicom" else BUILDERS[fmt]()
    folder = _write(source.files, tmp_path / "dataset")
    phi = {**source.phi, **(ZIP_NAME_PHI if origin == "zip" else {})}
    if source.truth is None:
        assert _present_in(folder, source.phi) == set(source.phi)
    else:
        phi = {v: kind for v, kind in phi.items() if v in _present_in(folder, phi)}
        assert len(phi) > 10
    # When it is imported from an uploaded zip, from a server folder, or by the CLI from a server folder
    if origin == "zip":
        job = _import_zip(api, members, source, django_capture_on_commit_callbacks)
    elif origin == "cli":
        job = Job.objects.get(pk=ingest.import_from_cli("chest", source.source, str(folder), source.mapping)["job"])
    else:
        job = _import_folder(api, members, source, folder, settings, django_capture_on_commit_callbacks)
    # Then the import did its work: every row in, every present image rendered, every report stored
    assert (job.status, job.counters.get("imported")) == (JobStatus.SUCCEEDED, source.imported), job.errors
    assert Image.objects.filter(render_status=RenderStatus.DONE).count() == source.imported - (fmt == "csv")
    assert Report.objects.exclude(text="").count() == source.reports
    # And no stored file and no database column outside the pseudonym map holds any seeded value
    files = assert_no_phi(settings.MEDIA_ROOT, phi, exclude_models=(PseudonymMap,))
    assert files >= source.imported
    if source.truth is not None:
        assert _stored_dicom_dates_are_shifted(Path(settings.MEDIA_ROOT), source.truth) == source.imported
        assert _report_dates_are_gone(source.truth) == len(_report_dates(source.truth)) == 3


@pytest.mark.django_db(transaction=True)
def test_the_demo_stores_none_of_its_generated_phi(monkeypatch, settings, tmp_path):
    # Given the demo's two cohorts (the judged one and the reference masks' one), regenerated from their seeds
    settings.JOBS_IN_PROCESS_THREAD = False
    params = {"patients": 2, "seed": 3, "image_size": 64}
    monkeypatch.setattr(demo, "DEMO_PARAMS", params)
    truths, phi = [], {}
    for seed in (params["seed"], params["seed"] + 1000):
        folder = tmp_path / f"cohort{seed}"
        generate_dataset(folder, n_patients=params["patients"], seed=seed, image_size=params["image_size"])
        truth = json.loads((folder / "truth.json").read_text())
        (folder / "truth.json").unlink()  # the demo imports the other files only
        values = _truth_phi(truth)
        phi.update({v: kind for v, kind in values.items() if v in _present_in(folder, values)})
        truths.append(truth)
    assert len(phi) > 20
    # When the demo runs every pipeline job
    call_command("demo")
    # Then it succeeded and stored files
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}
    # And no stored file and no database column outside the pseudonym map holds any generated value
    files = assert_no_phi(settings.MEDIA_ROOT, phi, exclude_models=(PseudonymMap,))
    assert files > Image.objects.count()
    # And the judged cohort's study dates and report dates are shifted, per study
    media = Path(settings.MEDIA_ROOT)
    assert _stored_dicom_dates_are_shifted(media, truths[0]) == Image.objects.count()
    assert _report_dates_are_gone(truths[0]) == len(_report_dates(truths[0])) == 2
