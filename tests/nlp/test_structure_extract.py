"""Per-report structure extraction: every rule and trap of the longitudinal conventions, on invented sentences."""

import pytest

from nlp.structure.extract import StructureExtractor


@pytest.fixture(scope="module")
def extractor():
    return StructureExtractor()


def rows(extractor, findings, impression=None, header="FINDINGS"):
    text = f"{header}: {findings}"
    if impression is not None:
        text += f"\nIMPRESSION: {impression}"
    return [
        (row.term, row.presence, row.certainty, row.location, row.severity, row.stated_change)
        for row in extractor.extract(text).findings
    ]


def test_pseudo_negation_keeps_the_finding_present_and_stable(extractor):
    # given a "no change in X" sentence, when extracted, then X is present and stable
    assert rows(extractor, "No change in the right lower lobe consolidation.") == [
        ("Consolidation", "present", "definite", "right lower lobe", None, "stable")
    ]
    assert rows(extractor, "There is no significant change in the small left pleural effusion.") == [
        ("Pleural Effusion", "present", "definite", "left", "small", "stable")
    ]


def test_again_seen_and_redemonstrated_mean_stable(extractor):
    assert rows(extractor, "The left upper lobe nodule is again seen.") == [
        ("Lung Lesion", "present", "definite", "left upper lobe", None, "stable")
    ]
    assert rows(extractor, "Redemonstrated right apical pleural thickening.") == [
        ("Pleural Other", "present", "definite", "right apex", None, "stable")
    ]


def test_increased_lung_volumes_is_neither_a_row_nor_a_change(extractor):
    assert rows(extractor, "Increased lung volumes. Small right pleural effusion.") == [
        ("Pleural Effusion", "present", "definite", "right", "small", None)
    ]
    assert rows(extractor, "Lung volumes are larger than on the prior study.") == []


def test_resolution_words_make_the_finding_absent_and_resolved(extractor):
    assert rows(extractor, "The right pneumothorax has resolved.") == [
        ("Pneumothorax", "absent", "definite", "right", None, "resolved")
    ]
    assert rows(extractor, "The left basilar opacity is no longer seen.") == [
        ("Lung Opacity", "absent", "definite", "left base", None, "resolved")
    ]


def test_plain_negation_states_no_change(extractor):
    assert rows(extractor, "No pneumothorax.") == [("Pneumothorax", "absent", "definite", None, None, None)]


def test_device_placed_is_new(extractor):
    assert rows(extractor, "A right internal jugular catheter has been placed, terminating in the SVC.") == [
        ("Central Venous Catheter", "present", "definite", "right", None, "new")
    ]
    assert rows(extractor, "Interval placement of a left chest tube.") == [
        ("Chest Tube", "present", "definite", "left", None, "new")
    ]


def test_device_removed_or_extubated_is_absent_and_resolved(extractor):
    assert rows(extractor, "The nasogastric tube has been removed. The patient has been extubated.") == [
        ("Nasogastric Tube", "absent", "definite", None, None, "resolved"),
        ("Endotracheal Tube", "absent", "definite", None, None, "resolved"),
    ]
    assert rows(extractor, "Interval removal of the endotracheal and orogastric tubes.") == [
        ("Endotracheal Tube", "absent", "definite", None, None, "resolved"),
        ("Nasogastric Tube", "absent", "definite", None, None, "resolved"),
    ]


def test_device_repositioned_is_stable_and_position_words_are_no_change(extractor):
    assert rows(extractor, "The endotracheal tube has been withdrawn by 2 cm.") == [
        ("Endotracheal Tube", "present", "definite", None, None, "stable")
    ]
    assert rows(extractor, "Endotracheal tube in standard position, 5 cm above the carina.") == [
        ("Endotracheal Tube", "present", "definite", None, None, None)
    ]


def test_repositioning_words_are_no_change_for_findings(extractor):
    # "advanced" is a device word only: of a disease it is no change cue
    assert rows(extractor, "Advanced emphysema with a small right pleural effusion.") == [
        ("Pleural Effusion", "present", "definite", "right", "small", None)
    ]


def test_hedged_new_finding_is_tentative_and_new(extractor):
    assert rows(extractor, "Possible new opacity at the right lung base.") == [
        ("Lung Opacity", "present", "tentative", "right base", None, "new")
    ]
    assert rows(extractor, "There is possible new consolidation in the lingula.") == [
        ("Consolidation", "present", "tentative", "lingula", None, "new")
    ]


