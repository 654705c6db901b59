"""The CLI logic as plain functions: label a CSV of reports, and score a labels CSV against gold.

`manage.py label_reports` and `manage.py evaluate_labels` are thin wrappers around `label_csv` and
`evaluate_csv`.  A CSV that cannot be used at all (no header, missing columns) raises CsvFormatError;
a bad row (too long, not a report) gets an all-blank output row and an entry in the summary's errors,
and every other row is still labelled.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from curation.csvsafe import SafeWriter
from nlp.core.evaluate import EvaluationSummary, canonical_value, evaluate_labels
from nlp.core.label_spaces import csv_row, report_labels
from nlp.core.labeler import Labeler, ReportResult

# A row is read whole; raise the csv module's 128 kB field limit so that a huge report becomes a
# row error (reported, blank row) instead of aborting the file.
_FIELD_LIMIT = 64 * 1024 * 1024
_BATCH_SIZE = 512


class CsvFormatError(ValueError):
    """The CSV cannot be used: no header row, or the named columns are missing."""


@dataclass(frozen=True)
class RowError:
    row: int
    report_id: str
    message: str


@dataclass
class LabelCsvSummary:
    """What `label_csv` did: counts, per-row errors and warnings, and the labeler version."""

    rows: int = 0
    labelled: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    label_space: str = ""
    labeler_version: str = ""
    seconds: float = 0.0

    @property
    def reports_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _set_field_limit() -> None:
    try:
        csv.field_size_limit(_FIELD_LIMIT)
    except OverflowError:  # pragma: no cover - 32-bit platforms
        csv.field_size_limit(2**31 - 1)


def _open_text(path: str | Path) -> io.TextIOWrapper:
    # utf-8-sig drops a BOM; bytes that are not UTF-8 become U+FFFD so that one bad row does not stop
    # the file (the labeler reports a warning for that row).
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def label_csv(
    input_path: str | Path,
    output_path: str | Path,
    id_column: str,
    text_columns: Sequence[str],
    label_space: str = "chexpert",
    jsonl_path: str | Path | None = None,
    labeler: Labeler | None = None,
    batch_size: int = _BATCH_SIZE,
) -> LabelCsvSummary:
    """Label every report of `input_path` and write labels.csv (and optionally evidence JSONL).

    labels.csv has `id_column`, then one column per label of the space, values 1, 0, -1 or blank.
    Raises CsvFormatError for a file without a header or without the named columns, and
    VocabularyError for an unknown label space; row-level problems are collected in the summary.
    """
    started = time.perf_counter()
    text_columns = [column.strip() for column in text_columns if column.strip()]
    if not text_columns:
        raise CsvFormatError("name at least one text column")
    labeler = labeler or Labeler()
    space = labeler.vocabulary.label_space(label_space)
    summary = LabelCsvSummary(label_space=space.name, labeler_version=labeler.version)
    _set_field_limit()
    with _open_text(input_path) as source:
        reader = csv.DictReader(source)
        header = reader.fieldnames
        if not header:
            raise CsvFormatError(f"{input_path}: the file is empty or has no header row")
        missing = [column for column in [id_column, *text_columns] if column not in header]
        if missing:
            raise CsvFormatError(
                f"{input_path}: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
            )
        with open(output_path, "w", encoding="utf-8", newline="") as output:
            writer = SafeWriter(output)
            writer.writerow([id_column, *space.labels])
            evidence = open(jsonl_path, "w", encoding="utf-8") if jsonl_path else None
            try:
                for batch in _batches(reader, id_column, batch_size, summary):
                    reports = [
                        {column: row.get(column) or "" for column in text_columns} if ok else None
                        for _, _, row, ok in batch
                    ]
                    for (line, report_id, _row, ok), result in zip(
                        batch, labeler.label_many(reports, batch_size=batch_size), strict=True
                    ):
                        summary.rows += 1
                        if not ok:
                            result.error = "row has more fields than the header"
                        if result.error:
                            summary.errors.append(RowError(line, report_id, result.error))
                        else:
                            summary.labelled += 1
                        for message in result.warnings:
                            summary.warnings.append(RowError(line, report_id, message))
                        labels = report_labels(result, labeler.vocabulary, space.name)
                        writer.writerow([report_id, *csv_row(labels)])
                        if evidence is not None:
                            evidence.write(json.dumps(_evidence_record(report_id, labels, result)) + "\n")
            finally:
                if evidence is not None:
                    evidence.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _batches(reader: csv.DictReader, id_column: str, size: int, summary: LabelCsvSummary) -> Iterator[list]:
    """(line, report id, row, well-formed) tuples in batches; unreadable lines become row errors."""
    batch = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            summary.errors.append(RowError(reader.line_num, "", f"unreadable CSV line: {error}"))
            continue
        # csv puts the surplus fields of a too-long row under the key None.
        batch.append((reader.line_num, (row.get(id_column) or "").strip(), row, None not in row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _evidence_record(report_id: str, labels: dict, result: ReportResult) -> dict:
    record = {"id": report_id, "labels": labels}
    record.update(result.to_dict())
    return record


def read_label_csv(path: str | Path, id_column: str | None = None) -> tuple[str, list[str], dict[str, dict]]:
    """(id column, label columns, rows by id) of a labels CSV; raises CsvFormatError when unusable."""
    _set_field_limit()
    with _open_text(path) as source:
        reader = csv.DictReader(source)
        header = reader.fieldnames
        if not header:
            raise CsvFormatError(f"{path}: the file is empty or has no header row")
        id_column = id_column or header[0]
        if id_column not in header:
            raise CsvFormatError(f"{path}: no id column {id_column!r}; the header has {', '.join(header)}")
        rows = {}
        for row in reader:
            rows[(row.get(id_column) or "").strip()] = row
    return id_column, [column for column in header if column != id_column], rows


def evaluate_csv(
    pred_path: str | Path,
    gold_path: str | Path,
    id_column: str | None = None,
    labels: Sequence[str] | None = None,
    uncertain_as_positive: bool = False,
    exclude_column: str = "exclude",
) -> EvaluationSummary:
    """Score a labels CSV against a gold CSV (same id column, label columns in common).

    Gold rows with a true `exclude_column` (as in the Open-i gold) are skipped.  Per-status scores are
    included when the gold has negative or uncertain labels.  Raises CsvFormatError when the files
    share no label column or a value is not 1, 0, -1 or blank.
    """
    gold_id, gold_columns, gold_rows = read_label_csv(gold_path, id_column)
    _pred_id, pred_columns, pred_rows = read_label_csv(pred_path, id_column or gold_id)
    if labels is None:
        labels = [column for column in gold_columns if column in pred_columns and column != exclude_column]
    missing = [label for label in labels if label not in gold_columns or label not in pred_columns]
    if missing or not labels:
        raise CsvFormatError(
            f"label columns missing from the prediction or the gold: {', '.join(missing) or 'none in common'}"
        )
    if exclude_column in gold_columns:
        gold_rows = {
            key: row for key, row in gold_rows.items() if (row.get(exclude_column) or "").strip() not in ("1", "true")
        }
    try:
        for rows in (gold_rows, pred_rows):
            for row in rows.values():
                for label in labels:
                    canonical_value(row.get(label))
    except ValueError as error:
        raise CsvFormatError(str(error)) from None
    return evaluate_labels(pred_rows, gold_rows, list(labels), uncertain_as_positive=uncertain_as_positive)
