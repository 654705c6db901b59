"""Timeline linking: ordering, C1/C3/C4 change rules, recurrence, conflicts and bad input, on invented series."""

import pytest

from nlp.structure.cli import extract_series
from nlp.structure.extract import StructureExtractor
from nlp.structure.timeline import ReportInput, compatible_locations, order_reports


@pytest.fixture(scope="module")
def extractor():
    return StructureExtractor()


def series(*patients):
    """patients: (patient_id, [(report_id, study_date, study_time, findings_text), ...])."""
    return {
        "patients": [
            {
                "patient_id": patient_id,
                "reports": [
                    {"report_id": rid, "study_date": day, "study_time": at, "text": f"FINDINGS: {body}"}
                    for rid, day, at, body in reports
                ],
            }
            for patient_id, reports in patients
        ]
    }


def changes(document):
    """{report_id: [(term, presence, location, change)]} of an extracted document."""
    return {
        report["report_id"]: [(r["term"], r["presence"], r["location"], r["change"]) for r in report["findings"]]
        for patient in document["patients"]
        for report in patient["reports"]
    }


def run(extractor, document, details=True):
    return extract_series(document, extractor=extractor, details=details)


def test_first_report_has_no_change_even_when_it_says_again_seen(extractor):
    # given a first report that words its finding as a comparison (rule C1)
    document = series(("A", [("A-R1", "2024-01-02", None, "The right upper lobe nodule is again seen.")]))
    # when extracted
    output, summary = run(extractor, document)
    # then the row has no change and the single report is reported
    assert changes(output) == {"A-R1": [("Lung Lesion", "present", "right upper lobe", None)]}
    assert summary.warnings == ["A/A-R1: the only report of its patient: no change values"]


def test_stated_change_is_linked_to_the_previous_report(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Small left pleural effusion."),
                ("A-R2", "2024-01-05", None, "The left pleural effusion is unchanged."),
            ],
        )
    )
    output, summary = run(extractor, document)
    row = output["patients"][0]["reports"][1]["findings"][0]
    assert (row["change"], row["change_source"], row["linked_to"]) == ("stable", "stated", "A-R1:Pleural Effusion:left")
    assert summary.conflicts == []


def test_absent_after_present_is_resolved_c3(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Small right apical pneumothorax."),
                ("A-R2", "2024-01-03", None, "No pneumothorax."),
            ],
        )
    )
    output, _ = run(extractor, document)
    assert changes(output)["A-R2"] == [("Pneumothorax", "absent", None, "resolved")]
    assert output["patients"][0]["reports"][1]["findings"][0]["change_source"] == "inferred"


def test_localized_negative_on_the_other_side_is_not_resolution(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Small left pleural effusion."),
                ("A-R2", "2024-01-09", None, "Small left pleural effusion, unchanged. No right pleural effusion."),
            ],
        )
    )
    output, _ = run(extractor, document)
    assert changes(output)["A-R2"] == [
        ("Pleural Effusion", "present", "left", "stable"),
        ("Pleural Effusion", "absent", "right", None),
    ]


def test_no_change_is_inferred_from_grades_or_prior_absence_c4(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Small right pleural effusion. No pneumothorax."),
                ("A-R2", "2024-01-04", None, "Moderate right pleural effusion. Small right pneumothorax."),
            ],
        )
    )
    output, _ = run(extractor, document)
    assert changes(output)["A-R2"] == [
        ("Pleural Effusion", "present", "right", None),
        ("Pneumothorax", "present", "right", None),
    ]


def test_recurrence_is_new_after_absence_and_worsened_while_present(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Moderate pulmonary edema. Small right pleural effusion."),
                ("A-R2", "2024-01-03", None, "Interval resolution of pulmonary edema. Trace right pleural effusion."),
                (
                    "A-R3",
                    "2024-02-03",
                    None,
                    "Recurrent mild pulmonary edema. The right pleural effusion has reaccumulated.",
                ),
            ],
        )
    )
    output, _ = run(extractor, document)
    assert changes(output)["A-R2"] == [
        ("Edema", "absent", None, "resolved"),
        ("Pleural Effusion", "present", "right", None),
    ]
    assert changes(output)["A-R3"] == [
        ("Edema", "present", None, "new"),
        ("Pleural Effusion", "present", "right", "worsened"),
    ]