def test_laterality_gives_one_row_per_side(extractor):
    assert rows(extractor, "There is a new small left pleural effusion. The right pleural effusion is unchanged.") == [
        ("Pleural Effusion", "present", "definite", "left", "small", "new"),
        ("Pleural Effusion", "present", "definite", "right", None, "stable"),
    ]
    assert rows(extractor, "Small right and moderate left pleural effusions.") == [
        ("Pleural Effusion", "present", "definite", "right", "small", None),
        ("Pleural Effusion", "present", "definite", "left", "moderate", None),
    ]


def test_the_other_side_named_without_the_term_gets_its_own_row(extractor):
    assert rows(extractor, "The right pleural effusion has increased, the left is unchanged.") == [
        ("Pleural Effusion", "present", "definite", "right", None, "worsened"),
        ("Pleural Effusion", "present", "definite", "left", None, "stable"),
    ]


def test_localized_negative_on_the_other_side(extractor):
    assert rows(extractor, "Small right pleural effusion. No left pleural effusion.") == [
        ("Pleural Effusion", "present", "definite", "right", "small", None),
        ("Pleural Effusion", "absent", "definite", "left", None, None),
    ]


def test_general_negative_beside_a_localized_positive_gives_no_row(extractor):
    assert rows(extractor, "Right upper lobe consolidation. No consolidation elsewhere.") == [
        ("Consolidation", "present", "definite", "right upper lobe", None, None)
    ]


def test_direction_beats_persistence(extractor):
    assert rows(extractor, "Persistent but decreased right basilar atelectasis.") == [
        ("Atelectasis", "present", "definite", "right base", None, "improved")
    ]
    assert rows(extractor, "The left pleural effusion is again seen, slightly larger.") == [
        ("Pleural Effusion", "present", "definite", "left", None, "worsened")
    ]


def test_partial_resolution_and_residual_are_improved_and_present(extractor):
    assert rows(extractor, "Resolving left lower lobe pneumonia.") == [
        ("Pneumonia", "present", "definite", "left lower lobe", None, "improved")
    ]
    assert rows(extractor, "Minimal residual right perihilar opacity.") == [
        ("Lung Opacity", "present", "definite", "right perihilar", "trace", "improved")
    ]
    assert rows(extractor, "Interstitial edema has nearly resolved.") == [
        ("Edema", "present", "definite", None, None, "improved")
    ]


def test_hedged_negation_is_absent_tentative(extractor):
    assert rows(extractor, "Pneumonia is considered less likely.") == [
        ("Pneumonia", "absent", "tentative", None, None, None)
    ]


def test_no_new_is_absent_definite_without_change(extractor):
    assert rows(extractor, "No new focal consolidation.") == [("Consolidation", "absent", "definite", None, None, None)]


def test_vascular_congestion_is_tentative_edema(extractor):
    assert rows(extractor, "Mild pulmonary vascular congestion.") == [
        ("Edema", "present", "tentative", None, "mild", None)
    ]


def test_interpretation_takes_location_and_change_of_its_description(extractor):
    assert rows(extractor, "New left basilar opacity, which may represent aspiration pneumonia.") == [
        ("Lung Opacity", "present", "definite", "left base", None, "new"),
        ("Pneumonia", "present", "tentative", "left base", None, "new"),
    ]
    assert rows(extractor, "Right basilar opacity, likely atelectasis.") == [
        ("Lung Opacity", "present", "definite", "right base", None, None),
        ("Atelectasis", "present", "tentative", "right base", None, None),
    ]


def test_coordinated_subjects_share_the_predicate(extractor):
    assert rows(extractor, "The nasogastric tube and left subclavian catheter are unchanged.") == [
        ("Nasogastric Tube", "present", "definite", None, None, "stable"),
        ("Central Venous Catheter", "present", "definite", "left", None, "stable"),
    ]


def test_a_predicate_belongs_to_the_head_not_to_a_finding_inside_its_phrase(extractor):
    assert rows(extractor, "Ground-glass opacity around the right upper lobe mass has decreased.") == [
        ("Lung Opacity", "present", "definite", "right upper lobe", None, "improved"),
        ("Lung Lesion", "present", "definite", "right upper lobe", None, None),
    ]


