"""The structure extractor's vocabulary: the label miner's vocabulary with the 18 longitudinal terms.

The base vocabulary (nlp/vocabulary/*.yaml) is reused as it is, except that its one support-device finding
is split into the six device terms of the longitudinal conventions and a few cues and terms are added
(nlp/structure/lexicon.yaml).  The result is an ordinary `Vocabulary`, so the ordinary `Labeler` runs it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlp.core.vocabulary import Vocabulary, build_vocabulary, load_vocabulary

LEXICON_PATH = Path(__file__).resolve().parent / "lexicon.yaml"

TERMS = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Endotracheal Tube",
    "Nasogastric Tube",
    "Central Venous Catheter",
    "Chest Tube",
    "Pacemaker",
    "Sternotomy Wires",
)
DEVICE_TERMS = frozenset(TERMS[12:])
# Rows that never carry a location (conventions §7).
UNLOCATED_TERMS = frozenset(
    {"Endotracheal Tube", "Nasogastric Tube", "Sternotomy Wires", "Cardiomegaly", "Enlarged Cardiomediastinum"}
)
CHANGES = ("new", "worsened", "stable", "improved", "resolved")
SEVERITIES = ("trace", "small", "moderate", "large", "mild", "severe")
LOCATIONS = (
    "left",
    "right",
    "bilateral",
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "left upper lobe",
    "lingula",
    "left lower lobe",
    "right apex",
    "left apex",
    "right mid lung",
    "left mid lung",
    "right base",
    "left base",
    "bibasilar",
    "right perihilar",
    "left perihilar",
    "perihilar",
    "retrocardiac",
    "right ribs",
    "left ribs",
    "right clavicle",
    "left clavicle",
    "spine",
)
_OTHER_DEVICE_ID = "other_device"
_SUPPORT_DEVICE_ID = "support_device"


@dataclass(frozen=True)
class Lexicon:
    """Everything the extractor reads besides the labeler: term map, change cues, locations, severities."""

    vocabulary: Vocabulary
    finding_terms: dict[str, tuple[str, ...]]
    absent_hedges: frozenset[str]
    change_cues: dict[str, str | None]
    device_stable_cues: frozenset[str]
    plan_words: tuple[str, ...]
    locations: dict[str, str]
    severities: dict[str, str]
    severity_order: tuple[str, ...]


def _normal(phrase: Any) -> str:
    return " ".join(str(phrase).lower().split())


def _term_text(term: Any) -> str:
    return _normal(term["term"] if isinstance(term, dict) else term)


def _overlay_raw(base_raw: dict[str, Any], lexicon: dict[str, Any]) -> dict[str, Any]:
    """The base vocabulary's raw data with support devices split into the six device terms."""
    raw = copy.deepcopy(base_raw)
    device_phrases: dict[str, list[str]] = {
        finding_id: [_normal(phrase) for phrase in spec["phrases"]] for finding_id, spec in lexicon["devices"].items()
    }
    claimed = {phrase: finding_id for finding_id, phrases in device_phrases.items() for phrase in phrases}
    claimed.update({_normal(phrase): _OTHER_DEVICE_ID for phrase in lexicon.get("other_device_phrases", [])})
    extra = {
        finding_id: [_normal(phrase) for phrase in phrases]
        for finding_id, phrases in (lexicon.get("extra_terms") or {}).items()
    }
    claimed.update({phrase: finding_id for finding_id, phrases in extra.items() for phrase in phrases})
    findings: list[dict[str, Any]] = []
    other_device_terms: list[Any] = []
    for entry in raw["findings"]:
        entry = dict(entry)
        kept = []
        for term in entry["terms"]:
            owner = claimed.get(_term_text(term))
            if owner is not None and owner != entry["id"]:
                continue
            if entry["id"] == _SUPPORT_DEVICE_ID:
                other_device_terms.append(term)
                continue
            kept.append(term)
        known = {_term_text(term) for term in kept}
        kept.extend(phrase for phrase in extra.get(entry["id"], []) if phrase not in known)
        if entry["id"] == _SUPPORT_DEVICE_ID:
            continue
        entry["terms"] = kept
        if kept:
            findings.append(entry)
    status_terms = {"extubated": "negative", "extubation": "negative"}
    for finding_id, phrases in device_phrases.items():
        terms = [
            {"term": phrase, "exact": True, "status": status_terms[phrase]}
            if phrase in status_terms
            else {"term": phrase, "exact": len(phrase) <= 4}
            for phrase in phrases
        ]
        findings.append({"id": finding_id, "name": lexicon["devices"][finding_id]["term"], "terms": terms})
    other_known = {_term_text(term) for term in other_device_terms}
    other_device_terms.extend(
        phrase
        for phrase in (_normal(item) for item in lexicon.get("other_device_phrases", []))
        if phrase not in other_known
    )
    findings.append({"id": _OTHER_DEVICE_ID, "name": "Other device", "terms": other_device_terms})
    raw["findings"] = findings
    cues = raw["cues"]
    for group, lists in (lexicon.get("extra_cues") or {}).items():
        target = cues.setdefault(group, {})
        for direction, phrases in lists.items():
            current = list(target.get(direction) or [])
            current.extend(phrase for phrase in phrases if phrase not in current)
            target[direction] = current
    return raw


