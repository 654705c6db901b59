"""Dataset versions: what a freeze takes, the label each row gets and from where, immutability, the content
hash, patient-level splits, and comparing two versions."""

import random

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from curation.models import DatasetRow, DatasetVersion, Image
from curation.models.datasets import FrozenError
from curation.services.datasets import assign_splits, compare_versions, create_definition, freeze_version
from labeling.models import ReviewState
from tests.curation.dataset_helpers import qc, rendered_image, review, small_project

pytestmark = pytest.mark.django_db


def _labels(version, study) -> dict:
    return DatasetRow.objects.filter(version=version, study=study).values_list("labels", flat=True)[0]


def test_each_label_comes_from_the_strongest_source_that_has_it(project, members):
    # Given a study with a dataset label, a mined label and a single-read review answer
    _run, studies = small_project(project)
    first, second, third = studies[0], studies[1], studies[2]
    review(project, second, {"Atelectasis": "negative", "Pleural Effusion": "not_mentioned"})
    review(project, third, {"Atelectasis": "uncertain"}, state=ReviewState.FINAL, reads=2)
    # When the default definition is frozen
    version = freeze_version(members["curator"], project, "v1")
    # Then review beats mined beats the dataset's own label, and each label says where it came from
    assert _labels(version, first) == {
        "Atelectasis": ["negative", "mined"],
        "Cardiomegaly": ["negative", "dataset"],
        "Pleural Effusion": ["positive", "dataset"],
    }
    assert _labels(version, second)["Atelectasis"] == ["negative", "single_review"]
    assert _labels(version, second)["Pleural Effusion"] == ["", "single_review"]
    assert _labels(version, third)["Atelectasis"] == ["uncertain", "adjudicated"]


def test_minimum_agreement_leaves_out_single_reads(project, members):
    _run, studies = small_project(project)
    review(project, studies[1], {"Atelectasis": "negative"}, reads=1)
    review(project, studies[2], {"Atelectasis": "uncertain"}, reads=2)
    definition = create_definition(members["admin"], project, "agreed only", {"min_agreement": 2})
    version = freeze_version(members["admin"], project, "strict", definition)
    assert _labels(version, studies[1])["Atelectasis"] == ["positive", "mined"]
    assert _labels(version, studies[2])["Atelectasis"] == ["uncertain", "agreed"]


def test_qc_rejects_and_unredacted_burned_in_images_are_left_out_and_counted(project, members):
    _run, studies = small_project(project, patients=3)
    burned = rendered_image(studies[0], view="AP", burned_in_annotation=True, redaction="needed")
    rejected = Image.objects.filter(study=studies[1]).first()
    qc(rejected, "reject")
    qc(Image.objects.filter(study=studies[2]).first(), "accept")
    version = freeze_version(None, project, "v1")
    keys = set(DatasetRow.objects.filter(version=version).values_list("image_key", flat=True))
    assert burned.image_key not in keys and rejected.image_key not in keys
    assert version.summary["excluded"]["burned_in"] == 1
    assert version.summary["excluded"]["qc"] == 1
    assert version.row_count == Image.objects.count() - 2


def test_a_version_cannot_be_edited(project):
    small_project(project, patients=2)
    version = freeze_version(None, project, "v1")
    version.name = "renamed"
    with pytest.raises(FrozenError):
        version.save()
    row = DatasetRow.objects.filter(version=version).first()
    row.split = "test"
    with pytest.raises(FrozenError):
        row.save()
    assert DatasetVersion.objects.get(pk=version.pk).name == "v1"


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_updates_of_a_sealed_version_on_postgresql(project):
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    small_project(project, patients=2)
    version = freeze_version(None, project, "v1")
    with pytest.raises(DatabaseError):
        DatasetVersion.objects.filter(pk=version.pk).update(name="renamed")
    with pytest.raises(DatabaseError):
        DatasetRow.objects.filter(version=version).update(split="test")


def test_same_data_same_hash_and_a_name_is_used_once(project):
    small_project(project, patients=4)
    one = freeze_version(None, project, "one")
    two = freeze_version(None, project, "two")
    assert len(one.content_hash) == 64 and one.content_hash == two.content_hash
    with pytest.raises(ValidationError):
        freeze_version(None, project, "one")


