"""Benchmark of the report label miner: Open-i F1, assertion F1 per finding x status, and throughput.

Run from the project root: `.venv/bin/python bench/label_mining.py`.  Reads ../shared/data (never
copied into the project) and prints one JSON object.  Pinned to one CPU core.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("LABEL_MINING_SHARED", ROOT.parent / "shared"))
OPENI = SHARED / "data" / "openi"
ASSERTIONS = SHARED / "data" / "assertions" / "assertions.jsonl"
THROUGHPUT_REPORTS = 20_000
# medspacy's default pipeline runs at ~100 reports/s; timing it on 20,000 would take minutes.
MEDSPACY_SUBSET = 1_000


def pin_to_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def openi_rows() -> list[dict]:
    with open(OPENI / "reports.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def score_openi(labeler, workdir: Path) -> dict:
    from nlp.core.csvio import evaluate_csv, label_csv

    source = workdir / "openi_reports.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "findings", "impression"])
        for row in openi_rows():
            writer.writerow([row["uid"], row["findings"], row["impression"]])
    predictions = workdir / "openi_labels.csv"
    label_csv(source, predictions, "uid", ["findings", "impression"], "chestxray14", labeler=labeler)
    strict = evaluate_csv(predictions, OPENI / "labels_cxr14.csv", id_column="uid")
    lenient = evaluate_csv(predictions, OPENI / "labels_cxr14.csv", id_column="uid", uncertain_as_positive=True)
    halves = split_half_scores(predictions, workdir)
    return {
        "label_space": "chestxray14",
        "text": "findings + impression",
        "scoring": "positive detection: prediction 1 vs gold 1, rows with exclude=1 skipped",
        "reports": strict.reports,
        "micro_f1": round(strict.micro_f1, 4),
        "macro_f1": round(strict.macro_f1, 4),
        "per_label": {
            label: {
                key: value for key, value in score.to_dict().items() if key in ("precision", "recall", "f1", "support")
            }
            for label, score in strict.positive.items()
        },
        "if_uncertain_counted_positive": {
            "micro_f1": round(lenient.micro_f1, 4),
            "macro_f1": round(lenient.macro_f1, 4),
        },
        "split_half": halves,
    }


def split_half_scores(predictions: Path, workdir: Path) -> dict:
    """Micro/macro F1 on each half of the reports (uid parity), to show that a rule helps both halves."""
    from nlp.core.csvio import evaluate_csv

    with open(OPENI / "labels_cxr14.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    halves = {}
    for name, parity in (("even_uid", 0), ("odd_uid", 1)):
        gold = workdir / f"openi_gold_{name}.csv"
        with open(gold, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(row for row in rows if int(row["uid"]) % 2 == parity)
        summary = evaluate_csv(predictions, gold, id_column="uid")
        halves[name] = {
            "reports": summary.reports,
            "micro_f1": round(summary.micro_f1, 4),
            "macro_f1": round(summary.macro_f1, 4),
        }
    return halves


def assertion_items() -> list[dict]:
    with open(ASSERTIONS, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def score_statuses(items: list[dict], predicted: dict[str, dict[str, str | None]], labels: list[str]) -> dict:
    from nlp.core.evaluate import STATUS_VALUES, evaluate_labels

    gold = {item["id"]: {k: STATUS_VALUES[v] for k, v in item["labels"].items()} for item in items}
    pred = {key: {k: STATUS_VALUES.get(v, "") for k, v in row.items()} for key, row in predicted.items()}
    summary = evaluate_labels(pred, gold, labels, per_status=True)
    return {
        "items": len(items),
        "macro_f1": round(summary.status_macro_f1 or 0.0, 4),
        "cells": {
            f"{label} / {status}": round(score.f1, 4)
            for label, statuses in summary.by_status.items()
            for status, score in statuses.items()
        },
    }


def score_assertions(labeler) -> dict:
    from nlp.core.label_spaces import report_labels

    items = assertion_items()
    space = labeler.vocabulary.label_space("chexpert")
    results = labeler.label_many([item["text"] for item in items])
    predicted = {
        item["id"]: report_labels(result, labeler.vocabulary, "chexpert")
        for item, result in zip(items, results, strict=True)
    }
    return score_statuses(items, predicted, list(space.labels))


def medspacy_context_pipeline(labeler):
    """Our tokenizer and mentions, with medspacy's ConText component deciding negation/uncertainty."""
    import medspacy  # noqa: F401  (registers the medspacy_context factory)
    import spacy
    from spacy.language import Language
    from spacy.tokens import Span

    from nlp.core.labeler import make_nlp

    if not Language.has_factory("bench_mentions"):

        @Language.factory("bench_mentions")
        def bench_mentions(nlp, name):
            def component(doc):
                result = labeler.label(doc.text)
                spans = []
                for finding in result.findings.values():
                    for mention in finding.mentions:
                        span = doc.char_span(mention.start, mention.end, label=mention.finding)
                        if span is not None:
                            spans.append(span)
                doc.ents = spacy.util.filter_spans(spans)
                return doc

            return component

    nlp = make_nlp()
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("bench_mentions")
    nlp.add_pipe("medspacy_context")
    return nlp, Span


