"""`extract_structure` as plain functions: read a series document, fill in every report's findings, write it.

The input has the layout of the longitudinal set (`{"patients": [{"patient_id", "reports": [{"report_id",
"study_date", "text", ...}]}]}`); any `findings` already there are ignored.  The output is the same document
with `findings` filled in, in exactly the schema of that set.  No database is used.  Structural problems
(malformed JSON, missing keys, wrong types, a file over the size bound) raise `SeriesInputError`; problems of
single reports (no date, duplicate dates, empty text) are warnings and never stop the run.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.structure.extract import ReportStructure, StructureExtractor
from nlp.structure.timeline import Conflict, ReportInput, link_patient

# A series of a few thousand patients is a few MB; the bound keeps a wrong file from exhausting memory.
MAX_INPUT_BYTES = 200 * 1024 * 1024
# Only the first problems are listed: a wholly wrong file would otherwise print one line per report.
_MAX_LISTED_PROBLEMS = 20


class SeriesInputError(ValueError):
    """The input document cannot be processed; `problems` lists what is wrong (the first few)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = self.problems[:_MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        suffix = f"; and {more} more" if more > 0 else ""
        super().__init__("invalid series input: " + "; ".join(shown) + suffix)


@dataclass(slots=True)
class ExtractionSummary:
    """Counts of one run, with per-report warnings and conflicts as readable lines."""

    patients: int = 0
    reports: int = 0
    findings: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def read_series(path: str | os.PathLike[str], max_bytes: int = MAX_INPUT_BYTES) -> dict[str, Any]:
    """Load and validate a series document; raises SeriesInputError or OSError."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise SeriesInputError([f"{path.name} is {size} bytes, more than the {max_bytes} allowed"])
    raw = path.read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SeriesInputError([f"{path.name} is not UTF-8 text (byte {error.start})"]) from None
    except json.JSONDecodeError as error:
        raise SeriesInputError([f"{path.name} is not valid JSON: {error.msg} at line {error.lineno}"]) from None
    validate_series(document)
    return document


def validate_series(document: Any) -> None:
    """Raise SeriesInputError listing every structural problem (keys and types) of a series document."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise SeriesInputError([f"the document must be a JSON object, got {_kind(document)}"])
    patients = document.get("patients")
    if not isinstance(patients, list):
        raise SeriesInputError(
            [
                "missing key 'patients'"
                if "patients" not in document
                else f"'patients' must be a list, got {_kind(patients)}"
            ]
        )
    for p_index, patient in enumerate(patients):
        where = f"patients[{p_index}]"
        if not isinstance(patient, dict):
            problems.append(f"{where} must be an object, got {_kind(patient)}")
            continue
        _require(patient, "patient_id", str, where, problems)
        reports = patient.get("reports")
        if not isinstance(reports, list):
            problems.append(
                f"{where}: missing key 'reports'" if "reports" not in patient else f"{where}.reports must be a list"
            )
            continue
        for r_index, report in enumerate(reports):
            r_where = f"{where}.reports[{r_index}]"
            if not isinstance(report, dict):
                problems.append(f"{r_where} must be an object, got {_kind(report)}")
                continue
            _require(report, "report_id", str, r_where, problems)
            _require(report, "text", str, r_where, problems)
            for key in ("study_date", "study_time"):
                if report.get(key) is not None and not isinstance(report[key], str):
                    problems.append(f"{r_where}.{key} must be a string or null, got {_kind(report[key])}")
    if problems:
        raise SeriesInputError(problems)


def extract_series(
    document: dict[str, Any], extractor: StructureExtractor | None = None, details: bool = False
) -> tuple[dict[str, Any], ExtractionSummary]:
    """A copy of a validated series document with every report's findings filled in, and a summary.

    `details` adds evidence offsets, cues and provenance to each row and an `extraction` object (warnings,
    conflicts) to each report; without it the output keeps exactly the longitudinal schema.
    """
    started = time.perf_counter()
    extractor = extractor or StructureExtractor()
    output = copy.deepcopy(document)
    summary = ExtractionSummary(patients=len(output["patients"]))
    flat = [report for patient in output["patients"] for report in patient["reports"]]
    structures = iter(extractor.extract_many(report["text"] for report in flat))
    seen_ids: dict[str, str] = {}
    for patient in output["patients"]:
        reports = patient["reports"]
        patient_structures: list[ReportStructure] = [next(structures) for _ in reports]
        inputs = [
            ReportInput(report["report_id"], report.get("study_date"), report.get("study_time"), index)
            for index, report in enumerate(reports)
        ]
        timeline = link_patient(inputs, patient_structures)
        summary.conflicts.extend(timeline.conflicts)
        if len(reports) == 1:
            timeline.warnings.setdefault(0, []).append("the only report of its patient: no change values")
        for index, (report, structure) in enumerate(zip(reports, patient_structures, strict=True)):
            warnings = list(timeline.warnings.get(index, []))
            if not report["text"].strip():
                warnings.append("empty text: no findings")
            owner = seen_ids.setdefault(report["report_id"], patient["patient_id"])
            if owner != patient["patient_id"] or [r["report_id"] for r in reports].count(report["report_id"]) > 1:
                warnings.append("report_id is not unique in the input")
            report["findings"] = [row.to_dict(details) for row in structure.findings]
            summary.findings += len(structure.findings)
            summary.warnings.extend(f"{patient['patient_id']}/{report['report_id']}: {line}" for line in warnings)
            if details:
                report["extraction"] = {
                    "warnings": warnings,
                    "conflicts": [c.to_dict() for c in timeline.conflicts if c.report_id == report["report_id"]],
                    "global_change": structure.global_change,
                    "timeline_position": timeline.order.index(index) + 1 if index in timeline.order else None,
                }
        summary.reports += len(reports)
    summary.seconds = time.perf_counter() - started
    return output, summary


def run_extract_structure(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    details: bool = False,
    max_bytes: int = MAX_INPUT_BYTES,
) -> ExtractionSummary:
    """Read `input_path`, extract, and write `output_path` atomically (a partial file is never left behind)."""
    document = read_series(input_path, max_bytes=max_bytes)
    output, summary = extract_series(document, details=details)
    target = Path(output_path)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            json.dump(output, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return summary


def _require(obj: dict[str, Any], key: str, kind: type, where: str, problems: list[str]) -> None:
    if key not in obj:
        problems.append(f"{where}: missing key {key!r}")
    elif not isinstance(obj[key], kind):
        problems.append(f"{where}.{key} must be a {kind.__name__}, got {_kind(obj[key])}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
