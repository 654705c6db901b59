"""Review priority: doubtful labels (hedged, conflicting, disagreeing with the dataset) come first."""

from nlp.core.priority import WEIGHTS, label_priority, rank_for_review


def test_ranking_puts_disagreement_and_hedges_before_clear_labels(labeler):
    results = {
        "clear": labeler.label("Large right pleural effusion."),
        "hedged": labeler.label("Possible small right pleural effusion."),
        "conflict": labeler.label({"findings": "No pleural effusion.", "impression": "Small pleural effusion."}),
    }
    native = {
        "clear": {"Effusion": None},
        "conflict": {"Effusion": "positive"},
        "hedged": {"Effusion": "negative"},
    }

    ranked = rank_for_review(results, "chestxray14", labeler.vocabulary, native_labels=native)

    effusion = [(item.report_id, item.reasons) for item in ranked if item.label == "Effusion"]
    assert effusion == [
        ("hedged", ("uncertain", "native_disagreement")),
        ("conflict", ("conflicting_sections",)),
        ("clear", ()),
    ]


def test_score_combines_signs_as_independent_probabilities(labeler):
    result = labeler.label("Possible small right pleural effusion.")

    priority = label_priority("r1", result, "Pleural Effusion", "chexpert", labeler.vocabulary, "negative")

    expected = 1 - (1 - WEIGHTS["uncertain"]) * (1 - WEIGHTS["native_disagreement"])
    assert (priority.status, priority.reasons, round(priority.score, 6)) == (
        "uncertain", ("uncertain", "native_disagreement"), round(expected, 6),
    )  # fmt: skip


def test_native_positive_label_that_was_not_mined_is_queued(labeler):
    results = {"r1": labeler.label("Lungs are clear.")}

    ranked = rank_for_review(results, "chestxray14", labeler.vocabulary, {"r1": {"Nodule": "positive"}})

    assert [(p.label, p.status, p.reasons) for p in ranked] == [
        ("Nodule", None, ("native_disagreement",)),
        ("No_Finding", "positive", ()),
    ]
