"""Generate the report scrubber's word lists under curation/dicomio/wordlists/ (run by hand, output committed).

Sources, all permissive and installed from PyPI only to run this script (the scrubber reads the text files):
- english.txt: lower-case English words from `english-words` 2.0.2 (MIT; its `web2` list is FreeBSD's
  share/dict/web2, Webster's Second International, public domain; capitalised web2 entries are proper
  nouns and are left out) and from `lemminflect` 0.2.3 (MIT; lemmas and inflections, lower-case lemmas only).
- names.txt: first names and surnames in Latin script from Faker's person providers (MIT; already pinned in
  constraints.txt for factory_boy), minus words of the project's clinical vocabulary, months and weekdays.
- clinical.txt: every word of the project's own NLP vocabulary (nlp/vocabulary/*.yaml), so that clinical words
  at the start of a sentence are never taken for names.

Usage (from the repository root):
    pip install --target /tmp/wlpkgs --no-deps english-words==2.0.2 lemminflect==0.2.3
    PYTHONPATH=/tmp/wlpkgs .venv/bin/python bench/build_scrub_wordlists.py
"""

from __future__ import annotations

import calendar
import csv
import gzip
import importlib
import importlib.resources
import pkgutil
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "curation" / "dicomio" / "wordlists"
_WORD = re.compile(r"[a-z]{2,24}")
_NAME = re.compile(r"[A-Z\u00c0-\u00de][a-z\u00df-\u00ff'\-]{1,23}")
_NAME_ATTRS = re.compile(r"^(first|last|middle|male_last|unisex_last)_(names|romanized_names)")


def english_words() -> set[str]:
    from english_words import get_english_words_set

    words = {w for w in get_english_words_set(["web2"], lower=False) if w[:1].islower()}
    data = importlib.resources.files("lemminflect") / "resources"
    for name in ("lemma_lu.csv.gz", "infl_lu.csv.gz"):
        with gzip.open(data / name, "rt", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if not row or not row[0][:1].islower():
                    continue  # capitalised lemmas are proper nouns (Aaron, Aachen)
                for cell in (row[0], *row[2:]):
                    words.update(cell.replace("/", " ").split())
    return {w for w in words if _WORD.fullmatch(w)}


def prune_derivable(words: set[str]) -> set[str]:
    """Drop words the scrubber derives at run time from a shorter kept word (lungs <- lung, bibasilar <- basilar)."""
    sys.path.insert(0, str(ROOT))
    from curation.dicomio.scrub_words import PREFIXES, inflection_bases

    kept: set[str] = set()
    for word in sorted(words, key=lambda w: (len(w), w)):
        derived = any(base in kept for base in inflection_bases(word))
        for prefix in PREFIXES:
            rest = word[len(prefix) :]
            if derived or not word.startswith(prefix) or len(rest) < 4:
                continue
            derived = rest in kept or any(base in kept for base in inflection_bases(rest))
        if not derived:
            kept.add(word)
    return kept


def faker_names() -> set[str]:
    import faker.providers.person as person

    names: set[str] = set()
    for module_info in pkgutil.iter_modules(person.__path__):
        module = importlib.import_module(f"faker.providers.person.{module_info.name}")
        provider = getattr(module, "Provider", None)
        for attr in dir(provider):
            if not _NAME_ATTRS.match(attr):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, (dict, list, tuple)):
                continue  # a property computed from other lists
            if isinstance(values, dict):
                values = values.keys()
            for value in values:
                if not isinstance(value, str):
                    continue
                # "de la Cruz", "Smith-Jones": keep each capitalised part.
                for part in re.split(r"[\s\-]+", value):
                    if _NAME.fullmatch(part):
                        names.add(part)
    return names


def clinical_words() -> set[str]:
    words: set[str] = set()
    for path in sorted((ROOT / "nlp" / "vocabulary").glob("*.yaml")):
        words.update(re.findall(r"[a-z]{2,24}", path.read_text(encoding="utf-8").lower()))
    return words


def main() -> int:
    english = prune_derivable(english_words())
    clinical = clinical_words()
    calendar_words = {m.lower() for m in (*calendar.month_name, *calendar.day_name) if m}
    names = {n for n in faker_names() if n.lower() not in clinical and n.lower() not in calendar_words}
    OUT.mkdir(parents=True, exist_ok=True)
    for filename, words, note in (
        ("english.txt", english, "english-words 2.0.2 (web2, public domain) + lemminflect 0.2.3 (MIT)"),
        ("names.txt", names, "Faker 40.63.0 person providers (MIT), Latin script, minus clinical words"),
        ("clinical.txt", clinical, "words of nlp/vocabulary/*.yaml"),
    ):
        body = "\n".join(sorted(words))
        header = f"# Generated by bench/build_scrub_wordlists.py from {note}. Do not edit by hand.\n"
        (OUT / filename).write_text(header + body + "\n", encoding="utf-8")
        print(f"{filename}: {len(words)} words", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
