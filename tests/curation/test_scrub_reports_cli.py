"""`manage.py scrub_reports` run as a real process with its exact flags and no database."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NO_DATABASE = {
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    "DJANGO_SECRET_KEY": "x",
    "CELERY_BROKER_URL": "",
}


def _scrub(*args):
    return subprocess.run(
        [sys.executable, "manage.py", "scrub_reports", *args],
        cwd=ROOT,
        env={**os.environ, **NO_DATABASE},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_scrubs_the_named_columns_and_keeps_everything_else(tmp_path):
    # Given a CSV whose report columns hold PHI, with other columns around them
    source = _write(
        tmp_path / "reports.csv",
        [
            ["site", "ID", "findings", "impression", "score"],
            ["north", "r1", "Discussed with Dr. Lindqvist on 03/14/2021. No effusion.", "Normal.", "-1.0"],
            ["south", "r2", "Patient: Ravi Iyer. SSN 321-54-9876.", "Call (555) 104 5497.", "=2+3"],
            ["east", "r3", "", "Kerley B lines.", "1"],
        ],
    )
    out = tmp_path / "scrubbed.csv"

    # When scrub_reports runs with a date offset
    result = _scrub(
        "--input", str(source), "--output", str(out), "--id-column", "ID",
        "--text-columns", "findings,impression", "--date-offset-days", "10",
    )  # fmt: skip

    # Then it succeeds, the header and column order are the same, PHI is gone and dates are shifted
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert rows == [
        ["site", "ID", "findings", "impression", "score"],
        ["north", "r1", "Discussed with Dr. ___ on 03/24/2021. No effusion.", "Normal.", "-1.0"],
        ["south", "r2", "Patient: ___. SSN ___.", "Call ___.", "'=2+3"],
        ["east", "r3", "", "Kerley B lines.", "1"],
    ]
    assert "scrubbed 5 cells in 3 rows" in result.stdout


def test_windows_1252_input_is_read(tmp_path):
    # Given a CSV saved as Windows-1252 with an accented name
    source = _write(
        tmp_path / "reports.csv",
        [["ID", "text"], ["r1", "Reviewed with José Nuñez, MD. No pneumothorax."]],
        encoding="cp1252",
    )
    out = tmp_path / "scrubbed.csv"

    # When it is scrubbed
    result = _scrub("--input", str(source), "--output", str(out), "--id-column", "ID", "--text-columns", "text")

    # Then it is decoded as Windows-1252 and written as UTF-8
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").splitlines()[1] == 'r1,"Reviewed with ___, MD. No pneumothorax."'
    assert "(cp1252)" in result.stdout


def test_a_report_larger_than_the_csv_default_field_limit_is_scrubbed(tmp_path):
    # Given a report of about 1 MB (the csv module refuses fields over 128 kB by default)
    big = "Lungs are clear. " * 60_000 + "Reviewed with Oskar Lindqvist, MD."
    source = _write(tmp_path / "reports.csv", [["ID", "text"], ["r1", big]])
    out = tmp_path / "scrubbed.csv"

    # When it is scrubbed
    result = _scrub("--input", str(source), "--output", str(out), "--id-column", "ID", "--text-columns", "text")

    # Then the whole report is kept and its PHI removed
    assert result.returncode == 0, result.stderr
    expected = "Lungs are clear. " * 60_000 + "Reviewed with ___, MD."
    assert out.read_bytes().decode("utf-8") == f'ID,text\r\nr1,"{expected}"\r\n'


def test_missing_column_fails_with_a_message_and_writes_nothing(tmp_path):
    # Given a CSV without the named text column
    source = _write(tmp_path / "reports.csv", [["ID", "findings"], ["r1", "Clear."]])
    out = tmp_path / "scrubbed.csv"

    # When scrub_reports is asked for a column it does not have
    result = _scrub("--input", str(source), "--output", str(out), "--id-column", "ID", "--text-columns", "impression")

    # Then it exits non-zero naming the missing column, and leaves no output file
    assert result.returncode != 0
    assert "missing column(s) impression; the header has ID, findings" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_undecodable_input_fails_with_a_message(tmp_path):
    # Given bytes that are neither UTF-8 nor Windows-1252 (0x81 is unassigned there)
    source = tmp_path / "reports.csv"
    source.write_bytes(b"ID,text\r\nr1,Patient \x81\x8d seen.\r\n")
    out = tmp_path / "scrubbed.csv"

    # When it is scrubbed
    result = _scrub("--input", str(source), "--output", str(out), "--id-column", "ID", "--text-columns", "text")

    # Then it exits non-zero and says what is wrong
    assert result.returncode != 0
    assert "neither UTF-8 nor Windows-1252" in result.stderr
    assert not out.exists()


def test_empty_input_fails_with_a_message(tmp_path):
    # Given an empty file
    source = tmp_path / "reports.csv"
    source.write_text("", encoding="utf-8")

    # When it is scrubbed
    result = _scrub(
        "--input", str(source), "--output", str(tmp_path / "o.csv"), "--id-column", "ID", "--text-columns", "t"
    )

    # Then it exits non-zero and says the file has no header
    assert result.returncode != 0
    assert "the file is empty or has no header row" in result.stderr
