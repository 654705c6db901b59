"""Importing studies: DICOM folders and dataset manifests, from a server folder, an uploaded zip or storage.

The import job walks the source in batches: DICOM files are indexed, de-identified and stored; manifest
rows are mapped onto the same models. Per-item problems become job errors and the rest goes on.
Pixels are decoded later by the render job (curation.services.rendering), on the ingest queue too.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .. import audit, locks
from ..dicomio.imagemeta import strip_metadata
from ..models import Dataset, Project, RenderStatus
from ..redact import redact_path
from ..tasking import JobFailed
from .ingest_writer import ImportCache, IngestItem, PipelinedWriter, write_batch
from .pseudonyms import Pseudonymizer

logger = logging.getLogger(__name__)

SOURCES = tuple(Dataset.values)
PUBLIC_DATASETS = {"nih", "chexpert", "mimic", "openi", "padchest"}
MANIFEST_BATCH = 10000  # rows per transaction: fewer WAL flushes; a lost worker redoes at most this many
REPORT_FILES = ("reports.csv",)


# --- parameters and permissions --------------------------------------------------------------------
def allowed_roots() -> list[Path]:
    return [Path(p).resolve() for p in settings.IMPORT_ALLOWED_ROOTS]


def _check_not_storage(folder: Path) -> None:
    """Importing the folder that holds our own storage would re-import our de-identified outputs."""
    media = Path(settings.MEDIA_ROOT).resolve()
    if folder == media or media in folder.parents or folder in media.parents:
        raise ValidationError(
            {"path": f"{str(folder)!r} holds the platform's own file storage; import from elsewhere."}
        )


def resolve_server_path(path: str) -> Path:
    """A server folder is allowed only under one of settings.IMPORT_ALLOWED_ROOTS."""
    roots = allowed_roots()
    if not roots:
        raise ValidationError({"path": "Server-side imports are disabled (set IMPORT_ALLOWED_ROOTS)."})
    candidate = Path(path).resolve()
    if not any(candidate == root or root in candidate.parents for root in roots):
        raise ValidationError({"path": f"{path!r} is not under an allowed import root."})
    if not candidate.is_dir():
        raise ValidationError({"path": f"{path!r} is not a folder on the server."})
    _check_not_storage(candidate)
    return candidate


def clean_import_params(params: dict, project: Project, *, trusted_path: bool = False) -> dict:
    """Check an import's params: a known source, exactly one origin (a server folder or an Upload id of
    this project), and for the generic CSV a bounded column mapping. Unknown keys are refused."""
    source = params.get("source", "")
    if source not in SOURCES:
        raise ValidationError({"source": f"Unknown source {str(source)[:40]!r}; use one of {', '.join(SOURCES)}."})
    unknown = sorted(set(params) - {"source", "path", "upload", "mapping"})
    if unknown:
        raise ValidationError({"params": f"Unknown import parameters: {', '.join(k[:40] for k in unknown[:10])}."})
    clean = {"source": source, **clean_origin(params, project, trusted_path=trusted_path)}
    if source == "csv":
        clean["mapping"] = clean_mapping(params.get("mapping"))
    elif params.get("mapping"):
        raise ValidationError({"mapping": "A column mapping goes with the generic CSV source only."})
    return clean


def clean_origin(params: dict, project: Project, *, trusted_path: bool = False) -> dict:
    """The origin of a file source: {"path": resolved server folder} or {"upload": Upload id}."""
    from .uploads import clean_upload_ref

    has_path = params.get("path") not in (None, "")
    has_upload = params.get("upload") not in (None, "")
    if has_path == has_upload:
        raise ValidationError({"path": "Give exactly one of: a server folder (path) or an uploaded zip (upload)."})
    if has_upload:
        return {"upload": clean_upload_ref(project, params["upload"])}
    path = params["path"]
    if not isinstance(path, str) or len(path) > 1000 or "\x00" in path:
        raise ValidationError({"path": "A server folder is a path of at most 1,000 characters."})
    if trusted_path:  # the CLI: an operator with a shell on the server names any folder
        folder = Path(path).resolve()
        if not folder.is_dir():
            raise ValidationError({"path": f"{path!r} is not a folder."})
        _check_not_storage(folder)
        return {"path": str(folder)}
    return {"path": str(resolve_server_path(path))}


MAPPING_TEXT_MAX = 200  # characters of one column name in a mapping
MAPPING_LIST_MAX = 500  # columns named in mapping['labels'] or mapping['extra']


def clean_mapping(mapping) -> dict:
    """A generic CSV mapping: known keys, column names as short strings, mapping['csv'] a relative name."""
    from ..manifests.generic import COLUMN_FIELDS, OTHER_KEYS, is_plain_relative

    if not isinstance(mapping, dict) or not mapping:
        raise ValidationError({"mapping": "A generic CSV import needs a column mapping (a JSON object)."})
    unknown = sorted(str(k)[:40] for k in set(mapping) - set(COLUMN_FIELDS) - OTHER_KEYS)
    if unknown:
        raise ValidationError({"mapping": f"Unknown mapping keys: {', '.join(unknown[:10])}."})
    clean: dict = {}
    for key, value in mapping.items():
        if key in ("labels", "extra"):
            if not isinstance(value, list) or len(value) > MAPPING_LIST_MAX:
                raise ValidationError({"mapping": f"mapping['{key}'] is a list of at most {MAPPING_LIST_MAX} columns."})
            if not all(isinstance(v, str) and 0 < len(v) <= MAPPING_TEXT_MAX for v in value):
                raise ValidationError({"mapping": f"mapping['{key}'] holds column names (short strings)."})
            clean[key] = list(value)
            continue
        if not isinstance(value, str) or len(value) > MAPPING_TEXT_MAX:
            raise ValidationError(
                {"mapping": f"mapping['{key}'] must be a string of at most {MAPPING_TEXT_MAX} characters."}
            )
        if key == "csv" and value and not is_plain_relative(value):
            raise ValidationError(
                {"mapping": "mapping['csv'] is the name of the CSV inside the upload or folder (no '..', no '/')."}
            )
        clean[key] = value
    return clean


# --- materialising a source as a local folder ---------------------------------------------------
@contextlib.contextmanager
def local_source(params: dict, ctx) -> Iterator[tuple[Path, bool]]:
    """Yield (local folder, persistent): persistent folders may be referenced by later render jobs."""
    if "path" in params:
        yield Path(params["path"]), True
        return
    from ..archives import ArchiveError, extract_zip_safely
    from .uploads import open_upload

    with tempfile.TemporaryDirectory(prefix="import-") as tmp:
        root = Path(tmp)
        archive = root / "upload.zip"
        with open_upload(ctx.project, params["upload"]) as src, archive.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        try:
            _, errors = extract_zip_safely(archive, root / "files", **settings.IMPORT_ZIP_LIMITS)
        except ArchiveError as exc:
            raise ImportFailed(f"The archive was refused: {exc}") from exc
        archive.unlink()
        for error in errors:
            ctx.error(error.item, error.reason)
        yield root / "files", False


class ImportFailed(JobFailed):
    """The whole import cannot go on (the archive was refused, the manifest is unreadable)."""


# --- the import job body ------------------------------------------------------------------------
@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    studies: int = 0
    patients: int = 0
    reports: int = 0

    def add(self, outcome) -> None:
        self.imported += outcome.imported
        self.duplicates += outcome.duplicates
        self.studies += outcome.studies_created
        self.patients += outcome.patients_created
        self.reports += outcome.reports_created


def run_import(ctx) -> dict:
    """The body of the `ingest.import` job."""
    params, project = ctx.params, ctx.project
    summary = ImportSummary()

    def waiting(already: bool) -> None:
        if not already:
            ctx.message("Waiting for another import into this project to finish.")
        ctx.check_cancelled()

    with locks.project_import_lock(project.pk, on_wait=waiting), local_source(params, ctx) as (root, persistent):
        ctx.message("")  # no longer waiting, if it was
        if params["source"] == "dicom":
            import_dicom_folder(ctx, project, root, summary)
        else:
            import_manifest(ctx, project, params["source"], root, params.get("mapping"), persistent, summary)
    return {
        "imported": summary.imported,
        "duplicates": summary.duplicates,
        "studies_created": summary.studies,
        "patients_created": summary.patients,
        "reports_created": summary.reports,
    }


def deid_options(project: Project) -> dict:
    options = {"enabled": True, "public_datasets_as_published": True, "keep_private_tags": False}
    options.update(project.options.get("deid", {}))
    return options


# DICOM -------------------------------------------------------------------------------------------
NOT_DICOM_SUFFIXES = (".csv", ".json", ".txt", ".md", ".png", ".jpg", ".jpeg", ".gz", ".npz", ".npy")


def _dicom_files(root: Path) -> tuple[list[Path], int]:
    """Candidate DICOM files (any name, .dcm or none), and how many known non-DICOM files were skipped."""
    files, skipped = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__MACOSX")))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                skipped += 1  # never followed: a link in a server folder could point anywhere
                continue
            if name.lower().endswith(NOT_DICOM_SUFFIXES):
                skipped += 1  # reports.csv, masks, notes: not images to index here
                continue
            files.append(Path(dirpath) / name)
    return files, skipped


def _read_reports_csv(root: Path, ctx) -> dict[str, str]:
    """Reports for DICOM imports: a reports.csv keyed by StudyInstanceUID (or AccessionNumber)."""
    reports: dict[str, str] = {}
    for path in root.rglob("reports.csv"):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
        reader = csv.DictReader(io.StringIO(text))
        fields = set(reader.fieldnames or [])
        text_col = next((c for c in ("report", "text", "Report") if c in fields), None)
        key_cols = [c for c in ("StudyInstanceUID", "AccessionNumber") if c in fields]
        if not text_col or not key_cols:
            ctx.error(path.name, "reports.csv needs a StudyInstanceUID or AccessionNumber column and a report column")
            continue
        for row in reader:
            for col in key_cols:
                if row.get(col):
                    reports[f"{col}:{row[col]}"] = row.get(text_col) or ""
    return reports


def import_dicom_folder(ctx, project: Project, root: Path, summary: ImportSummary) -> None:
    from ..dicomio import DeidProfile, DicomError
    from ..dicomio.errors import human_size

    files, skipped = _dicom_files(root)
    ctx.set_total(len(files))
    if skipped:
        ctx.count(skipped_non_dicom=skipped)
    reports = _read_reports_csv(root, ctx)
    options = deid_options(project)
    profile = DeidProfile(keep_private_tags=options["keep_private_tags"])
    pz = Pseudonymizer(project)
    cache = ImportCache(project, Dataset.DICOM)
    max_bytes = settings.IMPORT_MAX_FILE_BYTES
    step = settings.IMPORT_DICOM_BATCH
    for start in range(0, len(files), step):
        batch = files[start : start + step]
        items: list[IngestItem] = []
        for path in batch:
            rel = path.relative_to(root).as_posix()
            size = path.stat().st_size
            if size > max_bytes:
                ctx.error(rel, f"file is {human_size(size)}, over the {human_size(max_bytes)} limit")
                ctx.advance(1, failed=1)
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            # A file already imported is skipped before the costly de-identification (the cache holds
            # every hash of the project, updated as batches commit).
            if digest in cache.hashes:
                summary.duplicates += 1
                ctx.advance(1, duplicates=1)
                continue
            try:
                item = _dicom_item(project, data, digest, rel, pz, profile, options, reports)
            except DicomError as exc:
                ctx.error(rel, exc.reason)
                ctx.advance(1, failed=1)
                continue
            except Exception as exc:  # a file pydicom chokes on must not stop the batch
                logger.warning("Unreadable DICOM %s: %s", redact_path(rel), type(exc).__name__)
                ctx.error(rel, f"unreadable DICOM file ({type(exc).__name__}: {str(exc)[:200]})")
                ctx.advance(1, failed=1)
                continue
            items.append(item)
        if items:
            outcome = write_batch(project, Dataset.DICOM, items, before_commit=pz.flush, cache=cache)
            summary.add(outcome)
            ctx.advance(len(items), imported=outcome.imported, duplicates=outcome.duplicates)


def _dicom_item(project, data, digest, rel, pz, profile, options, reports) -> IngestItem:
    """One DICOM file checked, de-identified and stored; its row data for the batch writer."""
    import pydicom

    from ..dicomio import DicomError, deidentify, header_from_dataset, read_header, scrub_report

    # The indexer's checks first (not DICOM, truncated, no pixel data...), then the full parse.
    # The pixel count (rows x columns x frames) is checked from the header: a file claiming 30000² is refused
    # here, before it is stored, rather than failing every render job later.
    if not read_header(io.BytesIO(data), max_pixels=settings.IMAGE_MAX_PIXELS).has_pixel_data:
        raise DicomError("no pixel data")
    ds = pydicom.dcmread(io.BytesIO(data), force=False)
    original = header_from_dataset(ds, has_pixel_data=True)
    report = reports.get(f"StudyInstanceUID:{original.study_instance_uid}") or reports.get(
        f"AccessionNumber:{original.accession_number}"
    )
    patient_original = original.patient_id or f"no-patient-id:{original.study_instance_uid}"
    scrubbed, n_scrubbed = report, 0
    offset = None
    if options["enabled"]:
        patient_key, offset = pz.patient(patient_original)
        accession = pz.accession(original.accession_number)
        deidentify(
            ds,
            patient_pseudonym=patient_key,
            date_offset_days=offset,
            uid_for=pz.uid,
            accession_pseudonym=accession,
            profile=profile,
        )
    else:
        patient_key, accession = patient_original, original.accession_number
    if report:
        # Every import path scrubs report text, whatever the DICOM de-identification options say.
        names = [n for n in (original.patient_name, original.referring_physician) if n]
        result = scrub_report(report, date_offset_days=offset, known_names=names)
        scrubbed, n_scrubbed = result.text, len(result.replacements)
    header = header_from_dataset(ds, has_pixel_data=True)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    name = f"projects/{project.slug}/originals/{header.study_instance_uid}/{header.sop_instance_uid}.dcm"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(out.getvalue()))
    return IngestItem(
        patient_key=patient_key,
        study_key=header.study_instance_uid,
        image_key=header.sop_instance_uid,
        sex=header.patient_sex,
        study_date=header.study_date,
        accession=accession,
        age_years=header.patient_age_years,
        view_position=header.view_position,
        modality=header.modality,
        rows=header.rows,
        columns=header.columns,
        pixel_spacing=header.pixel_spacing,
        photometric=header.photometric,
        bits_stored=header.bits_stored,
        burned_in=original.burned_in_annotation,
        series_uid=header.series_instance_uid,
        series_number=header.series_number,
        content_sha256=digest,
        original=name,
        source_path=redact_path(rel),  # for reference only: the pixels are read from `original`
        report_text=scrubbed,
        scrubbed_items=n_scrubbed,
    )


# Manifests ---------------------------------------------------------------------------------------
def import_manifest(ctx, project, source, root, mapping, persistent, summary: ImportSummary) -> None:
    from ..dicomio import scrub_report
    from ..manifests import ManifestError, read_manifest

    options = deid_options(project)
    as_published = source in PUBLIC_DATASETS and options["public_datasets_as_published"]
    pz = Pseudonymizer(project) if options["enabled"] and not as_published else None
    writer = None
    try:
        total = _line_count_total(source, root)
        if total is None:
            # A first pass without file checks only counts rows, so the progress bar has a total.
            total = sum(
                1
                for kind, _ in _classified(read_manifest(source, root, check_files=False, mapping=mapping))
                if kind != "warning"
            )
        ctx.set_total(total)
        batch: list[IngestItem] = []
        cache = ImportCache(project, source)
        writer = PipelinedWriter(project, source, cache) if pz is None and PipelinedWriter.usable() else None
        for kind, obj in _classified(read_manifest(source, root, check_files=True, mapping=mapping)):
            if kind == "warning":  # about the record just read (missing image, bad age): it is still imported
                ctx.error(obj.item, obj.reason)
                continue
            if kind == "rejected":
                ctx.error(obj.item, obj.reason)
                ctx.advance(1, failed=1)
                continue
            batch.append(_manifest_item(project, obj, root, persistent, pz, scrub_report, ctx))
            if len(batch) >= MANIFEST_BATCH:
                _flush_manifest_batch(ctx, project, source, batch, pz, summary, cache, writer)
                batch = []
        if batch:
            _flush_manifest_batch(ctx, project, source, batch, pz, summary, cache, writer)
        if writer is not None:
            writer.close()
            writer = None
    except ManifestError as exc:
        # Name the source as "the source folder", never by its path on this server.
        raise ImportFailed(str(exc).replace(str(root), "the source folder")) from exc
    finally:
        if writer is not None:  # cancelled or failed midway: let submitted batches finish, then stop
            try:
                writer.close()
            except RuntimeError:
                logger.exception("An import batch failed after the import itself stopped")


def _line_count_total(source: str, root: Path) -> int | None:
    """Rows of one-line-per-row manifests (NIH, CheXpert), counted as lines: a parse-free progress total."""
    from ..manifests import chexpert, nih
    from ..manifests.common import find_file

    names = {"nih": nih.MANIFEST_NAMES, "chexpert": chexpert.SPLIT_FILES}.get(source)
    if names is None:
        return None
    files = [f for f in (find_file(root, [name]) for name in names) if f is not None]
    if source == "nih":
        files = files[:1]
    total = 0
    for path in files:
        with path.open("rb") as fh:
            total += max(0, sum(chunk.count(b"\n") for chunk in iter(lambda fh=fh: fh.read(1 << 20), b"")) - 1)
    return total or None


def _classified(items):
    """Tell row warnings from rejected rows: a RowError right after a record of the same row is a warning."""
    from ..manifests import ImageRecord

    last_row = None
    for obj in items:
        if isinstance(obj, ImageRecord):
            last_row = obj.row
            yield "record", obj
        elif last_row is not None and obj.item.endswith(f":{last_row}"):
            yield "warning", obj
        else:
            last_row = None
            yield "rejected", obj


def _flush_manifest_batch(ctx, project, source, batch, pz, summary, cache, writer=None) -> None:
    def committed(outcome, n=len(batch)) -> None:
        # Counted only once the batch's transaction has committed: a failed batch is never "imported".
        summary.add(outcome)
        ctx.advance(n, imported=outcome.imported, duplicates=outcome.duplicates)

    if writer is not None:
        writer.submit(batch, on_commit=committed)  # called back here, at a later submit or at close
    else:
        committed(write_batch(project, source, batch, before_commit=pz.flush if pz else None, cache=cache))


def _manifest_item(project, record, root: Path, persistent: bool, pz, scrub_report, ctx) -> IngestItem:
    patient_key, study_key, image_key = record.patient_key, record.study_key, record.image_key
    study_date, offset = record.study_date, None
    if pz is not None:
        patient_key, offset = pz.patient(record.patient_key)
        study_key = pz.key("study", record.study_key)
        image_key = pz.key("image", record.image_key)
        if study_date is not None:
            from datetime import timedelta

            study_date = study_date + timedelta(days=offset)
    if record.file_exists is False:
        ctx.count(missing_files=1)  # the reader reported it as a warning on the row
    report, n_scrubbed = record.report_text, 0
    if report:
        result = scrub_report(report, date_offset_days=offset)
        report, n_scrubbed = result.text, len(result.replacements)
    status = RenderStatus.PENDING
    original, source_path = "", ""
    if record.path is None or record.file_exists is False:
        status = RenderStatus.MISSING
        source_path = redact_path(record.path or "")  # for reference only: nothing will read it
    elif persistent:
        source_path = _server_source_path(record, root, pz, image_key)
    else:
        # A temporary folder (an uploaded zip) disappears after the job: keep the file in storage now,
        # without the text metadata hospital exports write into PNG and JPEG files (names, ids).
        local = root / record.path
        suffix = local.suffix.lower() or ".img"
        digest = hashlib.sha256(image_key.encode()).hexdigest()[:40]
        original = f"projects/{project.slug}/originals/{record.dataset}/{digest}{suffix}"
        if not default_storage.exists(original):
            default_storage.save(original, ContentFile(strip_metadata(local.read_bytes())))
        source_path = redact_path(record.path)  # for reference only: the render reads `original`
    return IngestItem(
        patient_key=patient_key,
        study_key=study_key,
        image_key=image_key,
        sex=record.sex,
        study_date=study_date,
        age_years=record.age_years,
        view_position=record.view_position,
        original=original,
        source_path=source_path,
        render_status=status,
        report_text=report,
        scrubbed_items=n_scrubbed,
        source_labels=record.source_labels,
    )


def _server_source_path(record, root: Path, pz, image_key: str) -> str:
    """Where the render job finds a server-folder file. Public datasets' published layouts are kept as
    they are (plain strings: this runs 10^5 times). A hospital's folder names can hold a patient's name or
    birth date: then the stored path is redacted and the real one goes to the admin-only pseudonym map."""
    path = f"file:{root.as_posix()}/{record.path}"
    if pz is None or record.dataset in PUBLIC_DATASETS:
        return path
    redacted = redact_path(record.path)
    if redacted == record.path:
        return path
    try:
        pz.source_path(path[5:], image_key)
    except ValueError:  # too long to map: the render job will report the file as not found
        pass
    return f"file:{root.as_posix()}/{redacted}"


def import_from_cli(project_slug: str, source: str, path: str, mapping: dict | None = None) -> dict:
    """`manage.py import_studies`: the same import job, run in-process now, then its render job."""
    from django.db import transaction

    from .. import dispatch
    from ..models import Job, JobStatus
    from .projects import get_or_create_project

    project, _ = get_or_create_project(project_slug)
    params = {"source": source, "path": path}
    if mapping:
        params["mapping"] = mapping
    clean = clean_import_params(params, project, trusted_path=True)
    with dispatch.run_in_process():
        with transaction.atomic():
            job = Job.objects.create(kind="ingest.import", project=project, params=clean)
            audit.job_started(None, job)
            dispatch.send(job)
    job.refresh_from_db()
    render = Job.objects.filter(pk=job.result.get("render_job")).first() if job.result else None
    return {
        "project": project.slug,
        "source": source,
        "job": job.pk,
        "status": job.status,
        "message": job.message,
        "imported": job.counters.get("imported", 0),
        "duplicates": job.counters.get("duplicates", 0),
        "studies_created": job.result.get("studies_created", 0),
        "patients_created": job.result.get("patients_created", 0),
        "reports_created": job.result.get("reports_created", 0),
        "errors": [{"file": e["item"], "reason": e["reason"]} for e in job.errors],
        "error_count": job.error_count,
        "render_job": render.pk if render else None,
        "rendered": render.counters.get("rendered", 0) if render else 0,
        "render_errors": [{"file": e["item"], "reason": e["reason"]} for e in render.errors] if render else [],
        "ok": job.status == JobStatus.SUCCEEDED and (render is None or render.status == JobStatus.SUCCEEDED),
    }
