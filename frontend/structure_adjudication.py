"""The adjudication form of a structure item: the reads' findings aligned row by row beside the machine's, and
the curator's form (adopt one reader's answer, or per-row selects) turned back into a structure answer.

Only presentation and form parsing live here; the answer is checked by clean_structure_answer and made final
by labeling.review.services.adjudicate.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from labeling.models import ReviewItem
from nlp.models import ReviewVerdict
from nlp.structure_service import vocabulary_choices

# (answer key, column heading, vocabulary key, may be empty)
FIELDS = (
    ("term", "Finding", "terms", False),
    ("presence", "Presence", "presences", False),
    ("certainty", "Certainty", "certainties", False),
    ("location", "Location", "locations", True),
    ("severity", "Severity", "severities", True),
    ("change", "Change since the prior study", "changes", True),
)
KEEP, REJECT, ADD, LEAVE_OUT = "keep", "reject", "add", ""
MACHINE_ROW_CHOICES = ((KEEP, "Keep"), (REJECT, "Reject: not in the report"))
ADDED_ROW_CHOICES = ((ADD, "Add"), (LEAVE_OUT, "Leave out"))
VERDICT_WORDS = {verdict.value: verdict.label for verdict in ReviewVerdict}
NOT_ADDED = "Not added"
NONE = "—"
_ADDED_KEY = re.compile(r"^a:(\d{1,4}):verdict$")


def _findings(read: dict) -> list[dict]:
    return ((read.get("payload") or {}).get("answer") or {}).get("findings") or []


def _added_rows(reads: list[dict]) -> list[list[dict | None]]:
    """The rows the readers added, aligned across readers: the same finding at the same location (the n-th
    such row of each reader) is one line, so two readers who added the same finding agree on it."""
    lines: dict[tuple, list[dict | None]] = {}
    for index, read in enumerate(reads):
        seen: dict[tuple, int] = {}
        for entry in _findings(read):
            if entry.get("verdict") != ReviewVerdict.ADD:
                continue
            base = (entry.get("term"), entry.get("location"))
            seen[base] = seen.get(base, 0) + 1
            key = (*base, seen[base])
            lines.setdefault(key, [None] * len(reads))[index] = entry
    return list(lines.values())


def _cells(entry: dict | None, differs: dict[str, bool]) -> list[dict]:
    return [
        {"value": (entry.get(key) if entry else None) or NONE, "differs": differs[key]} for key, _h, _v, _n in FIELDS
    ]


def _field_inputs(prefix: str, chosen: dict | None, choices: dict, number: int, label: str) -> list[dict]:
    """One select per answer key, preselected from `chosen` (the first reader's row)."""
    inputs = []
    for key, heading, vocabulary, nullable in FIELDS:
        options = [(value, value) for value in choices[vocabulary]]
        if nullable or chosen is None:
            options.insert(0, ("", NONE))
        inputs.append(
            {
                "name": f"{prefix}:{key}",
                "label": f"{heading} of row {number} ({label}), final answer",
                "options": options,
                "chosen": (chosen.get(key) if chosen else None) or "",
            }
        )
    return inputs


def structure_table(item: ReviewItem, reads: list[dict]) -> dict:
    """The screen's table: per finding (the machine's rows in report order, then the rows readers added), the
    machine's values, each reader's, which differ between readers, and the final-answer selects, which start
    from the first reader's answer."""
    choices = vocabulary_choices()
    reads = sorted(reads, key=lambda read: read["decision"])  # reader A read first
    readers = [read["reader"] for read in reads]
    by_reader = [{entry.get("id"): entry for entry in _findings(read) if entry.get("id")} for read in reads]
    rows = []
    for number, machine in enumerate(item.prefill.get("findings", []), start=1):
        entries = [found.get(machine["id"]) or {**machine, "verdict": ReviewVerdict.ACCEPT} for found in by_reader]
        rejected = [entry.get("verdict") == ReviewVerdict.REJECT for entry in entries]
        rows.append(
            _row(
                number,
                readers,
                f"f:{machine['id']}",
                machine,
                entries,
                verdicts=[VERDICT_WORDS.get(entry.get("verdict"), NONE) for entry in entries],
                verdict_differs=len(set(rejected)) > 1,
                verdict_choices=MACHINE_ROW_CHOICES,
                verdict_chosen=REJECT if rejected and rejected[0] else KEEP,
                choices=choices,
            )
        )
    for index, entries in enumerate(_added_rows(reads)):
        first = next(entry for entry in entries if entry is not None)
        rows.append(
            _row(
                len(rows) + 1,
                readers,
                f"a:{index}",
                None,
                entries,
                verdicts=[VERDICT_WORDS[ReviewVerdict.ADD] if entry else NOT_ADDED for entry in entries],
                verdict_differs=None in entries,
                verdict_choices=ADDED_ROW_CHOICES,
                verdict_chosen=ADD if entries[0] is not None else LEAVE_OUT,
                choices=choices,
                chosen=entries[0] or first,
            )
        )
    new_number = len(rows) + 1
    new_index = sum(1 for row in rows if row["machine"] is None)
    return {
        "headings": [heading for _k, heading, _v, _n in FIELDS],
        "readers": readers,
        "first_reader": reads[0]["reader"] if reads else "",
        "rows": rows,
        "differing": sum(1 for row in rows if not row["agree"]),
        "new_row": {
            "number": new_number,
            "verdict_name": f"a:{new_index}:verdict",
            "verdict_choices": [(LEAVE_OUT, "Leave out"), (ADD, "Add")],
            "inputs": _field_inputs(f"a:{new_index}", None, choices, new_number, "a finding no reader added"),
        },
    }


def _row(
    number,
    readers,
    prefix,
    machine,
    entries,
    *,
    verdicts,
    verdict_differs,
    verdict_choices,
    verdict_chosen,
    choices,
    chosen=None,
):
    present = [entry for entry in entries if entry is not None]
    differs = {key: len({entry.get(key) for entry in present}) > 1 for key, _h, _v, _n in FIELDS}
    if len(present) < len(entries):  # a row one reader added and another did not: every value differs
        differs = dict.fromkeys(differs, True)
    label = (machine or chosen or present[0]).get("term") or "finding"
    return {
        "number": number,
        "label": label,
        "machine": (
            {
                "cells": _cells(machine, dict.fromkeys(differs, False)),
                "evidence": "; ".join(e.get("text", "") for e in machine.get("evidence", []) if e.get("text")),
                "conflict": machine.get("conflict") or "",
            }
            if machine is not None
            else None
        ),
        "reads": [
            {"reader": reader, "verdict": verdict, "verdict_differs": verdict_differs, "cells": _cells(entry, differs)}
            for reader, entry, verdict in zip(readers, entries, verdicts, strict=True)
        ],
        "agree": not verdict_differs and not any(differs.values()),
        "verdict_name": f"{prefix}:verdict",
        "verdict_choices": verdict_choices,
        "verdict_chosen": verdict_chosen,
        "inputs": _field_inputs(prefix, chosen or entries[0], choices, number, label),
    }


def _posted(post, prefix: str) -> dict:
    """The answer keys the form sent for one row (an empty select is "none"); keys it did not send are left
    out, so the row keeps the machine's value for them."""
    return {key: post.get(f"{prefix}:{key}") or None for key, _h, _v, _n in FIELDS if f"{prefix}:{key}" in post}


def structure_payload(item: ReviewItem, post, reads: list[dict]) -> dict:
    """The structure answer from the adjudication form: one reader's answer as it stands ("adopt"), else the
    per-row selects (machine rows kept or rejected, added rows added or left out)."""
    adopt = post.get("adopt")
    if adopt:
        read = next((read for read in reads if read["reader"] == adopt), None)
        if read is None:
            raise ValidationError({"adopt": f"There is no read by {adopt[:40]} to adopt."})
        return {"answer": read["payload"].get("answer")}
    findings = []
    for machine in item.prefill.get("findings", []):
        prefix = f"f:{machine['id']}"
        choice = post.get(f"{prefix}:verdict", KEEP)
        if choice not in (KEEP, REJECT):
            raise ValidationError({"findings": f"Row {machine.get('term')}: choose keep or reject."})
        verdict = ReviewVerdict.REJECT if choice == REJECT else ReviewVerdict.ACCEPT
        findings.append({"id": machine["id"], "verdict": verdict.value, **_posted(post, prefix)})
    added = sorted(int(match.group(1)) for key in post if (match := _ADDED_KEY.match(key)))
    for index in added:
        prefix = f"a:{index}"
        choice = post.get(f"{prefix}:verdict")
        if choice == LEAVE_OUT:
            continue
        if choice != ADD:
            raise ValidationError({"findings": "An added finding is either added or left out."})
        if not post.get(f"{prefix}:term"):
            raise ValidationError({"findings": "Choose which finding to add."})
        findings.append({"verdict": ReviewVerdict.ADD.value, **_posted(post, prefix)})
    return {"answer": {"findings": findings}}
