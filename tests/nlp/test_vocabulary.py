"""Vocabulary extension with a project's custom findings and synonyms, and native label harmonisation."""

import pytest

from nlp.core.label_spaces import harmonise, report_labels
from nlp.core.labeler import LABELER_VERSION, Labeler
from nlp.core.vocabulary import VocabularyError, extend_vocabulary, load_vocabulary


def test_synonym_and_custom_finding_are_matched_and_block_no_finding():
    base = load_vocabulary()
    extension = {
        "findings": [{"id": "pneumoperitoneum_custom", "name": "Free air", "terms": ["free subdiaphragmatic gas"]}],
        "synonyms": {"pleural_effusion": ["hydrothorax"]},
    }

    labeler = Labeler(extend_vocabulary(base, extension))
    result = labeler.label("Right hydrothorax. Free subdiaphragmatic gas. Lungs are clear.")

    assert result.findings["pleural_effusion"].status == "positive"
    assert result.findings["pneumoperitoneum_custom"].status == "positive"
    assert report_labels(result, labeler.vocabulary, "chexpert")["No Finding"] is None
    assert labeler.version.startswith(f"{LABELER_VERSION}+vocab.")


def test_extension_structure_errors_are_reported_together():
    extension = {
        "findings": [
            {"id": "Bad Id", "terms": ["x"]},
            {"id": "cardiomegaly", "terms": ["big heart"]},
            {"id": "thing", "terms": ["pneumothorax"], "labels": {"chexpert": "Not A Label"}},
        ],
        "synonyms": {"no_such_finding": ["y"], "edema": "not a list"},
    }

    with pytest.raises(VocabularyError) as caught:
        extend_vocabulary(load_vocabulary(), extension)

    assert caught.value.problems == [
        "custom finding #2: id 'cardiomegaly' already exists",
        "synonyms for unknown finding 'no_such_finding'",
        "synonyms for 'edema' must be a list of terms",
    ]


def test_extension_term_conflict_and_bad_label_are_reported():
    extension = {"findings": [{"id": "thing", "terms": ["pneumothorax"], "labels": {"chexpert": "Not A Label"}}]}

    with pytest.raises(VocabularyError) as caught:
        extend_vocabulary(load_vocabulary(), extension)

    assert caught.value.problems == [
        "finding 'thing': 'Not A Label' is not a finding label of chexpert",
        "finding 'thing': term 'pneumothorax' already belongs to finding 'pneumothorax'",
    ]


def test_extension_rejects_bad_ids_and_unknown_keys():
    with pytest.raises(VocabularyError) as caught:
        extend_vocabulary(load_vocabulary(), {"findings": [{"id": "Bad Id", "terms": ["x"]}], "extra": 1})

    assert caught.value.problems == ["unknown extension keys ['extra'] (expected 'findings', 'synonyms')"]


def test_base_vocabulary_is_not_modified_by_an_extension():
    base = load_vocabulary()

    extend_vocabulary(base, {"synonyms": {"edema": ["waterlogged lungs"]}})

    assert "waterlogged lungs" not in {term.text for term in base.findings["edema"].terms}


def test_harmonise_nih_labels_into_chexpert():
    vocabulary = load_vocabulary()

    labels = harmonise(["Effusion", "Infiltration", "Hernia"], "nih", "chexpert", vocabulary)

    assert {k: v for k, v in labels.items() if v} == {
        "Pleural Effusion": "positive",
        "Lung Opacity": "positive",
    }


def test_harmonise_rejects_unknown_native_labels():
    with pytest.raises(VocabularyError) as caught:
        harmonise({"pleural effusion": 1, "dragon": 1}, "padchest", "chestxray14", load_vocabulary())

    assert caught.value.problems == ["unknown padchest labels: dragon"]
