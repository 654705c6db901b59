"""Negation, uncertainty and pseudo-negation with clause scope, on hand-written sentences."""


def test_negation_runs_through_a_coordinated_list(chexpert):
    labels = chexpert("No focal airspace consolidation, pleural effusion or pneumothorax.")

    assert labels == {"Consolidation": "negative", "Pleural Effusion": "negative", "Pneumothorax": "negative"}


def test_negation_scope_ends_at_but(chexpert):
    labels = chexpert("No effusion, but a small apical pneumothorax is present.")

    assert labels == {"Pleural Effusion": "negative", "Pneumothorax": "positive"}


def test_negation_scope_ends_at_however(chexpert):
    labels = chexpert("There is no consolidation; however, mild edema is noted.")

    assert labels == {"Consolidation": "negative", "Edema": "positive"}


def test_negation_scope_ends_at_which(chexpert):
    labels = chexpert("No pneumothorax which would explain the atelectasis at the left base.")

    assert labels == {"Pneumothorax": "negative", "Atelectasis": "positive"}


def test_negation_ends_at_sentence_end_not_a_word_window(chexpert):
    labels = chexpert("No evidence of a large left-sided or right-sided pleural effusion. Atelectasis.")

    assert labels == {"Pleural Effusion": "negative", "Atelectasis": "positive"}


def test_backward_negation_applies_to_its_subject(chexpert):
    labels = chexpert("A pneumothorax is not seen.")

    assert labels == {"Pneumothorax": "negative"}


def test_relative_clause_resolution_negates_its_antecedent(chexpert):
    labels = chexpert("The right lower lobe pneumonia, which has resolved.")

    assert labels == {"Pneumonia": "negative"}


def test_pseudo_negation_keeps_the_finding_positive(chexpert):
    labels = chexpert("No change in the moderate right pleural effusion.")

    assert labels == {"Pleural Effusion": "positive"}


def test_partial_resolution_is_still_positive(chexpert):
    labels = chexpert("The left basilar consolidation has partially resolved.")

    assert labels == {"Consolidation": "positive"}


def test_no_new_is_uncertain(chexpert):
    labels = chexpert("No new focal consolidation.")

    assert labels == {"Consolidation": "uncertain"}


def test_hedge_on_the_interpretation_does_not_hedge_the_description(chexpert):
    labels = chexpert("Right basilar opacity, likely atelectasis.")

    assert labels == {"Lung Opacity": "positive", "Atelectasis": "uncertain"}


def test_backward_hedge_cannot_be_excluded(chexpert):
    labels = chexpert("A small left effusion cannot be excluded.")

    assert labels == {"Pleural Effusion": "uncertain"}


def test_hedge_inside_a_negation_is_denied(chexpert):
    labels = chexpert("No airspace opacity to suggest pneumonia.")

    assert labels == {"Lung Opacity": "negative", "Pneumonia": "negative"}


def test_alternatives_are_both_uncertain(chexpert):
    labels = chexpert("Left base atelectasis versus consolidation.")

    assert labels == {"Atelectasis": "uncertain", "Consolidation": "uncertain"}


def test_artifact_alternative_makes_the_observation_uncertain(chexpert):
    labels = chexpert("The nodule in the right lower zone may represent a nipple shadow.")

    assert labels == {"Lung Lesion": "uncertain"}


def test_history_of_is_negative(chexpert):
    labels = chexpert("History of pneumonia.")

    assert labels == {"Pneumonia": "negative"}


def test_stable_heart_size_without_size_word_is_uncertain_in_chexpert(chexpert):
    labels = chexpert("Heart size is unchanged.")

    assert labels == {"Cardiomegaly": "uncertain"}


def test_normal_heart_size_is_negative_and_enlarged_is_positive(chexpert):
    assert chexpert("Normal heart size.") == {"Cardiomegaly": "negative"}
    assert chexpert("The heart is moderately enlarged.") == {"Cardiomegaly": "positive"}


def test_vascular_congestion_is_at_most_uncertain(chexpert):
    labels = chexpert("Mild pulmonary vascular congestion.")

    assert labels == {"Edema": "uncertain"}