def test_global_comparison_statement_applies_to_present_rows_without_a_cue(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Mild cardiomegaly. No pleural effusion."),
                ("A-R2", "2024-03-02", None, "Mild cardiomegaly. No pleural effusion. No significant interval change."),
            ],
        )
    )
    output, _ = run(extractor, document)
    assert changes(output)["A-R2"] == [
        ("Cardiomegaly", "present", None, "stable"),
        ("Pleural Effusion", "absent", None, None),
    ]


def test_conflicts_are_flagged_and_the_stated_change_kept(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "Small left pleural effusion."),
                (
                    "A-R2",
                    "2024-01-03",
                    None,
                    "New small left pleural effusion. The right upper lobe nodule is unchanged.",
                ),
            ],
        )
    )
    output, summary = run(extractor, document)
    assert changes(output)["A-R2"] == [
        ("Pleural Effusion", "present", "left", "new"),
        ("Lung Lesion", "present", "right upper lobe", "stable"),
    ]
    assert [(c.report_id, c.term, c.kind) for c in summary.conflicts] == [
        ("A-R2", "Pleural Effusion", "new_but_prior_present"),
        ("A-R2", "Lung Lesion", "change_without_prior"),
    ]


def test_resolution_without_a_prior_finding_is_not_kept(extractor):
    document = series(
        (
            "A",
            [
                ("A-R1", "2024-01-02", None, "No pleural effusion."),
                ("A-R2", "2024-01-03", None, "The left pleural effusion has resolved."),
            ],
        )
    )
    output, summary = run(extractor, document)
    assert changes(output)["A-R2"] == [("Pleural Effusion", "absent", "left", None)]
    assert [c.kind for c in summary.conflicts] == ["resolved_without_prior"]


def test_reports_are_ordered_by_date_then_time_then_input_order(extractor):
    # given reports listed out of order, two of them on one day and one across midnight
    document = series(
        (
            "A",
            [
                ("late", "2024-01-03", "00:30", "The right pneumothorax has decreased."),
                ("first", "2024-01-02", "08:00", "Small right pneumothorax."),
                ("evening", "2024-01-02", "23:10", "The right pneumothorax is unchanged."),
            ],
        )
    )
    output, summary = run(extractor, document)
    positions = {r["report_id"]: r["extraction"]["timeline_position"] for r in output["patients"][0]["reports"]}
    assert positions == {"first": 1, "evening": 2, "late": 3}
    assert changes(output) == {
        "late": [("Pneumothorax", "present", "right", "improved")],
        "first": [("Pneumothorax", "present", "right", None)],
        "evening": [("Pneumothorax", "present", "right", "stable")],
    }
    assert summary.warnings == ["A/evening: shares its study date with 'first': ordered by study time"]


def test_duplicate_dates_without_times_keep_input_order_with_a_warning(extractor):
    document = series(
        (
            "A",
            [
                ("one", "2024-01-02", None, "Small right pneumothorax."),
                ("two", "2024-01-02", None, "No pneumothorax."),
            ],
        )
    )
    output, summary = run(extractor, document)
    assert changes(output)["two"] == [("Pneumothorax", "absent", None, "resolved")]
    assert summary.warnings == [
        "A/two: shares its study date with 'one' and no study time tells them apart: ordered as in the input"
    ]


