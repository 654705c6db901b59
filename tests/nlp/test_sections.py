"""Section splitting: headers, numbered impressions, reports without headers."""

from nlp.core.sections import labelled_segments, split_sections


def test_headers_split_into_named_sections_with_labelled_flag():
    text = "INDICATION: cough.\nCOMPARISON: none.\nFINDINGS: Clear lungs.\nIMPRESSION: Normal."

    sections = split_sections(text)

    assert [(s.name, text[s.start : s.end], s.labelled) for s in sections] == [
        ("INDICATION", "cough.", False),
        ("COMPARISON", "none.", False),
        ("FINDINGS", "Clear lungs.", True),
        ("IMPRESSION", "Normal.", True),
    ]


def test_report_without_headers_is_one_labelled_body():
    text = "Heart size is normal. No effusion."

    sections = split_sections(text)

    assert [(s.name, s.start, s.end, s.labelled) for s in sections] == [("BODY", 0, len(text), True)]


def test_inline_upper_case_headers_and_technique_history_are_recognised():
    text = "HISTORY: fall. TECHNIQUE: PA and lateral. FINDINGS: Rib fracture."

    sections = split_sections(text)

    assert [(s.name, s.labelled) for s in sections] == [
        ("HISTORY", False),
        ("TECHNIQUE", False),
        ("FINDINGS", True),
    ]


def test_numbered_impression_items_become_separate_segments():
    text = "IMPRESSION: 1. Small effusion. 2. No pneumothorax\n3) Stable heart"

    segments = labelled_segments(text)

    assert [text[s.start : s.end] for s in segments] == ["Small effusion.", "No pneumothorax", "Stable heart"]
    assert {s.section for s in segments} == {"IMPRESSION"}


def test_decimal_numbers_are_not_list_items():
    text = "Nodule measures 3.5 cm."

    segments = labelled_segments(text)

    assert [text[s.start : s.end] for s in segments] == ["Nodule measures 3.5 cm."]


def test_only_headers_give_no_labelled_segment():
    assert labelled_segments("FINDINGS:\nIMPRESSION:") == []


def test_indication_column_is_not_labelled():
    assert labelled_segments("Evaluate for pneumonia.", field="indication") == []
