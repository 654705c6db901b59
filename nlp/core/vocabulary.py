"""The labeler's vocabulary: findings, their terms and label mappings, cue lists and label spaces.

Everything here is data loaded from `nlp/vocabulary/*.yaml`; `extend_vocabulary` merges a project's
custom findings and synonyms (plain dicts, as the UI and API send them) into a base vocabulary.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

VOCABULARY_DIR = Path(__file__).resolve().parent.parent / "vocabulary"

STATUSES = ("positive", "uncertain", "negative")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_TERM_CHARS = 100
_TERM_KEYS = {"term", "exact", "neutral", "stable", "max_status", "status", "defer_to_cause"}
_FINDING_KEYS = {"id", "name", "labels", "terms", "blocks_no_finding"}


class VocabularyError(ValueError):
    """A vocabulary or a project's extension of it is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid vocabulary: " + "; ".join(self.problems))


@dataclass(frozen=True)
class TermSpec:
    """One phrase of a finding and how a mention of it is read."""

    text: str
    exact: bool = False
    neutral: bool = False
    stable: str | None = None
    max_status: str | None = None
    status: str | None = None
    defer_to_cause: bool = False


@dataclass(frozen=True)
class Finding:
    """A finding the labeler can mention; `labels` maps a label space to the labels it sets there."""

    id: str
    name: str
    labels: Mapping[str, tuple[str, ...]]
    terms: tuple[TermSpec, ...]
    blocks_no_finding: bool | tuple[str, ...] = True

    def blocks(self, space_name: str) -> bool:
        """Whether this finding, present or possible, rules out No Finding in the label space."""
        if isinstance(self.blocks_no_finding, tuple):
            return space_name in self.blocks_no_finding
        return self.blocks_no_finding


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of report labels (the columns of labels.csv)."""

    name: str
    labels: tuple[str, ...]
    no_finding: str
    requires_normal_statement: bool
    stability_uncertain: bool = True
    strong_hedges: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Vocabulary:
    """Findings, ignore phrases, cues, normality statements, label spaces and native label maps."""

    findings: Mapping[str, Finding]
    ignore: tuple[str, ...]
    cues: Mapping[str, Any]
    normal_statements: tuple[str, ...]
    label_spaces: Mapping[str, LabelSpace]
    native_maps: Mapping[str, Mapping[str, Mapping[str, str | None]]]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """A short hash of the vocabulary content, recorded with every result for provenance."""
        blob = json.dumps(self.raw, sort_keys=True, ensure_ascii=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def label_space(self, name: str) -> LabelSpace:
        try:
            return self.label_spaces[name]
        except KeyError:
            known = ", ".join(sorted(self.label_spaces))
            raise VocabularyError([f"unknown label space {name!r} (known: {known})"]) from None


def inflections(text: str) -> list[str]:
    """The phrase and the plural of its last word (the tokenizer has no lemmatizer)."""
    words = text.split(" ")
    last = words[-1]
    if not last.isalpha() or len(last) < 3:
        return [text]
    if last.endswith(("s", "x", "z", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return [text, " ".join(words[:-1] + [plural])]


def _read_yaml(name: str) -> Any:
    with open(VOCABULARY_DIR / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@lru_cache(maxsize=1)
def _base_raw() -> dict[str, Any]:
    findings = _read_yaml("findings.yaml")
    return {
        "findings": findings["findings"],
        "ignore": findings.get("ignore", []),
        "cues": _read_yaml("cues.yaml"),
        "label_spaces": _read_yaml("label_spaces.yaml"),
    }


def load_vocabulary() -> Vocabulary:
    """The base vocabulary shipped with the labeler."""
    return build_vocabulary(copy.deepcopy(_base_raw()))


def _as_label_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _parse_term(raw: Any, where: str, problems: list[str]) -> TermSpec | None:
    if isinstance(raw, str):
        raw = {"term": raw}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: a term must be a string or a mapping, got {type(raw).__name__}")
        return None
    unknown = set(raw) - _TERM_KEYS
    if unknown:
        problems.append(f"{where}: unknown term keys {sorted(unknown)}")
    text = raw.get("term")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: a term must be a non-empty string")
        return None
    text = " ".join(text.lower().split())
    if len(text) > _MAX_TERM_CHARS:
        problems.append(f"{where}: term {text[:30]!r}... is longer than {_MAX_TERM_CHARS} characters")
        return None
    for key in ("stable", "max_status", "status"):
        if raw.get(key) is not None and raw[key] not in STATUSES:
            problems.append(f"{where}: {key} must be one of {STATUSES}, got {raw[key]!r}")
            return None
    return TermSpec(
        text=text,
        exact=bool(raw.get("exact", False)),
        neutral=bool(raw.get("neutral", False)),
        stable=raw.get("stable"),
        max_status=raw.get("max_status"),
        status=raw.get("status"),
        defer_to_cause=bool(raw.get("defer_to_cause", False)),
    )


def build_vocabulary(raw: dict[str, Any]) -> Vocabulary:
    """Validate raw vocabulary data and build a Vocabulary; raises VocabularyError listing every problem."""
    problems: list[str] = []
    spaces_raw = raw["label_spaces"]["spaces"]
    label_spaces = {
        name: LabelSpace(
            name=name,
            labels=tuple(spec["labels"]),
            no_finding=spec["no_finding"],
            requires_normal_statement=bool(spec.get("requires_normal_statement", True)),
            stability_uncertain=bool(spec.get("stability_uncertain", True)),
            strong_hedges=frozenset(str(item).lower() for item in spec.get("strong_hedges", [])),
        )
        for name, spec in spaces_raw.items()
    }
    findings: dict[str, Finding] = {}
    term_owner: dict[str, str] = {}
    for index, entry in enumerate(raw["findings"]):
        where = f"finding #{index + 1}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a mapping")
            continue
        fid = entry.get("id")
        if not isinstance(fid, str) or not _ID_RE.match(fid):
            problems.append(f"{where}: id must be lower_snake_case (a-z, 0-9, _), got {fid!r}")
            continue
        where = f"finding {fid!r}"
        if fid in findings:
            problems.append(f"{where}: duplicate id")
            continue
        unknown = set(entry) - _FINDING_KEYS
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(unknown)}")
        labels_raw = entry.get("labels") or {}
        labels: dict[str, tuple[str, ...]] = {}
        if not isinstance(labels_raw, Mapping):
            problems.append(f"{where}: labels must map a label space to a label")
            labels_raw = {}
        for space_name, value in labels_raw.items():
            if space_name not in label_spaces:
                problems.append(f"{where}: unknown label space {space_name!r}")
                continue
            space = label_spaces[space_name]
            targets = _as_label_tuple(value)
            for target in targets:
                if target not in space.labels or target == space.no_finding:
                    problems.append(f"{where}: {target!r} is not a finding label of {space_name}")
            labels[space_name] = targets
        terms_raw = entry.get("terms")
        if not isinstance(terms_raw, list) or not terms_raw:
            problems.append(f"{where}: needs a non-empty list of terms")
            continue
        terms = []
        for term_index, term_raw in enumerate(terms_raw):
            term = _parse_term(term_raw, f"{where} term #{term_index + 1}", problems)
            if term is None:
                continue
            owner = term_owner.get(term.text)
            if owner is not None and owner != fid:
                problems.append(f"{where}: term {term.text!r} already belongs to finding {owner!r}")
                continue
            term_owner[term.text] = fid
            terms.append(term)
        blocks = entry.get("blocks_no_finding", True)
        if isinstance(blocks, list):
            for space_name in blocks:
                if space_name not in label_spaces:
                    problems.append(f"{where}: blocks_no_finding names unknown label space {space_name!r}")
            blocks = tuple(blocks)
        elif not isinstance(blocks, bool):
            problems.append(f"{where}: blocks_no_finding must be true, false or a list of label spaces")
            blocks = True
        findings[fid] = Finding(
            id=fid,
            name=str(entry.get("name") or fid),
            labels=labels,
            terms=tuple(terms),
            blocks_no_finding=blocks,
        )
    ignore = tuple(" ".join(str(text).lower().split()) for text in raw.get("ignore", []))
    cues = raw["cues"]
    statements = _normal_statements(cues.get("normal_statements", {}))
    native = {
        dataset: {str(name).lower(): dict(targets) for name, targets in table.items()}
        for dataset, table in raw["label_spaces"].get("native", {}).items()
    }
    if problems:
        raise VocabularyError(problems)
    return Vocabulary(
        findings=findings,
        ignore=ignore,
        cues=cues,
        normal_statements=statements,
        label_spaces=label_spaces,
        native_maps=native,
        raw=raw,
    )


def _normal_statements(spec: Mapping[str, Any]) -> tuple[str, ...]:
    phrases = set(spec.get("phrases", []))
    for prefix in spec.get("prefixes", []):
        for qualifier in spec.get("qualifiers", [""]):
            for head in spec.get("heads", []):
                phrases.add(" ".join(part for part in (prefix, qualifier, head) if part))
    return tuple(sorted(phrases))


def extend_vocabulary(base: Vocabulary, extension: Mapping[str, Any]) -> Vocabulary:
    """Merge a project's custom findings and synonyms into `base`.

    `extension` is a plain dict::

        {"findings": [{"id": "pneumoperitoneum", "name": "Pneumoperitoneum",
                       "terms": ["pneumoperitoneum", "free intraperitoneal air"],
                       "labels": {"chexpert": None}, "blocks_no_finding": True}],
         "synonyms": {"pleural_effusion": ["hydrothorax"]}}

    Synonyms may also be given as term mappings (`{"term": ..., "max_status": "uncertain"}`).
    Raises VocabularyError listing every problem (unknown finding, duplicate id, a term that already
    belongs to another finding, unknown label, bad types); the base is never modified.
    """
    if not isinstance(extension, Mapping):
        raise VocabularyError(["the extension must be a mapping with 'findings' and/or 'synonyms'"])
    unknown = set(extension) - {"findings", "synonyms"}
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown extension keys {sorted(unknown)} (expected 'findings', 'synonyms')")
    raw = copy.deepcopy(dict(base.raw))
    raw["findings"] = list(raw["findings"])
    existing_ids = {entry["id"] for entry in raw["findings"]}
    new_findings = extension.get("findings") or []
    if not isinstance(new_findings, list):
        problems.append("'findings' must be a list")
        new_findings = []
    for index, entry in enumerate(new_findings):
        if isinstance(entry, Mapping) and entry.get("id") in existing_ids:
            problems.append(f"custom finding #{index + 1}: id {entry.get('id')!r} already exists")
            continue
        raw["findings"].append(dict(entry) if isinstance(entry, Mapping) else entry)
    synonyms = extension.get("synonyms") or {}
    if not isinstance(synonyms, Mapping):
        problems.append("'synonyms' must map a finding id to a list of terms")
        synonyms = {}
    by_id = {entry.get("id"): entry for entry in raw["findings"] if isinstance(entry, Mapping)}
    for fid, terms in synonyms.items():
        if fid not in by_id:
            problems.append(f"synonyms for unknown finding {fid!r}")
            continue
        if isinstance(terms, str) or not isinstance(terms, list):
            problems.append(f"synonyms for {fid!r} must be a list of terms")
            continue
        entry = dict(by_id[fid])
        entry["terms"] = list(entry.get("terms", [])) + list(terms)
        raw["findings"][raw["findings"].index(by_id[fid])] = entry
        by_id[fid] = entry
    if problems:
        raise VocabularyError(problems)
    return build_vocabulary(raw)
