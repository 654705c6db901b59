"""Patients, studies, series, images and reports: what ingest produces and everything else reads.

Every key stored here is the de-identified one; the originals live only in PseudonymMap.
Columns that queues, filters and exports query are indexed.
"""

from django.db import models

from .fields import TokenArrayField


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    OTHER = "O", "Other"
    UNKNOWN = "", "Unknown"


class View(models.TextChoices):
    PA = "PA", "PA"
    AP = "AP", "AP"
    LAT = "LAT", "Lateral"
    UNKNOWN = "", "Unknown"


class Dataset(models.TextChoices):
    DICOM = "dicom", "DICOM"
    NIH = "nih", "NIH ChestX-ray14"
    CHEXPERT = "chexpert", "CheXpert"
    MIMIC = "mimic", "MIMIC-CXR"
    OPENI = "openi", "Open-i"
    PADCHEST = "padchest", "PadChest"
    CSV = "csv", "Generic CSV"


# Foreign keys whose lookups are served by a composite index (declared in Meta) skip their own
# single-column index: every index costs time on each of the 10^5-10^6 inserted rows.
# The denormalised `project` keys also skip the database FK constraint: PostgreSQL checks each one
# row by row at commit, which cost a third of a bulk import; the writer always takes project_id
# from the parent it has just written, and deleting a project cascades through Django.


class Patient(models.Model):
    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, db_index=False, db_constraint=False, related_name="patients"
    )
    pseudo_id = models.CharField(max_length=64)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "pseudo_id"], name="patient_unique_key")]

    def __str__(self) -> str:
        return self.pseudo_id


class Study(models.Model):
    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, db_index=False, db_constraint=False, related_name="studies"
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="studies", db_index=False)
    dataset = models.CharField(max_length=16, choices=Dataset.choices)
    # De-identified StudyInstanceUID, or the dataset's (pseudonymised) study key.
    study_key = models.CharField(max_length=128)
    study_date = models.DateField(null=True, blank=True)  # shifted by the patient's offset
    accession = models.CharField(max_length=64, blank=True)  # pseudonymous
    age_years = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    has_report = models.BooleanField(default=False)
    image_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # What the study list filters on, as tokens ("d:nih", "v:LAT", "l:Effusion", "m:Edema:uncertain",
    # "q:reject"...), kept current by curation.services.facets: one GIN probe answers any combination,
    # however the filters correlate (migration 0014 has the index).
    facets = TokenArrayField(default=list, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "dataset", "study_key"], name="study_unique_key")]
        indexes = [
            models.Index(fields=["project", "-id"], name="study_project_recent"),
            models.Index(fields=["project", "dataset", "-id"], name="study_project_dataset"),
            models.Index(fields=["project", "sex", "age_years"], name="study_project_demo"),
            models.Index(fields=["patient", "study_date"], name="study_patient_date"),
            # The study browser's date order has its index in migration 0010 (PostgreSQL: SQLite cannot
            # index NULLS LAST).
        ]

    def __str__(self) -> str:
        return f"{self.dataset}:{self.study_key}"


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_uid = models.CharField(max_length=128)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [models.UniqueConstraint(fields=["study", "series_uid"], name="series_unique_uid")]

    def __str__(self) -> str:
        return self.series_uid


class RenderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    MISSING = "missing", "File missing"


class Redaction(models.TextChoices):
    """Whether an image's pixels carry text to burn out (curation.services.redaction)."""

    NONE = "", "No burned-in text known"
    NEEDED = "needed", "Needs redaction"
    DONE = "done", "Redacted"