def test_severity_is_the_grade_now_and_not_a_change_magnitude(extractor):
    assert rows(extractor, "The right pleural effusion has decreased, now small.") == [
        ("Pleural Effusion", "present", "definite", "right", "small", "improved")
    ]
    assert rows(extractor, "Slightly increased left basilar atelectasis.") == [
        ("Atelectasis", "present", "definite", "left base", None, "worsened")
    ]
    assert rows(extractor, "Small to moderate right pleural effusion.") == [
        ("Pleural Effusion", "present", "definite", "right", "moderate", None)
    ]


def test_fractures_use_bone_locations_and_healing_is_no_change(extractor):
    assert rows(extractor, "Right clavicle and rib fractures are unchanged.") == [
        ("Fracture", "present", "definite", "right clavicle", None, "stable"),
        ("Fracture", "present", "definite", "right ribs", None, "stable"),
    ]
    assert rows(extractor, "Healing left rib fractures.") == [
        ("Fracture", "present", "definite", "left ribs", None, None)
    ]


def test_a_fractured_sternal_wire_is_not_a_fracture(extractor):
    assert rows(extractor, "Median sternotomy wires, one of which is fractured.") == [
        ("Sternotomy Wires", "present", "definite", None, None, None)
    ]
    assert rows(extractor, "Intact sternotomy wires and a healed left rib fracture.") == [
        ("Sternotomy Wires", "present", "definite", None, None, None),
        ("Fracture", "present", "definite", "left ribs", None, None),
    ]


def test_recurrence_is_left_to_the_timeline(extractor):
    assert rows(extractor, "Recurrent moderate pulmonary edema.") == [
        ("Edema", "present", "definite", None, "moderate", "recurrent")
    ]


def test_global_comparison_statement_is_recorded_not_turned_into_rows(extractor):
    result = extractor.extract("FINDINGS: Mild cardiomegaly.\nIMPRESSION: No significant interval change.")
    assert (result.global_change, [(row.term, row.stated_change) for row in result.findings]) == (
        "stable",
        [("Cardiomegaly", None)],
    )


def test_generic_device_words_and_plans_give_no_row_and_no_global_statement(extractor):
    result = extractor.extract("FINDINGS: Lines and tubes are unchanged. Chest tube placement is recommended.")
    assert (result.global_change, result.findings) == (None, [])


def test_unlabelled_sections_give_no_row(extractor):
    text = "INDICATION: Evaluate for pneumothorax.\nCOMPARISON: None.\nFINDINGS: The lungs are clear."
    assert extractor.extract(text).findings == []


def test_mediastinal_shift_and_positions_are_not_cardiac_terms(extractor):
    assert rows(extractor, "No mediastinal shift. The catheter tip projects over the cardiac silhouette.") == []


def test_evidence_is_the_exact_clause_with_offsets_inside_findings(extractor):
    text = "HISTORY: Effusion.\nFINDINGS: Heart size is normal. Small left pleural effusion, unchanged."
    row = extractor.extract(text).findings[1]
    assert (row.evidence, text[row.evidence_start : row.evidence_end]) == (
        "Small left pleural effusion, unchanged",
        "Small left pleural effusion, unchanged",
    )


def test_repeated_mentions_merge_into_one_row_with_the_most_specific_location(extractor):
    assert rows(
        extractor,
        "The left pneumothorax has decreased.",
        impression="Small residual left apical pneumothorax.",
    ) == [("Pneumothorax", "present", "definite", "left apex", "small", "improved")]


def test_empty_and_missing_text(extractor):
    empty = extractor.extract("")
    missing = list(extractor.extract_many([None]))[0]
    assert (empty.findings, empty.error, missing.findings, missing.error) == (
        [],
        None,
        [],
        "report text is missing or not a string",
    )


def test_to_dict_keeps_exactly_the_schema(extractor):
    row = extractor.extract("FINDINGS: New small right pleural effusion.").findings[0]
    assert row.to_dict() == {
        "term": "Pleural Effusion",
        "presence": "present",
        "certainty": "definite",
        "location": "right",
        "severity": "small",
        "change": None,
        "evidence": "New small right pleural effusion",
    }
