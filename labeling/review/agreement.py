"""Agreement between readers: Cohen's kappa per label and reader pair, Krippendorff's alpha (three or more
readers, missing reads allowed), each reader's agreement with the final answer, and reading speed.

The statistics (`cohen_kappa`, `krippendorff_alpha`) take plain lists; `agreement_report` collects the reads.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import combinations
from statistics import median


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two raters over the same items (nominal). None when undefined: no items, or both
    raters used one and the same category throughout (chance agreement is 1)."""
    if len(a) != len(b):
        raise ValueError("Both raters must rate the same items.")
    n = len(a)
    if n == 0:
        return None
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[c] * count_b.get(c, 0) for c in count_a) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(ratings: Sequence[Sequence]) -> float | None:
    """Krippendorff's alpha (nominal) from one row per reader, one column per item, None where a reader did
    not read the item. None when undefined (fewer than two values in any item, or one category only)."""
    import krippendorff
    import numpy as np

    categories = sorted({v for row in ratings for v in row if v is not None}, key=str)
    if len(categories) < 2:
        return None
    code = {c: i for i, c in enumerate(categories)}
    data = np.array([[np.nan if v is None else code[v] for v in row] for row in ratings], dtype=float)
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if pairable.sum() == 0:
        return None
    return float(krippendorff.alpha(reliability_data=data[:, pairable], level_of_measurement="nominal"))


def _answers(kind: str, payload: dict) -> dict[str, object]:
    """A read as {question: answer}: each label for label items, one verdict for mask items."""
    if kind == "label":
        return dict(payload.get("labels") or {})
    if kind == "mask":
        return {"verdict": payload.get("verdict")}
    return {"answer": repr(sorted((payload.get("answer") or {}).items()))}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summarise(kind: str, reads: list[tuple[int, str, dict, float]], finals: dict[int, dict]) -> dict:
    """The agreement figures from reads (item, reader, payload, seconds) and final answers by item."""
    by_item: dict[int, dict[str, dict]] = defaultdict(dict)
    seconds: dict[str, list[float]] = defaultdict(list)
    for item, reader, payload, secs in reads:
        by_item[item][reader] = _answers(kind, payload)
        seconds[reader].append(secs)
    readers = sorted(seconds)
    questions = sorted({q for answers in by_item.values() for a in answers.values() for q in a})
    pairs = []
    for r1, r2 in combinations(readers, 2):
        shared = [i for i, answers in by_item.items() if r1 in answers and r2 in answers]
        per_label = {}
        for q in questions:
            a = [by_item[i][r1].get(q) for i in shared]
            b = [by_item[i][r2].get(q) for i in shared]
            per_label[q] = _rounded(cohen_kappa(a, b))
        pairs.append({"readers": [r1, r2], "items": len(shared), "kappa": per_label})
    alpha = {}
    if len(readers) >= 3:
        items = sorted(by_item)
        for q in questions:
            rows = [[by_item[i].get(r, {}).get(q) if r in by_item[i] else None for i in items] for r in readers]
            alpha[q] = _rounded(krippendorff_alpha(rows))
    per_reader = []
    for reader in readers:
        agree = total = 0
        for item, answers in by_item.items():
            if reader in answers and item in finals:
                final = _answers(kind, finals[item])
                for q, value in answers[reader].items():
                    total += 1
                    agree += value == final.get(q)
        secs = seconds[reader]
        mean = sum(secs) / len(secs) if secs else 0.0
        per_reader.append(
            {
                "reader": reader,
                "reads": len(secs),
                "agreement_with_final": _rounded(agree / total) if total else None,
                "seconds_per_item": round(median(secs), 1) if secs else None,
                "items_per_hour": round(3600 / mean, 1) if mean > 0 else None,
            }
        )
    return {
        "kind": kind,
        "readers": readers,
        "labels": questions,
        "pairs": pairs,
        "alpha": alpha,
        "per_reader": per_reader,
    }


def agreement_report(project, kind: str = "label", limit: int = 50_000) -> dict:
    """Agreement over the newest read of each reader on each item's current round (at most `limit` reads,
    newest first: a page, not an export)."""
    from ..models import ReviewDecision, ReviewItem, ReviewState

    rows = (
        ReviewDecision.objects.filter(item__project=project, item__kind=kind, adjudication=False)
        .order_by("-id")
        .values_list("item_id", "round", "item__round", "reader__username", "payload", "seconds")[:limit]
    )
    latest: dict[tuple[int, str], tuple] = {}
    for item, rnd, current, reader, payload, secs in rows:
        if rnd == current:
            latest.setdefault((item, reader), (item, reader, payload, secs))
    finals = dict(
        ReviewItem.objects.filter(
            project=project, kind=kind, state__in=[ReviewState.DECIDED, ReviewState.FINAL], final__isnull=False
        ).values_list("pk", "final")[:limit]
    )
    return summarise(kind, list(latest.values()), finals)