def _expand_locations(table: dict[str, str]) -> dict[str, str]:
    expanded: dict[str, str] = {}
    for phrase, value in table.items():
        sides = ("left", "right") if "{side}" in phrase else (None,)
        for side in sides:
            key = phrase.replace("{side}", side) if side else phrase
            expanded[_normal(key)] = value.replace("{side}", side) if side else value
    unknown = sorted({value for value in expanded.values()} - set(LOCATIONS))
    if unknown:
        raise ValueError(f"lexicon.yaml: locations outside the fixed vocabulary: {unknown}")
    return expanded


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The structure lexicon and its labeler vocabulary (built once per process)."""
    with open(LEXICON_PATH, encoding="utf-8") as handle:
        lexicon = yaml.safe_load(handle)
    base = load_vocabulary()
    vocabulary = build_vocabulary(_overlay_raw(dict(base.raw), lexicon))
    finding_terms: dict[str, tuple[str, ...]] = {}
    for finding in vocabulary.findings.values():
        if finding.id in lexicon["devices"]:
            finding_terms[finding.id] = (lexicon["devices"][finding.id]["term"],)
        else:
            labels = finding.labels.get("chexpert", ())
            finding_terms[finding.id] = tuple(label for label in labels if label in TERMS)
    change_cues: dict[str, str | None] = {}
    for category, phrases in lexicon["change_cues"].items():
        for phrase in phrases:
            change_cues[_normal(phrase)] = None if category == "none" else category
    severities = {_normal(word): value for word, value in lexicon["severities"].items()}
    if set(severities.values()) - set(SEVERITIES):
        raise ValueError("lexicon.yaml: severities outside the fixed vocabulary")
    return Lexicon(
        vocabulary=vocabulary,
        finding_terms=finding_terms,
        absent_hedges=frozenset(_normal(item) for item in lexicon["absent_hedges"]),
        change_cues=change_cues,
        device_stable_cues=frozenset(_normal(item) for item in lexicon["device_stable_cues"]),
        plan_words=tuple(_normal(item) for item in lexicon["plan_words"]),
        locations=_expand_locations(lexicon["locations"]),
        severities=severities,
        severity_order=tuple(lexicon["severity_order"]),
    )


def phrase_pattern(phrases: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> re.Pattern[str]:
    """A case-insensitive regex matching any of the phrases as whole words, longest first."""
    ordered = sorted(set(phrases), key=lambda item: (-len(item), item))
    body = "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase in ordered)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)
