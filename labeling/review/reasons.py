"""Why an item is in review, in words a radiologist reads: the miner's reason codes become sentences that
quote the report (nlp/core/priority.py defines the codes), and QC flags keep their own readable reasons."""

from __future__ import annotations

_QUOTE_MAX = 80


def _quote(text: str) -> str:
    text = " ".join(str(text or "").split())
    if len(text) > _QUOTE_MAX:
        text = text[: _QUOTE_MAX - 1] + "…"
    return f"'{text}'"


def _mentions(evidence: list[dict], status: str | None = None) -> list[dict]:
    return [e for e in evidence if isinstance(e, dict) and (status is None or e.get("status") == status)]


def _first_text(evidence: list[dict], *, key: str = "text", status: str | None = None) -> str:
    for item in _mentions(evidence, status):
        if item.get(key):
            return _quote(item[key])
    return ""


def _status_words(status: str) -> str:
    return {"positive": "present", "negative": "absent", "uncertain": "uncertain", "": "not mentioned"}.get(
        status, status
    )


def label_reason(code: str, label: str, status: str, native_status: str, evidence: list[dict]) -> str:
    """One plain-language sentence for one reason code of one mined label."""
    name = label
    if code == "uncertain":
        hedge = _first_text(evidence, key="trigger", status="uncertain") or _first_text(evidence, status="uncertain")
        return f"{name}: the report hedges" + (f": {hedge}" if hedge else "")
    if code == "hedged_positive":
        hedge = _first_text(evidence, key="trigger", status="uncertain") or _first_text(evidence, status="uncertain")
        return f"{name}: read as present, but one mention is hedged" + (f": {hedge}" if hedge else "")
    if code in ("conflicting_sections", "conflicting_mentions"):
        said = _first_text(evidence, status="positive")
        denied = _first_text(evidence, status="negative")
        where = "two sections of the report disagree" if code == "conflicting_sections" else "the report says both"
        detail = " and ".join(part for part in (said, denied) if part)
        return f"{name}: {where}" + (f": {detail}" if detail else "")
    if code == "native_disagreement":
        return (
            f"{name}: the dataset's own label says {_status_words(native_status)}, "
            f"the report reads {_status_words(status)}"
        )
    if code == "rare_phrasing":
        phrase = _first_text(evidence)
        return f"{name}: phrasing seldom seen in this batch" + (f": {phrase}" if phrase else "")
    if code == "no_normal_statement":
        return f"{name}: no finding is claimed, but the report has no statement that the study is normal"
    return f"{name}: flagged for review ({code.replace('_', ' ')})"


def item_reasons(labels: list[dict], limit: int = 6) -> list[str]:
    """The sentences of a study's most doubtful labels first; at most `limit`."""
    ranked = sorted(labels, key=lambda entry: -float(entry.get("priority") or 0.0))
    sentences: list[str] = []
    for entry in ranked:
        for code in entry.get("reasons") or []:
            sentences.append(
                label_reason(
                    code,
                    entry["label"],
                    entry.get("mined_status", ""),
                    entry.get("native_status", ""),
                    entry.get("evidence") or [],
                )
            )
    return sentences[:limit]


def qc_reasons(estimated_dice: float, lungs: float | None, heart: float | None, flags: list[dict]) -> list[str]:
    """Plain-language reasons for a mask set: the estimated quality, then each flag's own reason."""
    parts = [f"lungs {lungs:.2f}" if lungs is not None else "", f"heart {heart:.2f}" if heart is not None else ""]
    detail = ", ".join(p for p in parts if p)
    sentences = [f"estimated Dice {estimated_dice:.2f}" + (f" ({detail})" if detail else "") + " without ground truth"]
    for flag in flags or []:
        reason = flag.get("reason") if isinstance(flag, dict) else None
        if reason:
            organ = str(flag.get("organ") or "").replace("_", " ")
            # QC's newer reasons name their organ already ("heart: a stray part…"): never say it twice.
            named = organ and str(reason).lower().startswith(organ.lower())
            sentences.append(f"{organ}: {reason}" if organ and not named else str(reason))
    return sentences