def test_reports_without_a_valid_date_are_not_linked(extractor):
    document = series(
        (
            "A",
            [
                ("dated-1", "2024-01-02", None, "Small right pneumothorax."),
                ("undated", None, None, "The right pneumothorax is unchanged."),
                ("bad-date", "2024-02-30", None, "No pneumothorax."),
                ("dated-2", "2024-01-05", None, "The right pneumothorax has decreased."),
            ],
        )
    )
    output, summary = run(extractor, document)
    assert changes(output) == {
        "dated-1": [("Pneumothorax", "present", "right", None)],
        "undated": [("Pneumothorax", "present", "right", None)],
        "bad-date": [("Pneumothorax", "absent", None, None)],
        "dated-2": [("Pneumothorax", "present", "right", "improved")],
    }
    assert summary.warnings == [
        "A/undated: study_date is missing: the report is not placed in the patient's timeline and has no change values",
        "A/bad-date: study_date is invalid ('2024-02-30'): the report is not placed in the patient's timeline and "
        "has no change values",
    ]


def test_empty_text_gives_no_rows_and_a_warning(extractor):
    document = series(("A", [("A-R1", "2024-01-02", None, "Small right pneumothorax.")]))
    document["patients"][0]["reports"].append({"report_id": "A-R2", "study_date": "2024-01-03", "text": "  "})
    output, summary = run(extractor, document)
    assert changes(output) == {"A-R1": [("Pneumothorax", "present", "right", None)], "A-R2": []}
    assert summary.warnings == ["A/A-R2: empty text: no findings"]


def test_a_patient_with_200_reports(extractor):
    reports = [("P-R1", "2020-01-01", None, "Small left pleural effusion.")]
    for number in range(2, 201):
        day = f"{2020 + number // 300}-{1 + (number // 28) % 12:02d}-{1 + number % 28:02d}"
        reports.append((f"P-R{number}", day, None, "The left pleural effusion is unchanged."))
    output, summary = run(extractor, series(("P", reports)))
    found = changes(output)
    assert len(found) == 200
    assert found["P-R1"] == [("Pleural Effusion", "present", "left", None)]
    assert {tuple(rows) for rid, rows in found.items() if rid != "P-R1"} == {
        (("Pleural Effusion", "present", "left", "stable"),)
    }
    assert (summary.conflicts, summary.reports) == ([], 200)


def test_two_patients_are_never_linked(extractor):
    # given patient B's reports that would read as a resolution if linked to patient A's
    document = series(
        ("A", [("A-R1", "2024-01-02", None, "Large left pneumothorax.")]),
        (
            "B",
            [
                ("B-R1", "2024-01-03", None, "No pneumothorax."),
                ("B-R2", "2024-01-04", None, "No pneumothorax. The left pleural effusion is unchanged."),
            ],
        ),
    )
    output, summary = run(extractor, document)
    assert changes(output) == {
        "A-R1": [("Pneumothorax", "present", "left", None)],
        "B-R1": [("Pneumothorax", "absent", None, None)],
        "B-R2": [("Pneumothorax", "absent", None, None), ("Pleural Effusion", "present", "left", "stable")],
    }
    assert [row["linked_to"] for row in output["patients"][1]["reports"][0]["findings"]] == [None]
    assert [(c.report_id, c.kind) for c in summary.conflicts] == [("B-R2", "change_without_prior")]


def test_compatible_locations():
    assert [
        compatible_locations("left base", "left lower lobe"),
        compatible_locations("left", "retrocardiac"),
        compatible_locations(None, "right apex"),
        compatible_locations("bibasilar", "right base"),
        compatible_locations("left", "right"),
        compatible_locations("right ribs", "spine"),
    ] == [True, True, True, True, False, False]


def test_order_reports_directly():
    reports = [
        ReportInput("b", "2024-05-01", "7:00", 0),
        ReportInput("a", "2024-04-01", None, 1),
        ReportInput("x", 20240101, None, 2),
    ]
    order, unplaced, warnings = order_reports(reports)
    assert (order, unplaced) == ([1, 0], [2])
    assert warnings == {
        0: ["study_time '7:00' is not HH:MM: ignored for ordering"],
        2: [
            "study_date is invalid ('20240101'): the report is not placed in the patient's timeline and has no "
            "change values"
        ],
    }
