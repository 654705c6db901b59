"""Dataset definitions and the immutable versions frozen from them: the row list, its splits and labels.

A definition says what goes in (views, which label source wins, admitted QC decisions, minimum agreement,
exclusions, split fractions and seed); freezing it writes a DatasetVersion and its DatasetRow children once.
A version is never edited: save() refuses updates here, and on PostgreSQL triggers refuse UPDATE on rows and
on a sealed version (migration 0012): the freezing transaction writes the version, its rows, then seals it
once with the rows' content hash. Deleting is left possible so that deleting a project still cascades.
"""

from django.conf import settings
from django.db import models

# Label sources, strongest first: the order a definition's `label_precedence` starts from.
LABEL_SOURCES = ("adjudicated", "agreed", "single_review", "mined", "dataset")


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VALID = "valid", "Validation"
    TEST = "test", "Test"


def default_precedence() -> list[str]:
    return list(LABEL_SOURCES)


def default_qc_decisions() -> list[str]:
    # "none": images no QC job has judged (no masks). Rejected masks say the image itself is doubtful.
    return ["accept", "review", "none"]


def default_fractions() -> dict[str, float]:
    return {"train": 0.8, "valid": 0.1, "test": 0.1}


class DatasetDefinition(models.Model):
    """What a version takes from the project. Kept as written: a changed definition is a new row."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="dataset_definitions")
    name = models.CharField(max_length=100)
    # View positions admitted ("PA", "AP", "LAT", "" for unknown); empty: every view.
    views = models.JSONField(default=list, blank=True)
    # Source datasets admitted (curation.models.Dataset values); empty: every source.
    datasets = models.JSONField(default=list, blank=True)
    label_precedence = models.JSONField(default=default_precedence)
    qc_decisions = models.JSONField(default=default_qc_decisions)
    # A review answer counts only with at least this many agreeing reads (an adjudication always counts).
    min_agreement = models.PositiveSmallIntegerField(default=1)
    # {"patients": [pseudo ids], "studies": [study keys], "images": [image keys]}
    exclusions = models.JSONField(default=dict, blank=True)
    split_fractions = models.JSONField(default=default_fractions)
    split_seed = models.IntegerField(default=13)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "name", "-id"], name="datasetdef_project_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.project_id})"


class FrozenError(PermissionError):
    """A dataset version or one of its rows was about to be changed."""


class DatasetVersion(models.Model):
    """One frozen dataset: its rows (DatasetRow), their content hash and what they were made from."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="dataset_versions")
    definition = models.ForeignKey(DatasetDefinition, on_delete=models.PROTECT, related_name="versions")
    name = models.CharField(max_length=100)
    label_space = models.CharField(max_length=32)
    # sha256 over the canonical serialisation of the rows (curation.services.datasets.row_digest_line).
    content_hash = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField(default=0)
    labeler_version = models.CharField(max_length=120, blank=True)
    qc_version = models.CharField(max_length=120, blank=True)
    review_version = models.CharField(max_length=120, blank=True)
    # Rows, patients and studies per split, and what was left out and why.
    summary = models.JSONField(default=dict, blank=True)
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    frozen_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="datasetversion_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.row_count} rows)"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise FrozenError("Dataset versions are immutable: freeze a new version instead.")
        super().save(*args, **kwargs)


class DatasetRow(models.Model):
    """One image of a version, with what exports need frozen beside it (split, labels and their sources).

    `labels` is {label: [status, source]}: status positive / negative / uncertain, or "" when the winning
    source (a reviewer) said the report does not mention it. Index fields number patients, studies and
    images inside the version (CheXpert's patient<N>/study<n>/view<n>, NIH's Follow-up #)."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="rows", db_index=False)
    study = models.ForeignKey("curation.Study", on_delete=models.CASCADE, related_name="+", db_index=False)
    image = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+", db_index=False)
    patient = models.CharField(max_length=64)  # the patient's pseudonym
    patient_index = models.PositiveIntegerField()
    study_key = models.CharField(max_length=128)
    follow_up = models.PositiveIntegerField()  # 0 for the patient's first study in the version
    image_key = models.CharField(max_length=191)
    image_index = models.PositiveSmallIntegerField()  # 0 for the study's first image
    dataset = models.CharField(max_length=16)
    view_position = models.CharField(max_length=3, blank=True)
    sex = models.CharField(max_length=1, blank=True)
    age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    qc_decision = models.CharField(max_length=8, blank=True)  # "" when no QC job judged the image
    split = models.CharField(max_length=5, choices=Split.choices)
    labels = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "image_key"], name="datasetrow_unique_image")]
        # Exports walk (version, id); comparisons walk (version, image_key) through the unique constraint.
        indexes = [models.Index(fields=["version", "id"], name="datasetrow_version_order")]

    def __str__(self) -> str:
        return f"{self.image_key} ({self.split})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise FrozenError("Rows of a dataset version are immutable.")
        super().save(*args, **kwargs)
