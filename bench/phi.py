"""Benchmark of the report scrubber (issue 8): PHI recall, look-alikes and other words kept, speed, label agreement.

Run from the project root: `.venv/bin/python bench/phi.py`. Reads ../shared/data/phi (dev.jsonl, score.py;
never copied into the project) and, when present, ../shared/data/openi (real, already de-identified reports:
a check that the scrubber does not damage real text). Prints one JSON object. Scores come from the data set's
own score.py, imported by path; the baseline is the scrubber as it was before issue 8
(bench/phi_baseline_scrubber.py), measured in the same run.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("PHI_SHARED", ROOT.parent / "shared")) / "data"
PHI = SHARED / "phi"
OPENI = SHARED / "openi" / "reports.csv"
SPEED_ROUNDS = 20
DATE_OFFSET = -17


def pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def score(scorer, gold_path: Path, texts: dict[str, str], workdir: Path) -> dict:
    """Run score.py's main() on a predictions CSV and parse its printed figures."""
    pred = workdir / "pred.csv"
    with open(pred, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows(texts.items())
    out = io.StringIO()
    argv = sys.argv
    sys.argv = ["score.py", "--gold", str(gold_path), "--pred", str(pred)]
    try:
        with contextlib.redirect_stdout(out):
            scorer.main()
    except SystemExit as done:
        passed = done.code == 0
    finally:
        sys.argv = argv
    printed = out.getvalue()
    per_kind = {
        m.group(1): {"removed": int(m.group(2)), "total": int(m.group(3)), "recall": float(m.group(4))}
        for m in re.finditer(r"^(\w+)\s+(\d+)/\s*(\d+) removed\s+recall ([\d.]+)", printed, re.M)
    }
    total = re.search(
        r"PHI recall ([\d.]+) \(worst kind ([\d.]+)\), clinical look-alikes kept ([\d.]+), other words kept ([\d.]+)",
        printed,
    )
    removed = sum(k["removed"] for k in per_kind.values())
    spans = sum(k["total"] for k in per_kind.values())
    return {
        "recall": round(removed / spans, 4),
        "recall_printed": float(total.group(1)),
        "worst_kind_recall": float(total.group(2)),
        "lookalikes_kept": float(total.group(3)),
        "other_words_kept": float(total.group(4)),
        "meets_goal": passed,
        "per_kind": per_kind,
        "left": re.findall(r"^  left: (.*)$", printed, re.M),
    }


def reports_per_second(scrub, texts: list[str]) -> float:
    started = time.perf_counter()
    for _ in range(SPEED_ROUNDS):
        for text in texts:
            scrub(text)
    return round(SPEED_ROUNDS * len(texts) / (time.perf_counter() - started), 1)


def label_agreement(labeler, originals: list[str], scrubbed: list[str]) -> dict:
    """Fraction of reports whose mined CheXpert labels are identical before and after scrubbing."""
    from nlp.core.label_spaces import report_labels

    def labels(texts):
        return [report_labels(r, labeler.vocabulary, "chexpert") for r in labeler.label_many(texts)]

    before, after = labels(originals), labels(scrubbed)
    differ = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    return {
        "reports": len(originals),
        "identical": len(originals) - len(differ),
        "agreement": round((len(originals) - len(differ)) / max(1, len(originals)), 4),
        "differing_examples": [
            {
                "index": i,
                "before": {k: v for k, v in before[i].items() if v},
                "after": {k: v for k, v in after[i].items() if v},
            }
            for i in differ[:3]
        ],
    }


def openi_damage(scrub, rows: list[str]) -> dict:
    """On real reports already de-identified (XXXX): how many words outside the XXXX traces are lost."""
    words = kept = changed_reports = 0
    lost: dict[str, int] = {}
    for text in rows:
        out = scrub(text)
        changed_reports += out != re.sub(r"(?<![A-Za-z])[Xx]{3,}(?![A-Za-z])", "___", text)
        remaining = set(re.findall(r"[A-Za-z]{3,}", out))
        for word in re.findall(r"[A-Za-z]{3,}", text):
            if word.lower() == "xxxx" or re.fullmatch(r"[Xx]{3,}", word):
                continue
            words += 1
            if word in remaining:
                kept += 1
            else:
                lost[word] = lost.get(word, 0) + 1
    top = sorted(lost.items(), key=lambda kv: -kv[1])[:15]
    return {
        "reports": len(rows),
        "words_kept": round(kept / max(1, words), 5),
        "reports_changed_beyond_traces": changed_reports,
        "most_lost_words": dict(top),
    }


def main() -> int:
    if not (PHI / "dev.jsonl").exists() or not (PHI / "score.py").exists():
        print(f"bench/phi.py: {PHI} (dev.jsonl and score.py) is absent; nothing to measure", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)
    from curation.dicomio.scrub import scrub_report
    from nlp.core.labeler import Labeler

    baseline = _load(ROOT / "bench" / "phi_baseline_scrubber.py", "phi_baseline_scrubber")
    scorer = _load(PHI / "score.py", "phi_score")
    gold = [json.loads(line) for line in (PHI / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line]
    texts = [item["text"] for item in gold]

    started = time.perf_counter()
    scrub_report("Warm-up: Oyelaran reviewed. Loads the word lists once.")
    load_seconds = time.perf_counter() - started

    def new(text: str) -> str:
        return scrub_report(text).text

    def old(text: str) -> str:
        return baseline.scrub_report(text).text

    result: dict = {
        "dev_reports": len(gold),
        "cpu_core": pin_to_one_core(),
        "wordlist_load_seconds": round(load_seconds, 3),
    }
    ids = [g["id"] for g in gold]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        scrubbed = [new(t) for t in texts]
        result["scrubber"] = score(scorer, PHI / "dev.jsonl", dict(zip(ids, scrubbed, strict=True)), workdir)
        shifted = [scrub_report(t, date_offset_days=DATE_OFFSET).text for t in texts]
        with_offset = score(scorer, PHI / "dev.jsonl", dict(zip(ids, shifted, strict=True)), workdir)
        result["scrubber"]["with_date_offset"] = {
            k: with_offset[k] for k in ("recall", "lookalikes_kept", "other_words_kept")
        } | {"date_recall": with_offset["per_kind"].get("date", {}).get("recall"), "offset_days": DATE_OFFSET}
        result["scrubber"]["reports_per_second_one_core"] = reports_per_second(new, texts)
        baseline_texts = [old(t) for t in texts]
        result["baseline"] = score(scorer, PHI / "dev.jsonl", dict(zip(ids, baseline_texts, strict=True)), workdir)
        result["baseline"]["reports_per_second_one_core"] = reports_per_second(old, texts)

    labeler = Labeler()
    result["label_agreement_dev"] = label_agreement(labeler, texts, scrubbed)
    if OPENI.exists():
        with open(OPENI, encoding="utf-8", newline="") as handle:
            rows = [" ".join(filter(None, (r["findings"], r["impression"]))) for r in csv.DictReader(handle)]
        rows = [r for r in rows if r.strip()]
        result["openi_real_reports"] = openi_damage(new, rows)
        result["openi_real_reports"]["reports_per_second_one_core"] = round(
            len(rows) / _timed(lambda: [new(r) for r in rows]), 1
        )
        # Trace normalisation (XXXX -> ___) is required behaviour and can change what the labeler reads; compare
        # with the traces-only text too, so that any difference the PHI rules make shows on its own.
        traces_only = [re.sub(r"(?<![A-Za-z])[Xx]{3,}(?![A-Za-z])", "___", r) for r in rows]
        result["label_agreement_openi"] = label_agreement(labeler, rows, [new(r) for r in rows])
        result["label_agreement_openi_vs_traces_only"] = label_agreement(labeler, traces_only, [new(r) for r in rows])
    print(json.dumps(result, indent=2))
    return 0


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
