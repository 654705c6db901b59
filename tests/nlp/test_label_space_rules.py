"""Rules that read a phrase differently in the CheXpert and the ChestX-ray14 (MeSH-coded) label spaces,
and hedge / scope cues from the NegEx and ConText lists.  All texts are written for these tests."""

import pytest

from nlp.core.label_spaces import report_labels


@pytest.fixture(scope="session")
def nih(labeler):
    """Label one text and return its ChestX-ray14 labels without the not-mentioned ones."""

    def run(text):
        labels = report_labels(labeler.label(text), labeler.vocabulary, "chestxray14")
        return {label: status for label, status in labels.items() if status is not None}

    return run


# ---------------------------------------------------------------- infection is not named pneumonia
def test_unspecified_infection_is_pneumonia_in_chexpert_only(chexpert, nih):
    text = "Patchy right basal opacity, consistent with infection."

    assert chexpert(text) == {"Lung Opacity": "positive", "Pneumonia": "positive"}
    assert nih(text) == {}


def test_named_pneumonia_is_pneumonia_in_both_spaces(chexpert, nih):
    text = "Dense left lower lobe pneumonia."

    assert chexpert(text) == {"Pneumonia": "positive"}
    assert nih(text) == {"Pneumonia": "positive"}


def test_healed_granulomatous_infection_is_a_granuloma_not_pneumonia(chexpert, nih):
    text = "Scattered sequelae of old granulomatous infection in both apices. No acute process."

    assert chexpert(text) == {}
    assert nih(text) == {}


def test_tuberculous_infection_is_not_pneumonia(chexpert):
    assert chexpert("Right apical scarring from remote tuberculous infection.") == {"Lung Opacity": "positive"}


# ---------------------------------------------------------------- nodules and masses
def test_calcified_nodule_is_a_nodule_in_chestxray14_only(chexpert, nih):
    text = "A 4 mm calcified nodule in the left mid zone. No acute cardiopulmonary process."

    assert chexpert(text) == {}
    assert nih(text) == {"Nodule": "positive"}


def test_masslike_opacity_is_a_mass(chexpert, nih):
    text = "Masslike opacity in the right perihilar region."

    assert nih(text) == {"Mass": "positive"}
    assert chexpert(text) == {"Lung Opacity": "positive", "Lung Lesion": "positive"}


# ---------------------------------------------------------------- pleura
def test_fissural_thickening_is_pleural_thickening(chexpert, nih):
    text = "Mild thickening of the minor fissure. Fissural thickening on the lateral view as well."

    assert nih(text) == {"Pleural_Thickening": "positive"}
    assert chexpert(text) == {"Pleural Other": "positive"}


def test_pleural_scarring_is_pleural_other_but_not_pleural_thickening_in_chestxray14(chexpert, nih):
    text = "Bilateral apical pleural-parenchymal scarring, unchanged."

    assert chexpert(text) == {"Pleural Other": "positive"}
    assert nih(text) == {}


# ---------------------------------------------------------------- heart failure
def test_heart_failure_is_edema_in_chexpert_but_not_coded_edema_in_chestxray14(chexpert, nih):
    text = "Appearance typical of congestive heart failure."

    assert chexpert(text) == {"Edema": "positive"}
    assert nih(text) == {}


def test_edema_on_the_film_is_edema_in_both_spaces(chexpert, nih):
    text = "Moderate interstitial edema."

    assert chexpert(text) == {"Edema": "positive"}
    assert nih(text) == {"Edema": "positive"}


# ---------------------------------------------------------------- hedges
@pytest.mark.parametrize(
    "text",
    [
        "Streaky basal opacity could indicate pneumonia.",
        "Streaky basal opacity; the differential could include pneumonia.",
        "In the appropriate clinical setting, the basal opacity is compatible with pneumonia.",
        "Follow-up film advised to exclude pneumonia.",
    ],
)
def test_weak_hedges_make_the_interpretation_uncertain(chexpert, nih, text):
    assert chexpert(text)["Pneumonia"] == "uncertain"
    assert nih(text)["Pneumonia"] == "uncertain"


def test_most_suggestive_of_is_uncertain_in_chexpert_and_present_in_chestxray14(chexpert, nih):
    text = "Perihilar haziness most suggestive of pulmonary edema."

    assert chexpert(text)["Edema"] == "uncertain"
    assert nih(text)["Edema"] == "positive"


def test_a_trailing_may_be_present_hedges_its_subject(chexpert):
    assert chexpert("A small left effusion may be present.") == {"Pleural Effusion": "uncertain"}


def test_also_possible_hedges_the_alternatives_before_it(chexpert):
    assert chexpert("Atelectasis is favoured; edema is also possible.")["Edema"] == "uncertain"


# ---------------------------------------------------------------- negation scope and removal
def test_negated_clause_ends_at_a_post_cue_and_comma(chexpert):
    text = "No effusion seen, dense nodule in the right base."

    assert chexpert(text) == {"Pleural Effusion": "negative", "Lung Lesion": "positive"}


def test_device_removal_after_the_device_is_a_negative_device_mention(chexpert):
    assert chexpert("Pneumothorax has resolved following chest tube removal.") == {
        "Pneumothorax": "negative",
        "Support Devices": "negative",
    }


def test_heart_and_mediastinum_descriptor_applies_to_both(chexpert):
    assert chexpert("Heart and mediastinum are within normal limits.") == {
        "Cardiomegaly": "negative",
        "Enlarged Cardiomediastinum": "negative",
    }


# ---------------------------------------------------------------- No Finding in the MeSH-coded space
@pytest.mark.parametrize(
    "finding",
    [
        "Mild dextrocurvature of the thoracic spine.",
        "Prominent epicardial fat pad at the cardiac apex.",
        "Coronary artery stents.",
        "Lung volumes are low.",
        "The right hemidiaphragm is elevated.",
        "Bihilar prominence, unchanged.",
    ],
)
def test_coded_findings_outside_the_labels_block_no_finding_in_chestxray14(nih, finding):
    labels = nih(f"Heart size normal. {finding} No acute cardiopulmonary abnormality.")

    assert labels == {"Cardiomegaly": "negative"}


def test_spinal_curvature_does_not_add_a_chexpert_label(chexpert):
    assert chexpert("Mild levocurvature of the lumbar spine. No acute cardiopulmonary process.") == {
        "No Finding": "positive"
    }


def test_cystic_fibrosis_is_not_pulmonary_fibrosis(nih):
    assert nih("Bronchiectasis and scarring from cystic fibrosis.") == {}
    assert nih("Basal interstitial fibrosis.") == {"Fibrosis": "positive"}


@pytest.mark.parametrize("text", ["Question small right effusion.", "Maybe a small right effusion."])
def test_question_and_maybe_are_hedges(chexpert, text):
    assert chexpert(text) == {"Pleural Effusion": "uncertain"}
