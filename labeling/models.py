"""Segmentation masks (versioned, never overwritten), their QC results, and the project's reference banks."""

from django.conf import settings
from django.db import models


class Organ(models.TextChoices):
    RIGHT_LUNG = "right_lung", "Right lung"
    LEFT_LUNG = "left_lung", "Left lung"
    LUNGS = "lungs", "Both lungs (one region)"
    HEART = "heart", "Heart"
    RIGHT_CLAVICLE = "right_clavicle", "Right clavicle"
    LEFT_CLAVICLE = "left_clavicle", "Left clavicle"


class MaskSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    MODEL = "model", "Model"
    REVIEWER = "reviewer", "Reviewer"


class Mask(models.Model):
    """One organ's mask on one image. A change is a new version; old versions stay."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="masks", db_index=False)
    image = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="masks", db_index=False)
    organ = models.CharField(max_length=16, choices=Organ.choices)
    source = models.CharField(max_length=8, choices=MaskSource.choices, default=MaskSource.IMPORTED)
    # CheXmask run-length encoding: "start length" pairs, starts 1-based, row-major over height x width.
    rle = models.TextField()
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    version = models.PositiveIntegerField(default=1)
    # What came with the mask, kept as given (e.g. CheXmask's "Dice RCA (Mean)" and "(Max)").
    import_meta = models.JSONField(default=dict, blank=True)
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "organ", "version"], name="mask_unique_version")]
        indexes = [models.Index(fields=["project", "image"], name="mask_project_image")]

    def __str__(self) -> str:
        return f"{self.organ} v{self.version} of image {self.image_id}"


class Decision(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REVIEW = "review", "Review"
    REJECT = "reject", "Reject"


class QcResult(models.Model):
    """The QC verdict on one image's mask set: estimated Dice, flags with reasons, a decision."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="qc_results", db_index=False)
    image = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="qc_results", db_index=False)
    job = models.ForeignKey("curation.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    mask_ids = models.JSONField(default=list)  # the exact mask versions judged
    estimated_dice = models.FloatField()  # overall: mean of the lungs (one region) and the heart, as CheXmask
    estimated_dice_lungs = models.FloatField(null=True, blank=True)
    estimated_dice_heart = models.FloatField(null=True, blank=True)
    estimates = models.JSONField(default=dict)  # per organ, including each lung when split
    flags = models.JSONField(default=list)  # [{"code", "organ", "reason", "severity", "value"}]
    decision = models.CharField(max_length=8, choices=Decision.choices)
    metrics = models.JSONField(default=dict)
    method = models.CharField(max_length=64)
    version = models.CharField(max_length=16)
    bank = models.ForeignKey("labeling.ReferenceBankFile", null=True, blank=True, on_delete=models.SET_NULL)
    overlay = models.CharField(max_length=300, blank=True)  # storage name of the image with masks drawn on it
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "decision", "estimated_dice"], name="qc_project_decision"),
            models.Index(fields=["project", "estimated_dice", "id"], name="qc_project_quality"),
            models.Index(fields=["image", "-id"], name="qc_image_latest"),
        ]

    def __str__(self) -> str:
        return f"QC {self.decision} {self.estimated_dice:.3f} (image {self.image_id})"


class ReferenceBankFile(models.Model):
    """A reference bank of trusted masks (built by the user; stored through the storage API)."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="reference_banks")
    storage_name = models.CharField(max_length=300)
    references = models.PositiveIntegerField()
    calibrated = models.BooleanField(default=False)
    source = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Bank {self.pk} ({self.references} references)"
