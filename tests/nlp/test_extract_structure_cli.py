"""`manage.py extract_structure` as a real process with its exact flags, with a database URL that points nowhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.structure.cli import SeriesInputError, read_series

ROOT = Path(__file__).resolve().parent.parent.parent
NO_DATABASE = {
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    "DJANGO_SECRET_KEY": "x",
    "CELERY_BROKER_URL": "",
}
ROW_KEYS = ["term", "presence", "certainty", "location", "severity", "change", "evidence"]


def manage(*args):
    return subprocess.run(
        [sys.executable, "manage.py", "extract_structure", *args],
        cwd=ROOT,
        env={**os.environ, **NO_DATABASE},
        capture_output=True,
        text=True,
        timeout=300,
    )


def invented_series():
    return {
        "patients": [
            {
                "patient_id": "X1",
                "reports": [
                    {
                        "report_id": "X1-R1",
                        "study_date": "2023-02-01",
                        "study_time": "23:50",
                        "text": "INDICATION: Dyspnea.\nCOMPARISON: None.\nFINDINGS: A right chest tube is in place. "
                        "Small right apical pneumothorax.\nIMPRESSION: Small right pneumothorax.",
                        "findings": [{"term": "Edema", "presence": "present"}],
                    },
                    {
                        "report_id": "X1-R2",
                        "study_date": "2023-02-02",
                        "study_time": "06:15",
                        "text": "COMPARISON: 02/01/2023.\nFINDINGS: The right chest tube has been removed. "
                        "No pneumothorax.\nIMPRESSION: Resolved pneumothorax.",
                    },
                ],
            },
            {
                "patient_id": "X2",
                "reports": [
                    {"report_id": "X2-R1", "study_date": "2023-03-01", "text": "FINDINGS: No pneumothorax."},
                ],
            },
        ]
    }


def test_extract_structure_fills_in_findings_in_the_exact_schema(tmp_path):
    # given a small invented series (with stale findings that must be ignored)
    source, target = tmp_path / "series.json", tmp_path / "structure.json"
    source.write_text(json.dumps(invented_series()))
    # when the command runs without any database
    result = manage("--input", str(source), "--output", str(target))
    # then it succeeds and writes the same document with findings filled in
    assert result.returncode == 0, result.stderr
    assert "extracted 5 findings from 3 reports of 2 patients" in result.stdout
    output = json.loads(target.read_text())
    reports = [report for patient in output["patients"] for report in patient["reports"]]
    assert [list(report) for report in reports] == [
        ["report_id", "study_date", "study_time", "text", "findings"],
        ["report_id", "study_date", "study_time", "text", "findings"],
        ["report_id", "study_date", "text", "findings"],
    ]
    assert {tuple(row) for report in reports for row in report["findings"]} == {tuple(ROW_KEYS)}
    assert [
        [(r["term"], r["presence"], r["location"], r["severity"], r["change"]) for r in report["findings"]]
        for report in reports
    ] == [
        [("Chest Tube", "present", "right", None, None), ("Pneumothorax", "present", "right apex", "small", None)],
        [("Chest Tube", "absent", "right", None, "resolved"), ("Pneumothorax", "absent", None, None, "resolved")],
        [("Pneumothorax", "absent", None, None, None)],
    ]
    assert reports[1]["findings"][0]["evidence"] == "The right chest tube has been removed"
    assert "X2/X2-R1: the only report of its patient: no change values" in result.stderr


def test_details_flag_adds_offsets_and_extraction_notes(tmp_path):
    source, target = tmp_path / "series.json", tmp_path / "structure.json"
    document = invented_series()
    source.write_text(json.dumps(document))
    result = manage("--input", str(source), "--output", str(target), "--details")
    assert result.returncode == 0, result.stderr
    report = json.loads(target.read_text())["patients"][0]["reports"][1]
    row = report["findings"][0]
    text = document["patients"][0]["reports"][1]["text"]
    assert text[row["evidence_start"] : row["evidence_end"]] == row["evidence"]
    assert (row["change_source"], row["linked_to"]) == ("stated", "X1-R1:Chest Tube:right")
    assert report["extraction"] == {"warnings": [], "conflicts": [], "global_change": None, "timeline_position": 2}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"patients": [', "is not valid JSON"),
        ('{"patients": [{"patient_id": "A", "reports": [{"report_id": "A-R1"}]}]}', "missing key 'text'"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(tmp_path, content, message):
    source, target = tmp_path / "series.json", tmp_path / "structure.json"
    source.write_text(content)
    result = manage("--input", str(source), "--output", str(target))
    assert (result.returncode, message in result.stderr, target.exists()) == (1, True, False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"reports": []}', "missing key 'patients'"),
        ('{"patients": {}}', "'patients' must be a list, got dict"),
        ('{"patients": [{"patient_id": 7, "reports": []}]}', "patients[0].patient_id must be a str, got int"),
        ('{"patients": [{"patient_id": "A"}]}', "patients[0]: missing key 'reports'"),
        ('{"patients": [{"patient_id": "A", "reports": [3]}]}', "patients[0].reports[0] must be an object, got int"),
        (
            '{"patients": [{"patient_id": "A", "reports": [{"report_id": "A-R1", "text": 5}]}]}',
            "patients[0].reports[0].text must be a str, got int",
        ),
        (
            '{"patients": [{"patient_id": "A", "reports": [{"report_id": "A-R1", "text": "", "study_date": 1}]}]}',
            "patients[0].reports[0].study_date must be a string or null, got int",
        ),
        ("[1, 2]", "the document must be a JSON object, got list"),
        ('{"patients": []', "is not valid JSON"),
    ],
)
def test_read_series_names_every_structural_problem(tmp_path, content, message):
    source = tmp_path / "series.json"
    source.write_text(content)
    with pytest.raises(SeriesInputError) as caught:
        read_series(source)
    assert message in str(caught.value)


def test_missing_input_file_exits_non_zero(tmp_path):
    result = manage("--input", str(tmp_path / "absent.json"), "--output", str(tmp_path / "out.json"))
    assert (result.returncode, "No such file" in result.stderr) == (1, True)


def test_input_over_the_size_bound_is_refused(tmp_path):
    source = tmp_path / "series.json"
    source.write_text(json.dumps(invented_series()))
    with pytest.raises(SeriesInputError) as caught:
        read_series(source, max_bytes=100)
    assert "more than the 100 allowed" in str(caught.value)
