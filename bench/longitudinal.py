"""Benchmark of the longitudinal structure extractor on the hand-written report series (development half).

Run from the project root: `.venv/bin/python bench/longitudinal.py`.  Reads
../shared/data/longitudinal/series.json (never copied into the project; `LONGITUDINAL_SERIES` overrides the
path) and prints one JSON object: finding F1 on (term, presence) per report, location / certainty / severity
accuracy on matched rows, change F1 per category on (term, change) per report with the macro over the five
categories, the same for a naive baseline measured in the same run, and throughput.  Pinned to one CPU core.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERIES = Path(os.environ.get("LONGITUDINAL_SERIES", ROOT.parent / "shared" / "data" / "longitudinal" / "series.json"))
CHANGES = ("new", "worsened", "stable", "improved", "resolved")
THROUGHPUT_ROUNDS = 20


def pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _f1(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def score(gold_doc: dict, predicted_doc: dict) -> dict:
    """README scoring: per report, F1 on (term, presence) pairs; per change category, F1 on (term, change)."""
    finding = [0, 0, 0]
    per_change = {change: [0, 0, 0] for change in CHANGES}
    matched = {"location": [0, 0], "certainty": [0, 0], "severity": [0, 0]}
    predicted_reports = {
        report["report_id"]: report for patient in predicted_doc["patients"] for report in patient["reports"]
    }
    for patient in gold_doc["patients"]:
        for report in patient["reports"]:
            gold_rows = report["findings"]
            predicted_rows = predicted_reports[report["report_id"]]["findings"]
            gold = {(row["term"], row["presence"]) for row in gold_rows}
            predicted = {(row["term"], row["presence"]) for row in predicted_rows}
            finding[0] += len(gold & predicted)
            finding[1] += len(predicted - gold)
            finding[2] += len(gold - predicted)
            for change in CHANGES:
                gold_c = {row["term"] for row in gold_rows if row["change"] == change}
                predicted_c = {row["term"] for row in predicted_rows if row["change"] == change}
                per_change[change][0] += len(gold_c & predicted_c)
                per_change[change][1] += len(predicted_c - gold_c)
                per_change[change][2] += len(gold_c - predicted_c)
            for row in gold_rows:
                candidates = [
                    other
                    for other in predicted_rows
                    if (other["term"], other["presence"]) == (row["term"], row["presence"])
                ]
                if not candidates:
                    continue
                same_place = [other for other in candidates if other["location"] == row["location"]]
                best = (same_place or candidates)[0]
                for key in matched:
                    matched[key][1] += 1
                    matched[key][0] += int(best[key] == row[key])
    changes = {change: _f1(*counts) for change, counts in per_change.items()}
    return {
        "finding_term_presence": _f1(*finding),
        "matched_row_accuracy": {
            key: {"accuracy": round(right / total, 4) if total else 0.0, "rows": total}
            for key, (right, total) in matched.items()
        },
        "change_macro_f1": round(sum(item["f1"] for item in changes.values()) / len(CHANGES), 4),
        "change_per_category": changes,
    }


def baseline(document: dict) -> dict:
    """The label miner's CheXpert labels mapped to terms; change "stable" on present rows when "unchanged" occurs."""
    from nlp.core.label_spaces import report_labels
    from nlp.core.labeler import Labeler
    from nlp.structure.vocabulary import TERMS

    labeler = Labeler()
    output = copy.deepcopy(document)
    for patient in output["patients"]:
        for report in patient["reports"]:
            labels = report_labels(labeler.label(report["text"]), labeler.vocabulary, "chexpert")
            stable = "unchanged" in report["text"].lower()
            rows = []
            for label, status in labels.items():
                if label not in TERMS or status is None:
                    continue
                presence = "absent" if status == "negative" else "present"
                change = "stable" if stable and presence == "present" else None
                rows.append({"term": label, "presence": presence, "location": None, "certainty": "definite"})
                rows[-1].update({"severity": None, "change": change})
            report["findings"] = rows
    return output


def strip_gold(document: dict) -> dict:
    stripped = copy.deepcopy(document)
    for patient in stripped["patients"]:
        for report in patient["reports"]:
            report.pop("findings", None)
    return stripped


def split_halves(gold: dict, predicted: dict) -> dict:
    """Scores on alternate patients, to show that no rule serves only one half of the set."""
    halves = {}
    for parity in (0, 1):
        keep = {patient["patient_id"] for i, patient in enumerate(gold["patients"]) if i % 2 == parity}
        part_gold = {"patients": [p for p in gold["patients"] if p["patient_id"] in keep]}
        part_predicted = {"patients": [p for p in predicted["patients"] if p["patient_id"] in keep]}
        scored = score(part_gold, part_predicted)
        halves[f"half_{parity}"] = {
            "finding_f1": scored["finding_term_presence"]["f1"],
            "change_macro_f1": scored["change_macro_f1"],
        }
    return halves


def throughput(document: dict) -> dict:
    from nlp.structure.cli import extract_series
    from nlp.structure.extract import StructureExtractor

    started = time.perf_counter()
    extractor = StructureExtractor()
    build_seconds = time.perf_counter() - started
    big = {"patients": [copy.deepcopy(p) for _ in range(THROUGHPUT_ROUNDS) for p in document["patients"]]}
    reports = sum(len(patient["reports"]) for patient in big["patients"])
    extract_series(document, extractor=extractor)  # warm-up
    started = time.perf_counter()
    extract_series(big, extractor=extractor)
    seconds = time.perf_counter() - started
    return {
        "reports": reports,
        "seconds": round(seconds, 3),
        "reports_per_second": round(reports / seconds, 1),
        "extractor_build_seconds": round(build_seconds, 3),
        "includes": "sections, tokenizer, phrase matching, ConText, cue attachment, merging, timeline linking",
    }


def main() -> int:
    if not SERIES.is_file():
        print(
            f"longitudinal series not found at {SERIES}: this benchmark needs the shared data folder "
            "(set LONGITUDINAL_SERIES to the series.json path)",
            file=sys.stderr,
        )
        return 2
    core = pin_to_one_core()
    from nlp.structure.cli import extract_series

    gold = json.loads(SERIES.read_text(encoding="utf-8"))
    document = strip_gold(gold)
    predicted, summary = extract_series(document)
    scored = score(gold, predicted)
    base = score(gold, baseline(document))
    result = {
        "benchmark": "longitudinal report structure",
        "data": str(SERIES.name),
        "patients": len(gold["patients"]),
        "reports": sum(len(p["reports"]) for p in gold["patients"]),
        "gold_rows": sum(len(r["findings"]) for p in gold["patients"] for r in p["reports"]),
        "predicted_rows": summary.findings,
        "scoring": "per report: F1 on (term, presence) pairs; per change category F1 on (term, change) pairs, "
        "micro over reports; macro over the five categories",
        "extractor": scored,
        "baseline": {
            "description": "label miner's CheXpert labels mapped to the 12 finding terms (no device terms), "
            "change 'stable' on present rows when the text contains 'unchanged', else null",
            **base,
        },
        "split_halves": split_halves(gold, predicted),
        "conflicts_flagged": len(summary.conflicts),
        "warnings": len(summary.warnings),
        "throughput_one_core": {"core": core, **throughput(document)},
        "goals": {"finding_f1": 0.90, "change_macro_f1": 0.85},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
