"""Labeler: abbreviations, indication exclusion, No Finding, evidence offsets, aggregation, bad input."""

import json

from nlp.core.label_spaces import report_labels
from nlp.core.labeler import LABELER_VERSION, MAX_REPORT_CHARS


def test_abbreviations_map_to_their_findings(chexpert):
    labels = chexpert("ETT 4 cm above the carina. NGT in the stomach. Right PICC. No PTX. History of CHF.")

    assert labels == {"Support Devices": "positive", "Pneumothorax": "negative", "Edema": "negative"}


def test_chf_affirmed_is_edema_without_cardiomegaly(chexpert):
    assert chexpert("Findings compatible with CHF.") == {"Edema": "positive"}


def test_copd_blocks_no_finding_but_is_not_a_chexpert_label(chexpert):
    assert chexpert("COPD. No acute cardiopulmonary process.") == {}


def test_indication_only_mention_is_excluded(chexpert):
    text = "INDICATION: Fever, rule out pneumonia.\nFINDINGS: The lungs are clear.\nIMPRESSION: No acute process."

    assert chexpert(text) == {"No Finding": "positive"}


def test_no_finding_needs_a_normality_statement_in_chexpert(chexpert):
    assert chexpert("No consolidation, effusion or pneumothorax.") == {
        "Consolidation": "negative",
        "Pleural Effusion": "negative",
        "Pneumothorax": "negative",
    }


def test_no_finding_is_blocked_by_an_abnormality_outside_the_labels(chexpert):
    assert chexpert("Calcified granuloma in the right upper lobe. Lungs are otherwise clear.") == {}
    assert chexpert("Mild thoracic scoliosis. No acute cardiopulmonary abnormality.") == {}


def test_support_devices_do_not_block_no_finding_in_chexpert(chexpert):
    labels = chexpert("Left subclavian port in place. Lungs are clear.")

    assert labels == {"No Finding": "positive", "Support Devices": "positive"}


def test_chestxray14_no_finding_without_statement_and_blocked_by_devices(labeler):
    clear = labeler.label("Heart size normal. No effusion.")
    device = labeler.label("Heart size normal. No effusion. Right PICC.")

    assert report_labels(clear, labeler.vocabulary, "chestxray14")["No_Finding"] == "positive"
    assert report_labels(device, labeler.vocabulary, "chestxray14")["No_Finding"] is None


def test_positive_beats_uncertain_beats_negative(chexpert):
    labels = chexpert("No right effusion. Possible small left effusion. Definite left effusion on lateral view.")

    assert labels == {"Pleural Effusion": "positive"}


def test_evidence_offsets_point_at_the_words_in_the_original_text(labeler):
    text = "FINDINGS: Heart normal.\nIMPRESSION:  1. Small  right pleural effusion. 2. No PTX."

    result = labeler.label(text)

    effusion = result.findings["pleural_effusion"].evidence[0]
    pneumothorax = result.findings["pneumothorax"].evidence[0]
    assert text[effusion.start : effusion.end] == "pleural effusion"
    assert (effusion.section, effusion.field, effusion.rule) == ("IMPRESSION", "text", "affirmed")
    assert text[pneumothorax.start : pneumothorax.end] == "PTX"
    assert text[pneumothorax.trigger_start : pneumothorax.trigger_end] == "No"
    assert pneumothorax.rule == "negation: no"


def test_field_mapping_offsets_are_relative_to_each_field(labeler):
    report = {"findings": "There is cardiomegaly.", "impression": "Stable cardiomegaly, no edema."}

    result = labeler.label(report)

    evidence = {(e.field, e.section, e.start, e.end) for e in result.findings["cardiomegaly"].evidence}
    assert evidence == {("findings", "FINDINGS", 9, 21), ("impression", "IMPRESSION", 7, 19)}
    assert result.findings["edema"].status == "negative"


def test_result_is_json_serialisable_and_carries_the_version(labeler):
    result = labeler.label("Small left effusion.")

    data = json.loads(json.dumps(result.to_dict()))

    assert data["labeler_version"] == LABELER_VERSION
    assert data["findings"]["pleural_effusion"]["status"] == "positive"
    assert data["findings"]["pleural_effusion"]["evidence"][0]["text"] == "effusion"


def test_empty_and_header_only_reports_give_no_labels(chexpert):
    assert chexpert("") == {}
    assert chexpert("FINDINGS:\nIMPRESSION:") == {}


def test_oversized_and_non_text_reports_give_an_error_not_an_exception(labeler):
    huge, odd, fine = labeler.label_many(["effusion " * (MAX_REPORT_CHARS // 9 + 1), 42, "Small effusion."])

    assert huge.error.startswith("report is ")
    assert odd.error == "a report must be text or a mapping of fields, got int"
    assert fine.error is None
    assert report_labels(huge, labeler.vocabulary, "chexpert") == dict.fromkeys(
        labeler.vocabulary.label_space("chexpert").labels
    )


def test_label_many_keeps_order_across_batches(labeler):
    texts = ["Small effusion.", "No effusion."] * 5

    results = list(labeler.label_many(texts, batch_size=3))

    assert [r.findings["pleural_effusion"].status for r in results] == ["positive", "negative"] * 5
