"""Mined labels: one LabelingRun per mining job (runs are kept, never overwritten) and its MinedLabel rows."""

from django.conf import settings
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


# --- Longitudinal structure (issue 12): findings per report, their change against the prior study. ---
# Machine rows are written once per StructureRun and never changed; a review adds reviewer rows (each
# `supersedes` the machine row it revises), one complete set per ReviewDecision, and the newest decision counts.


class StructureRun(models.Model):
    """One pass of the structure extractor and timeline over a project's reports (runs are kept)."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="structure_runs")
    job = models.OneToOneField("curation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.CharField(max_length=64)
    complete = models.BooleanField(default=False)
    patients = models.PositiveIntegerField(default=0)
    reports = models.PositiveIntegerField(default=0)
    findings = models.PositiveIntegerField(default=0)
    changes = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["project", "-id"], name="structurerun_project")]

    def __str__(self) -> str:
        return f"Structure run {self.pk} ({self.version})"


class FindingSource(models.TextChoices):
    MACHINE = "machine", "Machine"
    REVIEWER = "reviewer", "Reviewer"


class ReviewVerdict(models.TextChoices):
    ACCEPT = "accept", "Accepted"
    EDIT = "edit", "Edited"
    REJECT = "reject", "Rejected"
    ADD = "add", "Added"


class Finding(models.Model):
    """One row of a report's structure: term, presence, certainty, location, severity, evidence.

    `group` names the same finding across a patient's studies (term and location of the first study it
    appears in, carried along the links to the prior study): the timeline chart draws one line per group."""

    run = models.ForeignKey(StructureRun, on_delete=models.CASCADE, related_name="finding_rows")
    study = models.ForeignKey("curation.Study", on_delete=models.CASCADE, related_name="findings")
    report = models.ForeignKey("curation.Report", on_delete=models.CASCADE, related_name="findings")
    source = models.CharField(max_length=8, choices=FindingSource.choices, default=FindingSource.MACHINE)
    # Reviewer rows only: what the reader did with the row they saw.
    verdict = models.CharField(max_length=8, choices=ReviewVerdict.choices, blank=True)
    position = models.PositiveSmallIntegerField(default=0)  # order in the report (first mention)
    term = models.CharField(max_length=64)
    presence = models.CharField(max_length=8)  # present / absent
    certainty = models.CharField(max_length=10)  # definite / tentative
    location = models.CharField(max_length=32, blank=True)
    severity = models.CharField(max_length=16, blank=True)
    # [{"text", "start", "end"}]: offsets into the report text
    evidence = models.JSONField(default=list, blank=True)
    group = models.CharField(max_length=120, blank=True)
    # The same finding in the patient's previous study (machine link), if any.
    prior = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The extractor's row as it came out (schema fields, offsets, cue, provenance, warnings).
    machine_output = models.JSONField(default=dict, blank=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision = models.ForeignKey(
        "labeling.ReviewDecision", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # A chunk that runs twice cannot write a report's machine rows twice.
            models.UniqueConstraint(
                fields=["run", "study", "position"],
                condition=models.Q(source="machine"),
                name="finding_machine_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["study", "run"], name="finding_study_run"),
            models.Index(fields=["decision"], name="finding_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.term} {self.presence} ({self.source})"


class ChangeOrigin(models.TextChoices):
    STATED = "stated", "Stated in the report"
    INFERRED = "inferred", "Inferred from the timeline"
    REVIEWER = "reviewer", "Set by a reviewer"


class TemporalChange(models.Model):
    """A finding's change against the patient's prior study: stated, inferred, or set by a reviewer.

    `change` is blank when there is none (a conflict can leave a finding without one)."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="temporal_changes")
    change = models.CharField(max_length=10, blank=True)  # new / worsened / stable / improved / resolved
    origin = models.CharField(max_length=8, choices=ChangeOrigin.choices)
    cue = models.CharField(max_length=120, blank=True)  # the words that state it
    prior_finding = models.ForeignKey(Finding, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    conflict = models.BooleanField(default=False)
    conflict_kind = models.CharField(max_length=32, blank=True)
    conflict_reason = models.CharField(max_length=300, blank=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["finding", "-id"], name="temporalchange_latest")]

    def __str__(self) -> str:
        return f"{self.change or 'no change'} ({self.origin})"
