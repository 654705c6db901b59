"""A patient's reports in time order: each row linked to the previous report, final change values, conflicts.

Ordering is by study date, then study time, then input order.  The final `change` of a row follows the
longitudinal conventions (§9): the first report has none (C1); otherwise the change the text states (C2),
with "recurrent" read against the previous report; an absent row whose term was present in the previous
report at a compatible location is `resolved` (C3); nothing else is inferred (C4).  Statements that
contradict the previous report are kept and reported as conflicts.  Reports never link across patients:
this module only ever sees one patient's reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time

from nlp.structure.extract import Finding, ReportStructure

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
# Locations that cover both sides: compatible with any location of the same finding (§9 C3).
_WIDE = frozenset({"bilateral", "bibasilar", "perihilar"})
# Zones without a side word that lie on one side.
_IMPLIED_SIDE = {"retrocardiac": "left", "lingula": "left"}


@dataclass(slots=True)
class ReportInput:
    """What the timeline needs of a report: its id, when it was taken, its position in the input."""

    report_id: str
    study_date: str | None
    study_time: str | None
    index: int


@dataclass(slots=True)
class Conflict:
    """A stated change that the previous report contradicts (the stated value is kept)."""

    report_id: str
    term: str
    location: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, str | None]:
        return {
            "report_id": self.report_id,
            "term": self.term,
            "location": self.location,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass(slots=True)
class PatientTimeline:
    """The time order (input indices), per-report warnings and the conflicts found for one patient."""

    order: list[int]
    unplaced: list[int]
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: dict[int, list[str]] = field(default_factory=dict)


def parse_study_date(value: object) -> date | None:
    """An ISO date YYYY-MM-DD, or None when the value is missing or not a valid date."""
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def parse_study_time(value: object) -> time | None:
    """A 24-hour HH:MM (or HH:MM:SS) time, or None when missing or invalid."""
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        return None
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        return None


def side_of(location: str | None) -> str | None:
    if location is None:
        return None
    if location in _IMPLIED_SIDE:
        return _IMPLIED_SIDE[location]
    first = location.split(" ", 1)[0]
    return first if first in ("left", "right") else None


def compatible_locations(first: str | None, second: str | None) -> bool:
    """Same location, either unknown, either covering both sides, or the same side (§9 C3)."""
    if first is None or second is None or first == second:
        return True
    if first in _WIDE or second in _WIDE:
        return True
    side = side_of(first)
    return side is not None and side == side_of(second)


def order_reports(reports: list[ReportInput]) -> tuple[list[int], list[int], dict[int, list[str]]]:
    """Indices of the dated reports in time order, the undated ones, and warnings per report index."""
    warnings: dict[int, list[str]] = {}
    keyed = []
    unplaced = []
    for report in reports:
        day = parse_study_date(report.study_date)
        if day is None:
            shown = "missing" if report.study_date in (None, "") else f"invalid ({str(report.study_date)[:40]!r})"
            warnings.setdefault(report.index, []).append(
                f"study_date is {shown}: the report is not placed in the patient's timeline and has no change values"
            )
            unplaced.append(report.index)
            continue
        moment = parse_study_time(report.study_time)
        if report.study_time not in (None, "") and moment is None:
            warnings.setdefault(report.index, []).append(
                f"study_time {str(report.study_time)[:40]!r} is not HH:MM: ignored for ordering"
            )
        keyed.append(((day, moment or time.min, moment is None, report.index), report))
    keyed.sort(key=lambda item: item[0])
    for (key, report), (next_key, next_report) in zip(keyed, keyed[1:], strict=False):
        if key[0] != next_key[0]:
            continue
        if key[2] or next_key[2] or key[1] == next_key[1]:
            message = (
                f"shares its study date with {report.report_id!r} and no study time tells them apart: "
                "ordered as in the input"
            )
        else:
            message = f"shares its study date with {report.report_id!r}: ordered by study time"
        warnings.setdefault(next_report.index, []).append(message)
    return [report.index for _, report in keyed], unplaced, warnings


def link_patient(reports: list[ReportInput], structures: list[ReportStructure]) -> PatientTimeline:
    """Set the final `change` (and `linked_to`) of every row of one patient's reports, in place.

    `structures[i]` belongs to the report whose `index` is i.  Returns the time order and any conflicts.
    """
    order, unplaced, warnings = order_reports(reports)
    timeline = PatientTimeline(order=order, unplaced=unplaced, warnings=warnings)
    by_index = {report.index: report for report in reports}
    for index in unplaced:
        for row in structures[index].findings:
            row.change, row.change_source = None, None
    previous: int | None = None
    for index in order:
        structure = structures[index]
        if structure.error:
            timeline.warnings.setdefault(index, []).append(f"not extracted: {structure.error}")
        if previous is None:
            for row in structure.findings:
                row.change, row.change_source = None, None
        else:
            prior_id = by_index[previous].report_id
            for row in structure.findings:
                _resolve_change(row, structure, structures[previous].findings, prior_id, by_index[index], timeline)
        previous = index
    return timeline


def _resolve_change(
    row: Finding,
    structure: ReportStructure,
    prior_rows: list[Finding],
    prior_id: str,
    report: ReportInput,
    timeline: PatientTimeline,
) -> None:
    same_term = [prior for prior in prior_rows if prior.term == row.term]
    compatible = [prior for prior in same_term if compatible_locations(prior.location, row.location)]
    present_compatible = [prior for prior in compatible if prior.presence == "present"]
    present_any = [prior for prior in same_term if prior.presence == "present"]
    link = _best_link(row, present_compatible or compatible)
    row.linked_to = f"{prior_id}:{link.term}:{link.location or '-'}" if link else None
    stated = row.stated_change

    def conflict(kind: str, message: str) -> None:
        timeline.conflicts.append(Conflict(report.report_id, row.term, row.location, kind, message))

    if row.presence == "absent":
        if stated == "resolved":
            if present_any:
                row.change, row.change_source = "resolved", "stated"
            else:
                # §9 C6: resolution needs the finding present in the previous report.
                row.change, row.change_source = None, None
                conflict("resolved_without_prior", f"the text says it resolved but {prior_id} did not have it present")
        elif present_compatible:
            row.change, row.change_source = "resolved", "inferred"
        else:
            row.change, row.change_source = None, None
        return
    if stated == "recurrent":
        row.change, row.change_source = ("worsened" if present_compatible else "new"), "stated"
    elif stated == "resolved":
        row.change, row.change_source = None, None
        conflict("resolved_but_present", "a resolution word applies to a finding stated as present")
        return
    elif stated is not None:
        row.change, row.change_source = stated, "stated"
    elif structure.global_change is not None:
        row.change, row.change_source = structure.global_change, "global"
    else:
        row.change, row.change_source = None, None
        return
    if row.change == "new":
        same_place = [prior for prior in present_compatible if prior.location == row.location]
        if same_place:
            conflict("new_but_prior_present", f"the text says new but {prior_id} already had it present")
    elif row.change in ("stable", "worsened", "improved") and row.change_source == "stated":
        if not same_term:
            conflict("change_without_prior", f"the text says {row.change} but {prior_id} does not mention this finding")
        elif not present_any:
            conflict("change_but_prior_absent", f"the text says {row.change} but {prior_id} had it absent")


def _best_link(row: Finding, candidates: list[Finding]) -> Finding | None:
    if not candidates:
        return None
    exact = [prior for prior in candidates if prior.location == row.location]
    return (exact or candidates)[0]