def score_medspacy_context(labeler) -> dict:
    """Assertion F1 when medspacy's ConText (default rules) replaces our scope pass on the same mentions."""
    from nlp.core.label_spaces import report_labels
    from nlp.core.labeler import STATUS_RANK

    nlp, _ = medspacy_context_pipeline(labeler)
    items = assertion_items()
    space = labeler.vocabulary.label_space("chexpert")
    predicted = {}
    for item in items:
        doc = nlp(item["text"])
        labels = dict.fromkeys(space.labels)
        for ent in doc.ents:
            status = "negative" if ent._.is_negated else "uncertain" if ent._.is_uncertain else "positive"
            for label in labeler.vocabulary.findings[ent.label_].labels.get("chexpert", ()):
                if labels[label] is None or STATUS_RANK[status] > STATUS_RANK[labels[label]]:
                    labels[label] = status
        # No Finding is not a ConText question: keep ours so that only the scope pass differs.
        labels[space.no_finding] = report_labels(labeler.label(item["text"]), labeler.vocabulary, "chexpert")[
            space.no_finding
        ]
        predicted[item["id"]] = labels
    return score_statuses(items, predicted, list(space.labels))


def throughput(labeler, workdir: Path) -> dict:
    import medspacy
    import spacy

    from nlp.core.csvio import label_csv

    rows = openi_rows()
    count = len(rows)
    source = workdir / "throughput_reports.csv"
    texts = []
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "findings", "impression"])
        for index in range(THROUGHPUT_REPORTS):
            # Vary the texts: findings of one report with the impression of another.
            findings = rows[index % count]["findings"]
            impression = rows[(index * 7 + 3) % count]["impression"]
            writer.writerow([f"r{index}", findings, impression])
            texts.append(f"{findings}\n{impression}")

    started = time.perf_counter()
    summary = label_csv(source, workdir / "throughput_labels.csv", "uid", ["findings", "impression"],
                        "chexpert", labeler=labeler)  # fmt: skip
    ours = summary.rows / (time.perf_counter() - started)

    blank = spacy.blank("en")
    started = time.perf_counter()
    for _ in blank.tokenizer.pipe(texts, batch_size=1000):
        pass
    bare = len(texts) / (time.perf_counter() - started)

    subset = texts[:MEDSPACY_SUBSET]
    # medspacy's sentence splitter (PyRuSH) logs every token at debug level through loguru.
    logging.disable(logging.INFO)
    try:
        from loguru import logger

        logger.remove()
    except ImportError:  # pragma: no cover - loguru comes with medspacy
        pass
    medspacy_nlp = medspacy.load()
    started = time.perf_counter()
    for _ in medspacy_nlp.pipe(subset):
        pass
    medspacy_default = len(subset) / (time.perf_counter() - started)

    context_nlp, _ = medspacy_context_pipeline(labeler)
    started = time.perf_counter()
    for _ in context_nlp.pipe(subset):
        pass
    with_medspacy_context = len(subset) / (time.perf_counter() - started)

    started = time.perf_counter()
    for _ in labeler.label_many(subset):
        pass
    ours_subset = len(subset) / (time.perf_counter() - started)

    return {
        "reports": THROUGHPUT_REPORTS,
        "ours_label_csv_end_to_end_per_s": round(ours, 1),
        "bare_spacy_blank_tokenizer_per_s": round(bare, 1),
        "medspacy_default_pipeline_per_s": round(medspacy_default, 1),
        "medspacy_timed_on_reports": MEDSPACY_SUBSET,
        "ours_labeler_on_medspacy_subset_per_s": round(ours_subset, 1),
        "ours_mentions_plus_medspacy_context_per_s": round(with_medspacy_context, 1),
        "ratio_ours_vs_medspacy_default": round(ours / medspacy_default, 1),
        "ratio_ours_vs_bare_tokenizer": round(ours / bare, 3),
        "ratio_our_context_vs_medspacy_context": round(ours_subset / with_medspacy_context, 1),
        "note": "medspacy pipelines timed on the first 1,000 of the same 20,000 texts; ours end to end "
        "through label_csv (read CSV, label, write labels.csv). 'ours_mentions_plus_medspacy_context' runs "
        "our labeler for the mentions and then medspacy's ConText over them, so the ratio is the cost of "
        "adding medspacy ConText; 'assertions_with_medspacy_context' is its accuracy on the same mentions",
    }


def main() -> int:
    missing = [path for path in (OPENI / "reports.csv", OPENI / "labels_cxr14.csv", ASSERTIONS) if not path.exists()]
    if missing:
        print(f"label_mining bench: shared data not found ({', '.join(map(str, missing))}); "
              f"set LABEL_MINING_SHARED or run beside ../shared", file=sys.stderr)  # fmt: skip
        return 1
    core = pin_to_one_core()
    from nlp.core.labeler import Labeler

    started = time.perf_counter()
    labeler = Labeler()
    build_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        result = {
            "labeler_version": labeler.version,
            "cpu_core": core,
            "labeler_build_seconds": round(build_seconds, 2),
            "openi": score_openi(labeler, workdir),
            "assertions": score_assertions(labeler),
            "assertions_with_medspacy_context": score_medspacy_context(labeler),
            "throughput": throughput(labeler, workdir),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
