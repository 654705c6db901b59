"""Mined labels: one LabelingRun per mining job (runs are kept, never overwritten) and its MinedLabel rows."""

from django.db import models


class LabelingRun(models.Model):
    """One pass of the labeler over a project's reports, in one label space, with one labeler version."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="labeling_runs")
    job = models.OneToOneField("curation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    label_space = models.CharField(max_length=32)
    labeler_version = models.CharField(max_length=64)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    complete = models.BooleanField(default=False)
    reports = models.PositiveIntegerField(default=0)
    # {label: {"positive": n, "negative": n, "uncertain": n}}
    stats = models.JSONField(default=dict, blank=True)
    # versus `previous`: {"changed": n, "added": n, "removed": n, "transitions": {"negative→positive": n}}
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "label_space", "-id"], name="run_project_space")]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.label_space}, {self.labeler_version})"


class MinedLabel(models.Model):
    """A label of one study's report: status, the words it came from, and how likely it is wrong."""

    run = models.ForeignKey(LabelingRun, on_delete=models.CASCADE, related_name="labels")
    study = models.ForeignKey("curation.Study", on_delete=models.CASCADE, related_name="mined_labels")
    label = models.CharField(max_length=64)
    # positive / negative / uncertain, or "" when not mentioned but the dataset's own label has it
    status = models.CharField(max_length=12, blank=True)
    native_status = models.CharField(max_length=12, blank=True)
    rule = models.CharField(max_length=64, blank=True)
    # [{"text", "start", "end", "field", "section", "rule", "trigger", ...}] offsets into the report text
    evidence = models.JSONField(default=list, blank=True)
    priority = models.FloatField(default=0.0)
    priority_reasons = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "study", "label"], name="minedlabel_unique")]
        indexes = [
            models.Index(fields=["run", "-priority", "id"], name="minedlabel_review_order"),
            # The labels list filtered by label or by status, in review order: one index walk, no sort.
            models.Index(fields=["run", "label", "-priority", "id"], name="minedlabel_label_order"),
            models.Index(fields=["run", "status", "-priority", "id"], name="minedlabel_status_order"),
            models.Index(fields=["study", "run"], name="minedlabel_study"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.status or 'not mentioned'}"
