"""The data card written beside each export: counts, label prevalence per split with the source of each
label, agreement, QC distribution, demographics, and the label-shift table between the project's sources
(prevalence per finding per dataset), as JSON, as HTML and as SVG plots (frontend.plots draws them).

It is accumulated row by row while the format streams (`DataCard.add`), so it costs no second pass and
holds only counters: labels × splits × sources, whatever the number of rows.
"""

from __future__ import annotations

import json

from django.utils import timezone
from django.utils.html import escape

from ..models import DatasetVersion
from .base import Row
from .sinks import Sink

AGE_BANDS = ((0, 17, "0–17"), (18, 39, "18–39"), (40, 59, "40–59"), (60, 79, "60–79"), (80, 200, "80+"))
SPLITS = ("train", "valid", "test")
SPLIT_COLOURS = {"train": "#1f6feb", "valid": "#bf8700", "test": "#8250df"}
DATASET_COLOURS = ("#1f6feb", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a", "#0a3069")
QC_NAMES = {"": "not judged", "accept": "accept", "review": "review", "reject": "reject"}


def _age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    for low, high, name in AGE_BANDS:
        if low <= age <= high:
            return name
    return "unknown"


class DataCard:
    def __init__(self, version: DatasetVersion):
        self.version = version
        self.rows = dict.fromkeys(SPLITS, 0)
        self.studies = dict.fromkeys(SPLITS, 0)
        self.patients = dict.fromkeys(SPLITS, 0)
        # split -> label -> status -> n;  label -> source -> n
        self.status: dict[str, dict[str, dict[str, int]]] = {s: {} for s in SPLITS}
        self.sources: dict[str, dict[str, int]] = {}
        self.qc: dict[str, int] = {}
        self.views: dict[str, int] = {}
        self.sex = {s: {} for s in SPLITS}
        self.age = {s: {} for s in SPLITS}
        # dataset -> rows;  dataset -> label -> positives
        self.dataset_rows: dict[str, int] = {}
        self.dataset_positive: dict[str, dict[str, int]] = {}
        # studies whose labels came from each review source
        self.review_studies: dict[str, int] = {}

    def add(self, row: Row) -> None:
        split = row.split
        self.rows[split] += 1
        first_image = row.image_index == 0
        if first_image:
            self.studies[split] += 1
            if row.follow_up == 0:
                self.patients[split] += 1
                self.sex[split][row.sex or "unknown"] = self.sex[split].get(row.sex or "unknown", 0) + 1
        if first_image:
            band = _age_band(row.age_years)
            self.age[split][band] = self.age[split].get(band, 0) + 1
        qc = QC_NAMES.get(row.qc_decision, row.qc_decision)
        self.qc[qc] = self.qc.get(qc, 0) + 1
        view = row.view_position or "unknown"
        self.views[view] = self.views.get(view, 0) + 1
        self.dataset_rows[row.dataset] = self.dataset_rows.get(row.dataset, 0) + 1
        by_label = self.status[split]
        positive_here = self.dataset_positive.setdefault(row.dataset, {})
        review_sources = set()
        for label, (status, source) in row.labels.items():
            counts = by_label.get(label)
            if counts is None:
                counts = by_label[label] = {}
            key = status or "not_mentioned"
            counts[key] = counts.get(key, 0) + 1
            per_source = self.sources.get(label)
            if per_source is None:
                per_source = self.sources[label] = {}
            per_source[source] = per_source.get(source, 0) + 1
            if status == "positive":
                positive_here[label] = positive_here.get(label, 0) + 1
            if source in ("adjudicated", "agreed", "single_review"):
                review_sources.add(source)
        if first_image:
            for source in review_sources:
                self.review_studies[source] = self.review_studies.get(source, 0) + 1

    # --- the card ---------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        return sorted(self.sources)

    def as_dict(self, export_counts: dict | None = None) -> dict:
        version = self.version
        prevalence = {}
        for label in self.labels():
            prevalence[label] = {
                "by_split": {
                    split: {
                        **self.status[split].get(label, {}),
                        "prevalence": _share(self.status[split].get(label, {}).get("positive", 0), self.rows[split]),
                    }
                    for split in SPLITS
                },
                "sources": dict(sorted(self.sources[label].items())),
            }
        shift = {
            dataset: {
                "rows": rows,
                "prevalence": {
                    label: _share(self.dataset_positive.get(dataset, {}).get(label, 0), rows) for label in self.labels()
                },
            }
            for dataset, rows in sorted(self.dataset_rows.items())
        }
        agreed = self.review_studies.get("agreed", 0)
        adjudicated = self.review_studies.get("adjudicated", 0)
        return {
            "version": {
                "id": version.pk,
                "name": version.name,
                "content_hash": version.content_hash,
                "label_space": version.label_space,
                "labeler_version": version.labeler_version,
                "qc_version": version.qc_version,
                "review_version": version.review_version,
                "frozen_at": version.frozen_at.isoformat(),
                "frozen_by": version.frozen_by.username if version.frozen_by_id else "",
                "definition": {
                    "name": version.definition.name,
                    "views": version.definition.views,
                    "datasets": version.definition.datasets,
                    "label_precedence": version.definition.label_precedence,
                    "qc_decisions": version.definition.qc_decisions,
                    "min_agreement": version.definition.min_agreement,
                    "split_fractions": version.definition.split_fractions,
                    "split_seed": version.definition.split_seed,
                },
            },
            "generated_at": timezone.now().isoformat(),
            "counts": {
                "rows": dict(self.rows),
                "studies": dict(self.studies),
                "patients": dict(self.patients),
                "excluded_at_freeze": (version.summary or {}).get("excluded", {}),
                "export": dict(sorted((export_counts or {}).items())),
            },
            "label_prevalence": prevalence,
            "agreement": {
                "studies_single_review": self.review_studies.get("single_review", 0),
                "studies_agreed": agreed,
                "studies_adjudicated": adjudicated,
                "first_read_agreement": _share(agreed, agreed + adjudicated),
            },
            "qc_distribution": dict(sorted(self.qc.items())),
            "views": dict(sorted(self.views.items())),
            "demographics": {
                "sex_by_split": {s: dict(sorted(self.sex[s].items())) for s in SPLITS},
                "age_by_split": {s: dict(sorted(self.age[s].items())) for s in SPLITS},
            },
            "label_shift": shift,
        }

    def write(self, sink: Sink, export_counts: dict | None = None, prefix: str = "") -> None:
        """datacard.json, datacard.html and its plots (datacard_plots/*.svg) under `prefix`."""
        card = self.as_dict(export_counts)
        with sink.text(prefix + "datacard.json") as out:
            json.dump(card, out, indent=2, ensure_ascii=False, sort_keys=False)
        plots = self._plots(card)
        for name, svg in plots.items():
            sink.write_bytes(f"{prefix}datacard_plots/{name}.svg", svg.encode())
        with sink.text(prefix + "datacard.html") as out:
            out.write(_html(card, list(plots)))

    def _plots(self, card: dict) -> dict[str, str]:
        from frontend.plots import Series, grouped_bars, percent

        labels = self.labels()
        prevalence = card["label_prevalence"]
        plots = {
            "prevalence_by_split": grouped_bars(
                "prevalence-by-split",
                "Label prevalence per split (share of images positive)",
                labels,
                [
                    Series(split, [prevalence[label]["by_split"][split]["prevalence"] for label in labels], colour)
                    for split, colour in SPLIT_COLOURS.items()
                ],
            )
        }
        shift = card["label_shift"]
        if shift:
            plots["label_shift"] = grouped_bars(
                "label-shift",
                "Label shift: prevalence per finding per source dataset",
                labels,
                [
                    Series(dataset, [shift[dataset]["prevalence"][label] for label in labels], colour)
                    for dataset, colour in zip(shift, DATASET_COLOURS * 4, strict=False)
                ],
            )
        qc = card["qc_distribution"]
        total = sum(qc.values()) or 1
        plots["qc_distribution"] = grouped_bars(
            "qc-distribution",
            "QC decisions of the images",
            list(qc),
            [Series("images", [n / total for n in qc.values()], "#1a7f37")],
            fmt=percent,
        )
        return {name: str(svg) for name, svg in plots.items()}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _table(head: list[str], rows: list[list]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _html(card: dict, plots: list[str]) -> str:
    version = card["version"]
    counts = card["counts"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Data card: {escape(version['name'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccd;padding:.2rem .5rem;"
        "text-align:left}th{background:#f3f5f8}</style></head><body>",
        f"<h1>Data card: {escape(version['name'])}</h1>",
        _table(
            ["field", "value"],
            [
                ["content hash (sha256)", version["content_hash"]],
                ["label space", version["label_space"]],
                ["labeler", version["labeler_version"] or "–"],
                ["QC", version["qc_version"] or "–"],
                ["review", version["review_version"] or "–"],
                ["frozen", f"{version['frozen_at']} by {version['frozen_by'] or 'the system'}"],
                ["label precedence", " > ".join(version["definition"]["label_precedence"])],
                ["QC decisions admitted", ", ".join(version["definition"]["qc_decisions"])],
            ],
        ),
        "<h2>Counts</h2>",
        _table(
            ["split", "patients", "studies", "images"],
            [[s, counts["patients"][s], counts["studies"][s], counts["rows"][s]] for s in SPLITS],
        ),
        "<h3>Left out when frozen</h3>",
        _table(["reason", "images"], [[k, v] for k, v in counts["excluded_at_freeze"].items()]),
        "<h3>This export</h3>",
        _table(["what", "n"], [[k, v] for k, v in counts["export"].items()]),
        "<h2>Label prevalence per split, and where each label came from</h2>",
        _table(
            ["label", *(f"{s} positive" for s in SPLITS), "sources (images)"],
            [
                [
                    label,
                    *(_pct(entry["by_split"][s]["prevalence"]) for s in SPLITS),
                    ", ".join(f"{src} {n}" for src, n in entry["sources"].items()),
                ]
                for label, entry in card["label_prevalence"].items()
            ],
        ),
        "<h2>Agreement</h2>",
        _table(
            ["studies", "n"], [[k, v if not isinstance(v, float) else _pct(v)] for k, v in card["agreement"].items()]
        ),
        "<h2>QC distribution</h2>",
        _table(["decision", "images"], [[k, v] for k, v in card["qc_distribution"].items()]),
        "<h2>Demographics (patients by sex, studies by age)</h2>",
        _table(
            ["split", "sex", "age"],
            [
                [
                    s,
                    ", ".join(f"{k} {v}" for k, v in card["demographics"]["sex_by_split"][s].items()),
                    ", ".join(f"{k} {v}" for k, v in card["demographics"]["age_by_split"][s].items()),
                ]
                for s in SPLITS
            ],
        ),
        "<h2>Label shift between sources</h2>",
        _table(
            ["label", *card["label_shift"]],
            [
                [label, *(_pct(card["label_shift"][d]["prevalence"][label]) for d in card["label_shift"])]
                for label in card["label_prevalence"]
            ],
        ),
        "<h2>Plots</h2>",
        *(
            f"<p><img src='datacard_plots/{escape(name)}.svg' alt='{escape(name.replace('_', ' '))}'></p>"
            for name in plots
        ),
        "</body></html>",
    ]
    return "".join(parts)