class Image(models.Model):
    project = models.ForeignKey(
        "curation.Project", on_delete=models.CASCADE, db_index=False, db_constraint=False, related_name="images"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images", db_index=False)
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.SET_NULL, related_name="images")
    # De-identified SOPInstanceUID, or the dataset's image key.
    image_key = models.CharField(max_length=191)
    view_position = models.CharField(max_length=3, choices=View.choices, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    pixel_spacing_row = models.FloatField(null=True, blank=True)
    pixel_spacing_col = models.FloatField(null=True, blank=True)
    photometric = models.CharField(max_length=16, blank=True)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    burned_in_annotation = models.BooleanField(null=True, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    # Storage names (not FileFields: bulk inserts of 10^5 rows stay plain, and names are content-addressed).
    original = models.CharField(max_length=300, blank=True)
    display = models.CharField(max_length=300, blank=True)
    display16 = models.CharField(max_length=300, blank=True)
    thumbnail = models.CharField(max_length=300, blank=True)
    # Default window for the 16-bit rendering: {"window_center", "window_width", "invert", ...}
    display_meta = models.JSONField(default=dict, blank=True)
    render_status = models.CharField(max_length=8, choices=RenderStatus.choices, default=RenderStatus.PENDING)
    render_error = models.CharField(max_length=300, blank=True)
    source_path = models.CharField(max_length=500, blank=True)  # where the file was found at import
    # Burned-in text: `needed` from the header's BurnedInAnnotation at import or a reader's flag, `done` once
    # boxes were burned into the stored pixels. Boxes are [x0, y0, x1, y1] in image pixels (x1, y1 exclusive),
    # every box ever burned in. The user columns skip their index: nothing looks images up by them.
    redaction = models.CharField(max_length=8, choices=Redaction.choices, blank=True, default=Redaction.NONE)
    redaction_boxes = models.JSONField(default=list, blank=True)
    redaction_flagged_by = models.ForeignKey(
        "curation.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    redaction_flagged_at = models.DateTimeField(null=True, blank=True)
    redacted_by = models.ForeignKey(
        "curation.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    redacted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "image_key"], name="image_unique_key")]
        indexes = [
            # Partial indexes: manifest rows carry no hash until rendered, and only pending images are
            # looked up by status; smaller indexes are cheaper on every insert.
            models.Index(
                fields=["project", "content_sha256"], name="image_project_hash", condition=~models.Q(content_sha256="")
            ),
            models.Index(
                fields=["project", "id"], name="image_project_pending", condition=models.Q(render_status="pending")
            ),
            models.Index(fields=["study", "view_position"], name="image_study_view"),
            # The curators' list of images waiting for redaction: a few rows of 10^6.
            models.Index(
                fields=["project", "id"], name="image_needs_redaction", condition=models.Q(redaction="needed")
            ),
        ]

    def __str__(self) -> str:
        return self.image_key


class Report(models.Model):
    """A study's report text (scrubbed) and the dataset's own labels, kept as a label source."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="report")
    text = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=Dataset.choices)
    # Native label columns verbatim: {"Effusion": 1, "Cardiomegaly": 0, ...}; values 1/0/-1/None.
    source_labels = models.JSONField(default=dict, blank=True)
    scrubbed_items = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Report of study {self.study_id}"


class PseudonymMap(models.Model):
    """Original identifiers and their pseudonyms, kept apart and readable by project admins only."""

    class Kind(models.TextChoices):
        PATIENT = "patient", "Patient ID"
        ACCESSION = "accession", "Accession number"
        STUDY = "study", "Study key"
        IMAGE = "image", "Image key"
        UID = "uid", "DICOM UID"
        PATH = "path", "Server file path"

    project = models.ForeignKey("curation.Project", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    original = models.CharField(max_length=256)
    pseudonym = models.CharField(max_length=191)
    date_offset_days = models.IntegerField(null=True, blank=True)  # patients only
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "original"], name="pseudonym_unique_original")
        ]
        indexes = [models.Index(fields=["project", "kind", "pseudonym"], name="pseudonym_lookup")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.pseudonym}"


class DeidKey(models.Model):
    """The project's secret for deterministic pseudonyms and UID remapping (never shown in the API)."""

    project = models.OneToOneField("curation.Project", on_delete=models.CASCADE, related_name="deid_key")
    secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"De-identification key of project {self.project_id}"
