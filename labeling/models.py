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
        # One result per image per QC job: a chunk that runs twice cannot double them.
        constraints = [models.UniqueConstraint(fields=["job", "image"], name="qcresult_unique_per_job")]
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


class MaskTruth(models.Model):
    """How good a machine mask really was: a reviewer's mask for the same organ taken as the truth.

    Written once per reviewer mask (labeling.truth.record_correction), with the QC estimate the reviewer saw,
    so estimated and true Dice can be set side by side (the calibration on the QC page)."""

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    image = models.ForeignKey("curation.Image", on_delete=models.CASCADE, related_name="+")
    organ = models.CharField(max_length=16, choices=Organ.choices)
    reviewer_mask = models.OneToOneField(Mask, on_delete=models.CASCADE, related_name="truth")
    machine_mask = models.ForeignKey(Mask, on_delete=models.CASCADE, related_name="+")
    review_item = models.ForeignKey(
        "labeling.ReviewItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    qc_result = models.ForeignKey(QcResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    estimated_dice = models.FloatField(null=True, blank=True)  # QC's estimate for this organ, if it made one
    true_dice = models.FloatField()
    true_iou = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-id"], name="masktruth_project_newest")]

    def __str__(self) -> str:
        return f"truth of {self.organ} on image {self.image_id}: Dice {self.true_dice:.3f}"


# --- Review queues (issue 10): items to read, claims on read slots, decisions kept forever. ---


class ReviewKind(models.TextChoices):
    LABEL = "label", "Labels"
    MASK = "mask", "Masks"
    STRUCTURE = "structure", "Structure"


class ReviewState(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_REVIEW = "in_review", "In review"
    DECIDED = "decided", "Decided"
    ADJUDICATION = "adjudication", "Adjudication"
    FINAL = "final", "Final"


class ReviewItem(models.Model):
    """One thing to read (a study's labels, an image's masks, a study's structure), its reads and its answer.

    A send-back starts a new `round`: the earlier round's claims and decisions stay, and the item needs
    `required_reads` fresh reads (the same readers may read it again in the new round)."""

    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, related_name="review_items", db_index=False
    )
    kind = models.CharField(max_length=12, choices=ReviewKind.choices)
    study = models.ForeignKey(
        "curation.Study", null=True, blank=True, on_delete=models.CASCADE, related_name="review_items"
    )
    image = models.ForeignKey(
        "curation.Image", null=True, blank=True, on_delete=models.CASCADE, related_name="review_items"
    )
    # What is read, as a stable key ("study:12", "image:34"): one item per target per kind.
    target_key = models.CharField(max_length=64)
    # What the reader starts from (the mined labels, the QC verdict), never another reader's answer.
    prefill = models.JSONField(default=dict, blank=True)
    priority = models.FloatField(default=0.0)
    reasons = models.JSONField(default=list, blank=True)  # plain-language sentences
    required_reads = models.PositiveSmallIntegerField(default=1)
    round = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=12, choices=ReviewState.choices, default=ReviewState.PENDING)
    final = models.JSONField(null=True, blank=True)  # the agreed or adjudicated answer
    comment = models.TextField(blank=True)  # the last send-back comment
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "target_key"], name="reviewitem_unique_target"),
        ]
        indexes = [
            # The next-item walk: one index scan in priority order, no sort.
            models.Index(fields=["project", "kind", "state", "-priority", "id"], name="reviewitem_next"),
            # Pending and in-review items together, in priority order: an IN over two states cannot walk
            # the index above in order, so the next-item query walks this partial one.
            models.Index(
                fields=["project", "kind", "-priority", "id"],
                condition=models.Q(state__in=["pending", "in_review"]),
                name="reviewitem_open_next",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} review of {self.target_key} ({self.state})"


class ClaimOutcome(models.TextChoices):
    HELD = "held", "Held"
    DECIDED = "decided", "Decided"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"
    SENT_BACK = "sent_back", "Sent back"


class Claim(models.Model):
    """A reader's hold on one read slot of an item. A held or decided claim keeps its slot (released_at
    is null); skipping, an expired lease taken over, or a send-back releases it."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="claims")
    round = models.PositiveSmallIntegerField(default=1)
    slot = models.PositiveSmallIntegerField()
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_claims")
    outcome = models.CharField(max_length=10, choices=ClaimOutcome.choices, default=ClaimOutcome.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One reader per read slot at a time.
            models.UniqueConstraint(
                fields=["item", "round", "slot"],
                condition=models.Q(released_at__isnull=True),
                name="claim_one_active_per_slot",
            ),
            # Never two reads of one item (in one round) by the same reader.
            models.UniqueConstraint(fields=["item", "round", "reader"], name="claim_one_per_reader"),
        ]
        indexes = [
            # "Do I hold something?" (resume) without touching the item table.
            models.Index(
                fields=["reader", "item"],
                condition=models.Q(released_at__isnull=True, decided_at__isnull=True),
                name="claim_reader_held",
            ),
        ]

    def __str__(self) -> str:
        return f"slot {self.slot} of item {self.item_id} by {self.reader_id} ({self.outcome})"


class ReviewDecision(models.Model):
    """One read. Never overwritten: an amendment is a new row that `supersedes` the old one; the newest counts."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="decisions")
    round = models.PositiveSmallIntegerField(default=1)
    claim = models.ForeignKey(Claim, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_decisions")
    payload = models.JSONField()
    seconds = models.FloatField(default=0.0)
    # An adjudication by a curator, not a read: it makes the final answer and never counts as a read.
    adjudication = models.BooleanField(default=False)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["item", "round", "reader", "-id"], name="reviewdecision_latest")]

    def __str__(self) -> str:
        return f"decision {self.pk} on item {self.item_id} by {self.reader_id}"