def test_viewers_may_not_freeze(project, members):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        freeze_version(members["viewer"], project, "v1")


def test_compare_lists_rows_and_labels_added_removed_and_changed(project):
    _run, studies = small_project(project, patients=4)
    old = freeze_version(None, project, "old")
    review(project, studies[0], {"Atelectasis": "positive"})
    added = rendered_image(studies[1], view="PA")
    removed = Image.objects.filter(study=studies[2]).first()
    qc(removed, "reject")
    new = freeze_version(None, project, "new")
    diff = compare_versions(old, new)
    assert diff["rows"]["added"] == 1 and diff["examples"]["added"] == [added.image_key]
    assert diff["rows"]["removed"] == 1 and diff["examples"]["removed"] == [removed.image_key]
    # (a changed label can move patients between strata, so rows may change split too: counted apart)
    reviewed = Image.objects.get(study=studies[0]).image_key
    assert reviewed in diff["examples"]["changed"]
    assert diff["labels"] == {"Atelectasis": {"added": 0, "removed": 0, "status_changed": 1, "source_changed": 0}}
    assert diff["rows"]["unchanged"] + diff["rows"]["changed"] == old.row_count - 1


def test_freeze_version_cli_prints_the_id_and_json(project, capsys):
    small_project(project, patients=2)
    call_command("freeze_version", "--project", "chest", "--name", "cli")
    assert capsys.readouterr().out.strip() == str(DatasetVersion.objects.get(name="cli").pk)
    call_command("freeze_version", "--project", "chest", "--name", "cli-json", "--json")
    import json

    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["id"] == DatasetVersion.objects.get(name="cli-json").pk


# --- splits -------------------------------------------------------------------------------------------


def _cohort(n: int, seed: int = 1) -> dict[str, frozenset[str]]:
    rng = random.Random(seed)
    prevalence = {"Effusion": 0.3, "Cardiomegaly": 0.1, "Pneumothorax": 0.04, "Hernia": 0.01}
    return {f"P{i:05d}": frozenset(label for label, p in prevalence.items() if rng.random() < p) for i in range(n)}


def test_every_patient_is_in_exactly_one_split_and_the_shares_hold():
    patients = _cohort(3000)
    splits = assign_splits(patients, {"train": 0.7, "valid": 0.1, "test": 0.2}, seed=5)
    assert set(splits) == set(patients)
    counts = {s: sum(1 for v in splits.values() if v == s) for s in ("train", "valid", "test")}
    assert abs(counts["train"] - 2100) <= 1 and abs(counts["valid"] - 300) <= 1 and abs(counts["test"] - 600) <= 1


def test_splits_are_stratified_by_label():
    patients = _cohort(3000)
    splits = assign_splits(patients, {"train": 0.7, "valid": 0.1, "test": 0.2}, seed=5)
    for label in ("Effusion", "Cardiomegaly", "Pneumothorax", "Hernia"):
        overall = sum(label in v for v in patients.values()) / len(patients)
        for split in ("train", "valid", "test"):
            members = [p for p, s in splits.items() if s == split]
            share = sum(label in patients[p] for p in members) / len(members)
            # Within a few points of the whole cohort's prevalence (a random split misses rare labels by far more).
            assert abs(share - overall) <= max(0.02, overall * 0.25), (label, split, share, overall)


def test_splits_are_deterministic_for_a_seed_and_change_with_it():
    patients = _cohort(500)
    fractions = {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert assign_splits(patients, fractions, 3) == assign_splits(dict(reversed(patients.items())), fractions, 3)
    assert assign_splits(patients, fractions, 3) != assign_splits(patients, fractions, 4)


def test_a_frozen_version_keeps_each_patient_in_one_split(project):
    small_project(project, patients=12)
    version = freeze_version(None, project, "v1")
    pairs = set(DatasetRow.objects.filter(version=version).values_list("patient", "split"))
    patients = [p for p, _s in pairs]
    assert len(patients) == len(set(patients)) == 12
