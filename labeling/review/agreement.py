"""Agreement between readers: Cohen's kappa per label and reader pair, Krippendorff's alpha (three or more
readers, missing reads allowed), each reader's agreement with the final answer, and reading speed; for mask
items also the overlap (Dice, IoU) between two readers' masks and between each reader and the machine.

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
    report = summarise(kind, list(latest.values()), finals)
    if kind == "mask":
        report["masks"] = mask_agreement(project, [(i, r, p) for i, r, p, _s in latest.values()])
    return report


# --- masks: Dice and IoU ----------------------------------------------------------------------------
# Reads whose masks are compared on one page: each pair of corrected masks costs two decodes.
MASK_READS_MAX = 2000


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _overlap_summary(by_organ: dict[str, list[tuple[float, float]]]) -> dict:
    """Mean Dice and IoU over every organ compared, and per organ, each with how many masks."""
    every = [pair for pairs in by_organ.values() for pair in pairs]
    return {
        "masks": len(every),
        "dice": _mean([d for d, _i in every]),
        "iou": _mean([i for _d, i in every]),
        "by_organ": {
            organ: {"masks": len(pairs), "dice": _mean([d for d, _i in pairs]), "iou": _mean([i for _d, i in pairs])}
            for organ, pairs in sorted(by_organ.items())
        },
    }


def mask_agreement(project, reads: list[tuple[int, str, dict]], limit: int = MASK_READS_MAX) -> dict:
    """Dice and IoU between two readers' masks of the same image, and between each reader and the machine.

    `reads` are (item id, reader, payload), the newest read of each reader. A reader's mask of an organ is the
    correction they saved (verdict "correct", payload["masks"]), else the machine mask QC judged, which they
    let stand by accepting or by correcting other organs. A reject gives no mask and is left out."""
    from ..models import Mask, MaskTruth, ReviewItem
    from ..truth import mask_overlap

    reads = [r for r in reads if isinstance(r[2], dict) and r[2].get("verdict") != "reject"][:limit]
    items = {
        pk: prefill
        for pk, prefill in ReviewItem.objects.filter(project=project, pk__in={r[0] for r in reads}).values_list(
            "pk", "prefill"
        )
    }
    # Each reader's mask per organ of each item, as Mask ids: the machine's, overlaid with their corrections.
    machine: dict[int, dict[str, int]] = {}
    judged = {m for prefill in items.values() for m in (prefill or {}).get("mask_ids", []) if isinstance(m, int)}
    organ_of = dict(Mask.objects.filter(project=project, pk__in=judged).values_list("pk", "organ"))
    for pk, prefill in items.items():
        machine[pk] = {organ_of[m]: m for m in (prefill or {}).get("mask_ids", []) if m in organ_of}
    readers_masks: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    corrected_ids = set()
    for item, reader, payload in reads:
        if item not in machine:
            continue
        own = {o: m for o, m in (payload.get("masks") or {}).items() if isinstance(m, int)}
        corrected_ids.update(own.values())
        readers_masks[item][reader] = {**machine[item], **own}
    masks = {m.pk: m for m in Mask.objects.filter(project=project, pk__in=judged | corrected_ids)}
    stored = {
        (reviewer, machine_id): (dice, iou)
        for reviewer, machine_id, dice, iou in MaskTruth.objects.filter(reviewer_mask_id__in=corrected_ids).values_list(
            "reviewer_mask_id", "machine_mask_id", "true_dice", "true_iou"
        )
    }

    def overlap(a: int | None, b: int | None) -> tuple[float, float] | None:
        if a == b:
            return (1.0, 1.0)
        if a is None or b is None:  # an organ one side drew and the other did not
            drawn = masks.get(a if b is None else b)
            return (0.0, 0.0) if drawn is not None and drawn.rle.strip() else (1.0, 1.0)
        known = stored.get((a, b)) or stored.get((b, a))
        if known is not None:
            return known
        if a not in masks or b not in masks:
            return None
        try:
            return mask_overlap(masks[a], masks[b])
        except ValueError:  # another grid (or an undecodable mask): not comparable
            return None

    pair_overlaps: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    pair_items: dict[tuple[str, str], int] = defaultdict(int)
    machine_overlaps: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    machine_items: dict[str, int] = defaultdict(int)
    for item, by_reader in readers_masks.items():
        for reader, organs in by_reader.items():
            machine_items[reader] += 1
            for organ in sorted(set(organs) | set(machine[item])):
                result = overlap(organs.get(organ), machine[item].get(organ))
                if result is not None:
                    machine_overlaps[reader][organ].append(result)
        for r1, r2 in combinations(sorted(by_reader), 2):
            pair_items[(r1, r2)] += 1
            for organ in sorted(set(by_reader[r1]) | set(by_reader[r2])):
                result = overlap(by_reader[r1].get(organ), by_reader[r2].get(organ))
                if result is not None:
                    pair_overlaps[(r1, r2)][organ].append(result)
    return {
        "pairs": [
            {"readers": list(pair), "items": pair_items[pair], **_overlap_summary(pair_overlaps[pair])}
            for pair in sorted(pair_items)
        ],
        "vs_machine": [
            {"reader": reader, "items": machine_items[reader], **_overlap_summary(machine_overlaps[reader])}
            for reader in sorted(machine_items)
        ],
        "reads": len(reads),
        "limit": limit,
    }
