"""Small projects for the dataset version and export tests: patients, studies, rendered images, the dataset's
own labels, a mining run, review answers, QC results and masks, each made through the models directly."""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from curation.models import Report
from labeling.models import Mask, QcResult, ReviewItem, ReviewKind, ReviewState
from labeling.qc.rle import encode_chexmask_rle
from nlp.models import LabelingRun, MinedLabel
from tests.factories import ImageFactory, PatientFactory, StudyFactory


def png(value: int, size: int = 32, mode: str = "L") -> bytes:
    out = io.BytesIO()
    if mode == "RGB":
        PILImage.new("RGB", (size, size), (value, value // 2, 0)).save(out, format="PNG")
    else:
        PILImage.new("L", (size, size), value).save(out, format="PNG")
    return out.getvalue()


def rendered_image(study, *, view="PA", key=None, **fields):
    """An image with a display PNG (8-bit), a packed 16-bit rendering and a stored DICOM-looking original."""
    kwargs = {"study": study, "view_position": view, "render_status": "done", **fields}
    if key:
        kwargs["image_key"] = key
    image = ImageFactory(**kwargs)
    prefix = f"projects/{study.project.slug}/renders/{image.pk}"
    image.display = default_storage.save(f"{prefix}/display.png", ContentFile(png(100 + image.pk % 100)))
    image.display16 = default_storage.save(f"{prefix}/display16.png", ContentFile(png(40, mode="RGB")))
    image.original = default_storage.save(f"{prefix}/original.dcm", ContentFile(b"\0" * 128 + b"DICM" + b"\0" * 16))
    image.save()
    return image


def mask_rows(image, organs=("right_lung", "left_lung", "heart"), size=32):
    """Box masks for an image: each organ a different rectangle."""
    out = []
    for n, organ in enumerate(organs):
        bits = np.zeros((size, size), dtype=bool)
        bits[4 + n : 12 + 3 * n, 2 + 5 * n : 9 + 5 * n] = True
        out.append(
            Mask.objects.create(
                project=image.project,
                image=image,
                organ=organ,
                rle=encode_chexmask_rle(bits),
                height=size,
                width=size,
            )
        )
    return out


def small_project(project, patients: int = 6):
    """`patients` patients with 1–2 studies each and one PA image per study (the second study also an AP and
    a lateral image), NIH-style dataset labels, a complete mining run, and a few review answers."""
    run = LabelingRun.objects.create(
        project=project, label_space="chexpert", labeler_version="test-1", complete=True, reports=0
    )
    studies = []
    for p in range(patients):
        patient = PatientFactory(project=project, pseudo_id=f"PAT{p:03d}", sex="F" if p % 2 else "M")
        for s in range(1 + p % 2):
            study = StudyFactory(patient=patient, study_key=f"2.25.{p}{s}7", age_years=40 + p, sex=patient.sex)
            rendered_image(study, view="PA")
            if s == 1:
                rendered_image(study, view="AP")
                rendered_image(study, view="LAT")
            Report.objects.create(
                study=study,
                source="nih",
                source_labels={"Effusion": 1 if p % 3 == 0 else 0, "Cardiomegaly": 1 if p == 1 else 0},
            )
            MinedLabel.objects.create(
                run=run, study=study, label="Atelectasis", status="positive" if p % 2 else "negative"
            )
            studies.append(study)
    return run, studies


def review(project, study, labels: dict, *, state=ReviewState.DECIDED, reads=1):
    return ReviewItem.objects.create(
        project=project,
        kind=ReviewKind.LABEL,
        study=study,
        target_key=f"study:{study.pk}",
        state=state,
        required_reads=reads,
        final={"labels": labels},
    )


def qc(image, decision):
    return QcResult.objects.create(
        project=image.project, image=image, estimated_dice=0.5, decision=decision, method="test", version="1"
    )
