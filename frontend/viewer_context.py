"""What the viewer shows on the study page: the study's frontal and lateral images side by side, the patient's
prior study beside them, each image's newest mask per organ as overlay layers, and the window presets the
file itself brings (viewer.js)."""

from __future__ import annotations

import json

from django.db.models import Q
from django.urls import reverse

from curation.models import Image, Study, View
from labeling.models import Mask

# Frontal views first, then the lateral, then anything else: the order a radiologist hangs them.
_VIEW_ORDER = {View.PA: 0, View.AP: 1, View.LAT: 2}
CURRENT_PANES = 2


def hanging_order(images: list[Image]) -> list[Image]:
    return sorted(images, key=lambda image: (_VIEW_ORDER.get(image.view_position, 3), image.pk))


def prior_study(study: Study) -> Study | None:
    """The patient's newest study before this one (by date; undated studies by id)."""
    earlier = Study.objects.filter(patient_id=study.patient_id).exclude(pk=study.pk)
    if study.study_date is not None:
        earlier = earlier.filter(Q(study_date__lt=study.study_date) | Q(study_date=study.study_date, pk__lt=study.pk))
        return earlier.order_by("-study_date", "-pk").first()
    return earlier.filter(pk__lt=study.pk).order_by("-pk").first()


def _layers(project, images: list[Image]) -> dict[int, list[dict]]:
    """Per image, the newest version of each organ's mask as [{id, organ, url, label}] (no RLE is read)."""
    rows = (
        Mask.objects.filter(project=project, image_id__in=[image.pk for image in images])
        .order_by("image_id", "organ", "-version")
        .values("id", "image_id", "organ", "version", "source")
    )
    out: dict[int, list[dict]] = {}
    seen = set()
    for row in rows:
        if (row["image_id"], row["organ"]) in seen:
            continue
        seen.add((row["image_id"], row["organ"]))
        out.setdefault(row["image_id"], []).append(
            {
                "id": row["id"],
                "organ": row["organ"],
                "url": reverse("api-mask-layer", args=[project.slug, row["id"]]),
                "label": f"{row['organ'].replace('_', ' ')} v{row['version']} ({row['source']})",
            }
        )
    return out


MAX_FILE_PRESETS = 8
RENDERED_LUT = "File VOI LUT (as rendered)"


def file_presets(image: Image) -> list[str]:
    """The names of the presets the image's own file brings, as viewer.js offers them after the import's
    default: the VOI LUT as ingest rendered it (when it did), then each window and VOI LUT the header holds
    (display_meta["presets"], written by curation.dicomio.render; images rendered before it have none)."""
    meta = image.display_meta or {}
    presets = meta.get("presets") if isinstance(meta.get("presets"), list) else []
    names = [RENDERED_LUT] if meta.get("voi_lut_rendered") and image.display and image.display16 else []
    for preset in presets[:MAX_FILE_PRESETS]:
        if isinstance(preset, dict) and isinstance(preset.get("name"), str):
            names.append(preset["name"])
    return names


def _pane(project, image: Image, layers: dict[int, list[dict]], caption: str) -> dict:
    def url(which: str) -> str:
        return reverse("image-file", args=[project.slug, image.pk, which]) if getattr(image, which) else ""

    return {
        "image": image,
        "src16": url("display16"),
        "src8": url("display"),
        "window": json.dumps(image.display_meta or {}),
        "masks": json.dumps(layers.get(image.pk, [])),
        "presets": file_presets(image),
        "caption": caption,
    }


def study_panes(project, study: Study, images: list[Image]) -> dict:
    """The panes of the study page: {"current": [...], "prior": {"study", "panes"} or None, "thumbs": [...]}."""
    current = [image for image in hanging_order(images) if image.display or image.display16][:CURRENT_PANES]
    prior = prior_study(study)
    prior_images = []
    if prior is not None:
        prior_images = [i for i in hanging_order(list(prior.images.all())) if i.display or i.display16][:1]
    layers = _layers(project, list(images) + prior_images)
    view = {View.PA: "PA", View.AP: "AP", View.LAT: "Lateral"}
    panes = [_pane(project, image, layers, view.get(image.view_position, "Image")) for image in current]
    prior_panes = [
        _pane(project, image, layers, f"Prior {prior.study_date or ''} · {view.get(image.view_position, 'image')}")
        for image in prior_images
    ]
    return {
        "current": panes,
        "prior": {"study": prior, "panes": prior_panes} if prior_panes else None,
        # Every image of the study, for the thumbnails that load into the first pane.
        "thumbs": [{"image": image, "masks": json.dumps(layers.get(image.pk, []))} for image in images],
    }
