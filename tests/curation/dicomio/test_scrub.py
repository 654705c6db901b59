"""scrub_report: residual PHI out, uniform '___' traces, clinical text untouched."""

import csv
import json

import pytest

from curation.dicomio import scrub_report


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        (
            "Findings were discussed with Dr. Garcia by telephone at 4:49 PM on 10/12/2019.",
            "Findings were discussed with Dr. ___ by telephone at 4:49 PM on ___.",
            ["name", "date"],
        ),
        ("Patient: BROWN, MICHAEL   MRN: 22765742", "Patient: ___   MRN: ___", ["name", "record_number"]),
        ("Please call the reading room at 555-628-8588.", "Please call the reading room at ___.", ["phone"]),
        ("Call (312) 555-0199 x204 or a.b@example.org", "Call ___ or ___", ["phone", "email"]),
        ("Dr. John A. Smith reviewed with Mrs. Doe.", "Dr. ___ reviewed with Mrs. ___.", ["name", "name"]),
        ("DR. JONES was paged. Prof. Ada Lovelace agreed.", "DR. ___ was paged. Prof. ___ agreed.", ["name", "name"]),
        ("Accession #987654 and acc no. 2103001123.", "Accession #___ and acc no. ___.", ["record_number"] * 2),
        ("Record 12345678 found.", "Record ___ found.", ["record_number"]),
        (
            "Seen March 14, 2021, 14-Mar-2021, 2021-03-14, 3/14/21 and in March 2021.",
            "Seen ___, ___, ___, ___ and in ___.",
            ["date"] * 5,
        ),
    ],
)
def test_phi_is_replaced(text, expected, kinds):
    # Given report text with residual PHI
    # When it is scrubbed without a date offset
    result = scrub_report(text)

    # Then each PHI span becomes '___' and is reported with its kind
    assert result.text == expected
    assert [kind for _, _, kind in result.replacements] == kinds


def test_replacement_spans_point_into_the_original():
    # Given a sentence with a name and a date
    text = "Discussed with Dr. Chen on 05/30/2021."

    # When it is scrubbed
    result = scrub_report(text)

    # Then the spans are the original name and date
    assert [(text[s:e], kind) for s, e, kind in result.replacements] == [("Chen", "name"), ("05/30/2021", "date")]


def test_dates_shifted_in_their_own_format():
    # Given dates in several formats
    text = "Prior 03/14/2021, 2021-03-14, March 14, 2021, 14-Mar-2021, 3/4/21, March 2021."

    # When they are scrubbed with a -10 day offset
    result = scrub_report(text, date_offset_days=-10)

    # Then each is shifted and keeps its format
    assert result.text == "Prior 03/04/2021, 2021-03-04, March 4, 2021, 04-Mar-2021, 2/22/21, March 2021."


def test_known_names_in_dicom_and_plain_forms():
    # Given the patient's DICOM name and a physician's plain name
    text = "Jane Doe (DOE, JANE; Jane Q. Doe; DOE^JANE^Q) seen by john smith."

    # When scrubbed with those names
    result = scrub_report(text, known_names=["DOE^JANE^Q", "John Smith"])

    # Then every form is gone, case-insensitively
    assert result.text == "___ (___; ___; ___) seen by ___."


def test_existing_traces_become_one_uniform_token():
    # Given XXXX, long underscores, MIMIC-II brackets and already uniform '___'
    text = "XXXX-year-old man. Comparison: Chest radiograph ____. Dr. ___ at [**Hospital 1**]; xxx."

    # When it is scrubbed
    result = scrub_report(text)

    # Then all are '___', and only the changed ones are reported as traces
    assert result.text == "___-year-old man. Comparison: Chest radiograph ___. Dr. ___ at ___; ___."
    assert [kind for _, _, kind in result.replacements] == ["trace"] * 4


@pytest.mark.parametrize(
    "text",
    [
        "A 3 cm nodule and a 5 mm nodule at 12 o'clock; compression of T11 and L1.",
        "Drain in place. Discussed with the ordering Dr. The lungs are clear.",
        "MR CHEST and MS findings; Mr appears nowhere. Ms.",
        "New 16 mm nodule. Heart size 14.5 cm. Findings at 4:49 PM. Series 2, image 45. Version 1.2.10.",
        "The ETT tip is 4.5 cm above the carina. XR CHEST 2 VIEWS in 2021.",
        "Ratio 0.55; 100 mL effusion; 1/2 of the hemithorax; C5-C6 and T4-T5.",
    ],
)
def test_clinical_text_is_untouched(text):
    # Given clinical text without PHI
    # When it is scrubbed
    result = scrub_report(text, date_offset_days=30)

    # Then nothing changes
    assert result.text == text
    assert result.replacements == []


def test_generated_reports_lose_their_labelled_phi(generated):
    # Given the generated reports and the PHI substrings the generator says each contains
    folder, truth = generated
    rows = list(csv.DictReader((folder / "reports.csv").open(encoding="utf-8")))
    patients = truth["patients"]

    for row in rows:
        study = truth["studies"][row["StudyInstanceUID"]]
        patient = patients[study["patient_key"]]

        # When each report is scrubbed with the patient's and physician's names
        result = scrub_report(row["report"], known_names=[patient["patient_name"], patient["referring_physician_name"]])

        # Then no labelled PHI remains (a 'Dr. X' entry keeps its title) and no 'XXXX' trace either
        for phi in study["report"]["phi"]:
            assert phi.removeprefix("Dr. ") not in result.text, json.dumps([phi, result.text])
        assert "XXXX" not in result.text
