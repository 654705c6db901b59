"""Filling the review queues from a mining run and from QC results: priorities, plain reasons, idempotence."""

import pytest

from curation.dispatch import run_in_process
from curation.models import AuditEvent, Job, JobStatus
from curation.services.jobs import start_job
from labeling.models import QcResult, ReviewItem, ReviewKind
from labeling.review.fill import fill_label_queue, fill_mask_queue
from labeling.review.reasons import label_reason
from nlp.models import LabelingRun, MinedLabel
from tests.factories import ImageFactory, StudyFactory

pytestmark = pytest.mark.django_db

HEDGE = {"text": "effusion", "start": 30, "end": 38, "status": "uncertain", "trigger": "cannot be excluded"}


@pytest.fixture
def run(project):
    """A complete run over two studies: one hedged effusion (0.5), one plain cardiomegaly (0.0)."""
    run = LabelingRun.objects.create(project=project, label_space="chexpert", labeler_version="t", complete=True)
    hedged, plain = StudyFactory(patient__project=project), StudyFactory(patient__project=project)
    MinedLabel.objects.create(
        run=run,
        study=hedged,
        label="Pleural Effusion",
        status="uncertain",
        evidence=[HEDGE],
        priority=0.5,
        priority_reasons=["uncertain"],
    )
    MinedLabel.objects.create(run=run, study=hedged, label="Cardiomegaly", status="negative", priority=0.0)
    MinedLabel.objects.create(run=run, study=plain, label="Cardiomegaly", status="positive", priority=0.0)
    run.hedged, run.plain = hedged, plain
    return run


def test_one_label_item_per_study_with_the_mined_prefill_priority_and_plain_reasons(project, run):
    # When the label queue is filled from the run with double reading
    result = fill_label_queue(project, run, required_reads=2)
    # Then each study has one item; the hedged one carries the miner's score and a sentence quoting the hedge
    assert result == {"created": 2, "studies": 2}
    item = ReviewItem.objects.get(study=run.hedged)
    assert (item.kind, item.priority, item.required_reads, item.state) == ("label", 0.5, 2, "pending")
    assert item.reasons == ["Pleural Effusion: the report hedges: 'cannot be excluded'"]
    labels = {e["label"]: e for e in item.prefill["labels"]}
    assert len(labels) == 14  # every CheXpert label, unmentioned ones as not_mentioned
    assert (labels["Pleural Effusion"]["status"], labels["Pleural Effusion"]["evidence"][0]["text"]) == (
        "uncertain",
        "effusion",
    )
    assert labels["Cardiomegaly"]["status"] == "negative"
    assert labels["Edema"]["status"] == "not_mentioned"
    assert ReviewItem.objects.get(study=run.plain).priority == 0.0


def test_filling_again_adds_nothing_twice(project, run):
    fill_label_queue(project, run)
    again = fill_label_queue(project, run)
    assert again == {"created": 0, "studies": 2}
    assert ReviewItem.objects.filter(project=project, kind=ReviewKind.LABEL).count() == 2
    assert AuditEvent.objects.filter(action="review.queue_filled").count() == 2


def test_every_reason_code_reads_as_a_sentence():
    # Given evidence that affirms and denies, and a dataset label that disagrees
    evidence = [
        {"text": "small effusion", "status": "positive", "trigger": ""},
        {"text": "no effusion", "status": "negative", "trigger": "no"},
    ]
    # Then each code of nlp/core/priority.py becomes plain language quoting the report
    assert label_reason("conflicting_sections", "Effusion", "positive", "", evidence) == (
        "Effusion: two sections of the report disagree: 'small effusion' and 'no effusion'"
    )
    assert label_reason("native_disagreement", "Effusion", "positive", "negative", evidence) == (
        "Effusion: the dataset's own label says absent, the report reads present"
    )
    assert label_reason("rare_phrasing", "Effusion", "positive", "", evidence) == (
        "Effusion: phrasing seldom seen in this batch: 'small effusion'"
    )
    assert label_reason("no_normal_statement", "No Finding", "positive", "", []) == (
        "No Finding: no finding is claimed, but the report has no statement that the study is normal"
    )


def test_mask_queue_is_worst_first_from_the_newest_qc_result_and_leaves_accepted_masks_out(project):
    # Given three images with QC results (one re-run: the newest counts), one accepted
    bad, fair, good = (ImageFactory(study__patient__project=project) for _ in range(3))
    QcResult.objects.create(project=project, image=bad, estimated_dice=0.9, decision="accept", method="m", version="1")
    QcResult.objects.create(
        project=project,
        image=bad,
        estimated_dice=0.4,
        decision="reject",
        method="m",
        version="1",
        flags=[{"organ": "heart", "reason": "cardiothoracic ratio 0.83 outside 0.36–0.68"}],
    )
    QcResult.objects.create(project=project, image=fair, estimated_dice=0.7, decision="review", method="m", version="1")
    QcResult.objects.create(
        project=project, image=good, estimated_dice=0.95, decision="accept", method="m", version="1"
    )
    # When the mask queue is filled (twice)
    first = fill_mask_queue(project)
    second = fill_mask_queue(project)
    # Then two items exist, worst first, with readable reasons
    assert (first["created"], second["created"]) == (2, 0)
    items = list(ReviewItem.objects.filter(kind=ReviewKind.MASK).order_by("-priority"))
    assert [(i.image_id, round(i.priority, 2)) for i in items] == [(bad.pk, 0.6), (fair.pk, 0.3)]
    assert items[0].reasons == [
        "estimated Dice 0.40 without ground truth",
        "heart: cardiothoracic ratio 0.83 outside 0.36–0.68",
    ]


def test_the_fill_job_fills_the_label_queue(project, members, run):
    # When a curator starts the review.fill job (in-process in tests)
    with run_in_process():
        job = start_job(members["curator"], project, "review.fill", {"queue": "label", "required_reads": 2})
    # Then it succeeded and made the items
    job = Job.objects.get(pk=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.result["created"] == 2
    assert set(ReviewItem.objects.values_list("required_reads", flat=True)) == {2}


def test_the_fill_job_is_for_curators_and_admins_and_needs_a_run(project, members):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        start_job(members["radiologist"], project, "review.fill", {"queue": "label"})
    with pytest.raises(ValidationError):
        start_job(members["curator"], project, "review.fill", {"queue": "label"})


def test_qc_reasons_name_the_organ_once():
    from labeling.review.reasons import qc_reasons

    flags = [
        {"organ": "heart", "reason": "heart: a stray part apart from the organ, 10.9% of its size"},
        {"organ": "right_lung", "reason": "holes cover 5% of the organ"},
        {"organ": "", "reason": "masks overlap"},
    ]
    sentences = qc_reasons(0.8, 0.85, 0.75, flags)
    assert sentences == [
        "estimated Dice 0.80 (lungs 0.85, heart 0.75) without ground truth",
        "heart: a stray part apart from the organ, 10.9% of its size",
        "right lung: holes cover 5% of the organ",
        "masks overlap",
    ]
