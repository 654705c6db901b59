"""Builders for review-queue tests: label items with a prefill, without running the miner."""

from labeling.models import ReviewItem, ReviewKind
from tests.factories import ImageFactory, StudyFactory

LABELS = ["Atelectasis", "Cardiomegaly", "Pleural Effusion"]


def label_item(project, priority=0.5, required_reads=1, statuses=None, with_image=False, report="") -> ReviewItem:
    """A label item on a new study of `project`, prefilled with `statuses` (default: all negative)."""
    statuses = statuses or {label: "negative" for label in LABELS}
    if with_image:
        study = ImageFactory(study__patient__project=project, display="renders/d.png").study
    else:
        study = StudyFactory(patient__project=project)
    if report:
        from curation.models import Report

        Report.objects.create(study=study, text=report, source="dicom")
    labels = [
        {
            "label": label,
            "status": status,
            "mined_status": "" if status == "not_mentioned" else status,
            "native_status": "",
            "evidence": [],
            "priority": priority,
            "reasons": [],
        }
        for label, status in statuses.items()
    ]
    return ReviewItem.objects.create(
        project=project,
        kind=ReviewKind.LABEL,
        study=study,
        target_key=f"study:{study.pk}",
        prefill={"run": None, "label_space": "chexpert", "labels": labels},
        priority=priority,
        reasons=["Cardiomegaly: the report hedges: 'cannot be excluded'"],
        required_reads=required_reads,
    )


def positive(label):
    """A label decision payload that marks `label` positive and leaves the rest as prefilled."""
    return {"labels": {label: "positive"}}
