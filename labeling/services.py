"""Masks and mask QC in a project: import masks, build/grow the reference bank, run QC, export.

The QC itself is the Django-free core in labeling.qc; this module maps masks onto the project's
images, stores versioned Mask rows and QcResult rows, and keeps the bank file in storage.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from curation.models import Image, Project, PseudonymMap, RenderStatus, User
from curation.services import facets
from curation.tasking import JobFailed

from .models import Mask, MaskSource, QcResult, ReferenceBankFile, ReviewItem, ReviewKind, ReviewState

logger = logging.getLogger(__name__)

MASK_FORMATS = ("chexmask", "label_png", "organ_png", "coco")
ORGAN_NAMES = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")
MATCH_BY = ("image_key", "original_uid")
MASK_BATCH = 200
QC_BATCH = 50
LUNG_COLOURS = {"right_lung": (46, 160, 67), "left_lung": (31, 111, 235), "heart": (207, 34, 46)}


# --- parameters ------------------------------------------------------------------------------------
def clean_import_params(params: dict, project: Project) -> dict:
    from curation.services.ingest import clean_origin

    fmt = params.get("format", "")
    if fmt not in MASK_FORMATS:
        raise ValidationError({"format": f"Use one of {', '.join(MASK_FORMATS)}."})
    match = params.get("match", "image_key")
    if match not in MATCH_BY:
        raise ValidationError({"match": f"Use one of {', '.join(MATCH_BY)}."})
    clean = {"format": fmt, "match": match, **clean_origin(params, project)}
    value_map = params.get("value_map")
    if value_map:
        # Label PNGs whose pixel values are not the 1/2/4 bits: e.g. {"1": "lungs", "2": "heart"}.
        if fmt != "label_png" or not isinstance(value_map, dict):
            raise ValidationError({"value_map": "A value map ({pixel value: organ}) goes with label PNGs."})
        try:
            clean["value_map"] = {str(int(k)): str(v) for k, v in value_map.items()}
        except (TypeError, ValueError):
            raise ValidationError({"value_map": "Keys are pixel values (whole numbers)."}) from None
        unknown = set(clean["value_map"].values()) - set(ORGAN_NAMES) - {"lungs"}
        if unknown:
            raise ValidationError({"value_map": f"Unknown organs: {', '.join(sorted(unknown))}."})
    return clean


def clean_qc_params(params: dict, project: Project) -> dict:
    clean = {}
    for key, default in (("review_below", 0.85), ("reject_below", 0.60)):
        try:
            value = float(params.get(key, default))
        except (TypeError, ValueError):
            raise ValidationError({key: "Give a number between 0 and 1."}) from None
        if not 0 <= value <= 1:
            raise ValidationError({key: "Give a number between 0 and 1."})
        clean[key] = value
    if clean["reject_below"] > clean["review_below"]:
        raise ValidationError({"reject_below": "The reject threshold must not be above the review threshold."})
    return clean


# --- import -----------------------------------------------------------------------------------------
def _image_lookup(project: Project, ids: list[str], match: str) -> dict[str, Image]:
    keys = ids
    if match == "original_uid":
        # Masks keyed by the hospital's SOPInstanceUID: follow the de-identification map.
        mapping = dict(
            PseudonymMap.objects.filter(project=project, kind="uid", original__in=ids).values_list(
                "original", "pseudonym"
            )
        )
        keys = [mapping.get(i, "") for i in ids]
        images = {i.image_key: i for i in Image.objects.filter(project=project, image_key__in=[k for k in keys if k])}
        return {original: images[key] for original, key in zip(ids, keys, strict=True) if key in images}
    return {i.image_key: i for i in Image.objects.filter(project=project, image_key__in=keys)}


def _read_masks(
    fmt: str, root: Path, value_map: dict | None = None, max_pixels: int | None = None
) -> Iterator[tuple[str, Callable[[], tuple[dict, dict]], None] | tuple[str, None, str]]:
    """(image id, load, None) per item, or (id, None, reason) for an item known to be unreadable.

    Nothing is decoded here: `load()` decodes one item's masks when it is called and returns (masks, meta),
    or raises ValueError/OSError with the reason, so an import holds one item's masks at a time. Every size
    is checked against `max_pixels` before anything is allocated.
    """
    from labeling.qc import io as mask_io
    from labeling.qc.rle import MASK_MAX_PIXELS

    limit = MASK_MAX_PIXELS if max_pixels is None else max_pixels
    if fmt == "chexmask":
        csvs = sorted(root.rglob("*.csv"))
        if not csvs:
            raise JobFailed("No CheXmask CSV in the source.")
        for path in csvs:
            for record in mask_io.iter_chexmask_records(path):
                if isinstance(record, mask_io.RowError):
                    yield record.image_id or f"{path.name}:{record.row_number}", None, record.message
                else:
                    yield record.image_id, partial(_load_chexmask, record, limit), None
    elif fmt == "label_png":
        mapping = {int(k): v for k, v in value_map.items()} if value_map else None
        for path in sorted(root.rglob("*.png")):
            yield (
                path.stem,
                partial(_load_png, "label", lambda p=path: mask_io.read_label_png(p, mapping, False, limit)),
                None,
            )
    elif fmt == "organ_png":
        # One binary PNG per organ: <image id>_<organ>.png (e.g. 00000001_000_heart.png).
        groups: dict[str, dict] = {}
        for path in sorted(root.rglob("*.png")):
            organ = next((o for o in ORGAN_NAMES if path.stem.endswith(f"_{o}")), None)
            if organ is None:
                yield path.name, None, f"file name does not end in _<organ> ({', '.join(ORGAN_NAMES)})"
                continue
            groups.setdefault(path.stem[: -len(organ) - 1], {})[organ] = path
        for image_id, paths in groups.items():
            yield image_id, partial(_load_png, "organ", lambda p=paths: mask_io.read_organ_pngs(p, limit)), None
    else:
        for path in sorted(root.rglob("*.json")):
            try:
                data = json.loads(path.read_text())
                images = list(mask_io.iter_coco_images(data))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                yield path.name, None, f"unreadable COCO file ({str(exc)[:200]})"
                continue
            for image in images:
                if not image.annotations and not image.error:
                    yield str(image.image_id), None, "no organ annotation for this image"
                else:
                    yield str(image.image_id), partial(_load_coco, image, limit), None


def _load_chexmask(record, max_pixels: int) -> tuple[dict, dict]:
    from labeling.qc.io import RowError, decode_chexmask_record

    row = decode_chexmask_record(record, max_pixels=max_pixels)
    if isinstance(row, RowError):
        raise ValueError(row.message)
    meta = {"dice_rca_mean": row.rca_mean, "dice_rca_max": row.rca_max}
    if row.size_inferred:
        meta["size_inferred"] = True  # blank Height/Width: read on CheXmask's 1024² grid
    return row.masks, meta


def _load_png(kind: str, read) -> tuple[dict, dict]:
    try:
        return read(), {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable {kind} PNG ({exc})") from exc


def _load_coco(image, max_pixels: int) -> tuple[dict, dict]:
    from labeling.qc.io import decode_coco_image

    masks, errors = decode_coco_image(image, max_pixels)
    if errors:
        raise ValueError("; ".join(errors)[:500])
    return masks, {}


def _mask_item_total(fmt: str, root: Path) -> int:
    """How many items an import will report, counted without decoding (CSV lines, files, COCO images)."""
    if fmt == "chexmask":
        total = 0
        for path in root.rglob("*.csv"):
            # RLE cells hold no line breaks, so lines minus the header are rows (a progress total only).
            with path.open("rb") as fh:
                total += max(0, sum(chunk.count(b"\n") for chunk in iter(lambda fh=fh: fh.read(1 << 20), b"")) - 1)
        return total
    if fmt == "label_png":
        return sum(1 for _ in root.rglob("*.png"))
    if fmt == "organ_png":
        stems = {p.stem for p in root.rglob("*.png")}
        return len({next((s[: -len(o) - 1] for o in ORGAN_NAMES if s.endswith(f"_{o}")), s) for s in stems})
    return 0  # COCO: counted per file as it is read


def _fit_to_image(masks: dict, image: Image) -> dict:
    """Masks on the image's own grid; CheXmask's padded 1024² square is mapped back."""
    from labeling.qc.io import CHEXMASK_GRID, square_to_image

    shape = next(iter(masks.values())).shape
    if not image.rows or not image.columns or shape == (image.rows, image.columns):
        return masks  # the image's size is not known yet: the mask stays on its own grid
    if shape == (CHEXMASK_GRID, CHEXMASK_GRID):
        return {organ: square_to_image(mask, image.rows, image.columns) for organ, mask in masks.items()}
    raise ValueError(f"mask size {shape[0]}x{shape[1]} does not match image {image.rows}x{image.columns}")


def run_mask_import(ctx) -> dict:
    """Body of the `qc.import_masks` job.

    Items are read MASK_BATCH at a time undecoded (ids and RLE text or file names), their images looked up
    in one query, then decoded, fitted and encoded one item at a time: a bad or huge item is that item's
    error, and memory holds one item's masks, never the file's.
    """
    from curation.services.ingest import local_source

    params, project = ctx.params, ctx.project
    imported = duplicates = 0
    limit = settings.MASK_MAX_PIXELS
    with local_source(params, ctx) as (root, _persistent):
        ctx.set_total(_mask_item_total(params["format"], root))
        items = _read_masks(params["format"], root, params.get("value_map"), limit)
        while batch := list(islice(items, MASK_BATCH)):
            if params["format"] == "coco":
                ctx.add_total(len(batch))
            images = _image_lookup(project, [i[0] for i in batch if i[1] is not None], params["match"])
            latest = {
                (m.image_id, m.organ): m
                for m in Mask.objects.filter(image__in=list(images.values())).order_by("image_id", "organ", "version")
            }
            rows = []
            for image_id, load, reason in batch:
                image = images.get(image_id) if load is not None else None
                if load is not None and image is None:
                    reason = "no image with this id in the project"
                if image is None:
                    ctx.error(image_id, reason)
                    ctx.advance(1, failed=1)
                    continue
                try:
                    new = _mask_rows(ctx, project, image, load, latest)
                except (OSError, ValueError) as exc:
                    ctx.error(image_id, str(exc)[:500])
                    ctx.advance(1, failed=1)
                    continue
                except MemoryError:
                    ctx.error(image_id, "not enough memory to read this item's masks")
                    ctx.advance(1, failed=1)
                    continue
                rows.extend(new)
                if new:
                    imported += 1
                    ctx.advance(1, imported=1)
                else:
                    duplicates += 1
                    ctx.advance(1, duplicates=1)
            with transaction.atomic():
                Mask.objects.bulk_create(rows, batch_size=1000)
    return {"imported": imported, "duplicates": duplicates}


def _mask_rows(ctx, project: Project, image: Image, load, latest: dict) -> list[Mask]:
    """New Mask rows (RLE text) for one item: decoded, fitted onto the image, encoded; [] if nothing changed."""
    from labeling.qc.rle import encode_chexmask_rle

    masks, meta = load()
    fitted = _fit_to_image(masks, image)
    del masks
    rows = []
    # Organs absent from the file (e.g. clavicle bits never set) are not segmentations.
    for organ in [organ for organ, mask in fitted.items() if np.any(mask)]:
        mask = np.asarray(fitted.pop(organ), dtype=bool)
        rle = encode_chexmask_rle(mask)
        previous = latest.get((image.pk, organ))
        if previous is not None and previous.rle == rle:
            continue  # the same mask again: a re-run adds nothing
        rows.append(
            Mask(
                project=project,
                image=image,
                organ=organ,
                source=MaskSource.IMPORTED,
                rle=rle,
                height=mask.shape[0],
                width=mask.shape[1],
                version=(previous.version + 1) if previous else 1,
                import_meta={k: v for k, v in meta.items() if v is not None},
                job=ctx.job,
            )
        )
        # A second row for the same image in one file becomes the next version, not a clashing one.
        latest[(image.pk, organ)] = rows[-1]
    return rows


# --- reference bank ---------------------------------------------------------------------------------
def active_bank_file(project: Project) -> ReferenceBankFile | None:
    return ReferenceBankFile.objects.filter(project=project, active=True).first()


def load_project_bank(bank_file: ReferenceBankFile):
    from labeling.qc.bank import load_bank

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "bank.npz"
        with default_storage.open(bank_file.storage_name, "rb") as src:
            local.write_bytes(src.read())
        return load_bank(local)


@transaction.atomic
def store_bank(project: Project, bank, *, source: str, actor: User | None = None) -> ReferenceBankFile:
    """Save a bank into storage as the project's active bank (earlier banks stay, inactive)."""
    from labeling.qc.bank import save_bank

    with tempfile.TemporaryDirectory() as tmp:
        path = save_bank(bank, Path(tmp) / "bank.npz")
        name = default_storage.save(f"projects/{project.slug}/qc/banks/bank.npz", ContentFile(path.read_bytes()))
    ReferenceBankFile.objects.filter(project=project, active=True).update(active=False)
    return ReferenceBankFile.objects.create(
        project=project,
        storage_name=name,
        references=len(bank),
        calibrated=bool(bank.calibration and bank.calibration.get("models")),
        source=source[:300],
        created_by=actor,
    )


def build_bank_from_folder(project: Project, folder: Path, *, actor: User | None = None, corruptions: int = 4):
    """Build the project's bank from trusted masks (bit-mask PNGs or a CheXmask CSV) in a folder."""
    from labeling.qc.bank import build_bank
    from labeling.qc.cli import iter_trusted_masks

    samples, read_errors = iter_trusted_masks(folder)
    bank, errors = build_bank(samples, source=str(folder.name), corruptions_per_reference=corruptions)
    if len(bank) < 2:
        raise JobFailed("A reference bank needs at least two trusted mask sets.")
    return store_bank(project, bank, source=f"trusted masks: {folder.name}", actor=actor), read_errors + errors


def _masks_of(image_masks: list[Mask]) -> dict:
    from labeling.qc.rle import decode_chexmask_rle

    return {m.organ: decode_chexmask_rle(m.rle, m.height, m.width) for m in image_masks}


def grow_bank_from_reviewed(project: Project, actor: User | None = None) -> ReferenceBankFile:
    """Add the project's reviewed masks to its bank: those a reviewer drew (source=reviewer) and those whose
    mask review ended in an agreed or adjudicated accept (the machine's masks, now radiologist-checked)."""
    from labeling.qc.bank import add_to_bank

    bank_file = active_bank_file(project)
    if bank_file is None:
        raise ValidationError("Build a reference bank first.")
    bank = load_project_bank(bank_file)
    drawn = set(Mask.objects.filter(project=project, source=MaskSource.REVIEWER).values_list("image_id", flat=True))
    accepted = set(
        ReviewItem.objects.filter(
            project=project,
            kind=ReviewKind.MASK,
            state__in=[ReviewState.DECIDED, ReviewState.FINAL],
            final__verdict="accept",
        ).values_list("image_id", flat=True)
    )
    reviewed = latest_masks(project, sorted(drawn | (accepted - {None})))
    samples = [(f"image-{image_id}", _masks_of(masks)) for image_id, masks in reviewed.items()]
    bank, _errors = add_to_bank(
        bank, samples, source="reviewer-accepted", recalibrate=True, corruptions_per_reference=4
    )
    return store_bank(project, bank, source=f"{bank_file.source} + {len(samples)} reviewer-accepted", actor=actor)


def latest_masks(project: Project, image_ids=None) -> dict[int, list[Mask]]:
    """The newest version of each organ's mask, per image."""
    qs = Mask.objects.filter(project=project)
    if image_ids is not None:
        qs = qs.filter(image_id__in=image_ids)
    newest = qs.values("image_id", "organ").annotate(v=Max("version"))
    wanted = {(r["image_id"], r["organ"], r["v"]) for r in newest}
    out: dict[int, list[Mask]] = {}
    for mask in qs.select_related("image").order_by("image_id", "organ", "-version"):
        if (mask.image_id, mask.organ, mask.version) in wanted:
            out.setdefault(mask.image_id, []).append(mask)
    return out


# --- QC ---------------------------------------------------------------------------------------------
def _overlay_png(image: Image, masks: dict) -> bytes | None:
    """The image's display rendering with each organ's outline drawn in its colour (for the QC list)."""
    from PIL import Image as PILImage
    from scipy import ndimage

    if not image.display or not default_storage.exists(image.display):
        return None
    with default_storage.open(image.display, "rb") as fh:
        base = PILImage.open(fh).convert("RGB")
    base.thumbnail((384, 384))
    rgb = np.asarray(base).copy()
    for organ, mask in masks.items():
        small = np.asarray(PILImage.fromarray(mask.astype(np.uint8) * 255).resize(base.size, PILImage.NEAREST)) > 0
        edge = small & ~ndimage.binary_erosion(small, iterations=2)
        rgb[edge] = LUNG_COLOURS.get(organ, (255, 200, 0))
    out = io.BytesIO()
    PILImage.fromarray(rgb).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def plan_qc(ctx):
    """Body of the `qc.run` job: split the project's masked images into chunks that any QC worker takes."""
    from django.conf import settings

    from curation.tasking import FanOut

    bank_file = active_bank_file(ctx.project)
    if bank_file is None:
        raise JobFailed("This project has no reference bank yet: build one from trusted masks first.")
    image_ids = sorted(set(Mask.objects.filter(project=ctx.project).values_list("image_id", flat=True)))
    size = max(1, settings.JOB_CHUNK_ITEMS)
    chunks = [
        {"lo": image_ids[i], "hi": image_ids[min(i + size, len(image_ids)) - 1]} for i in range(0, len(image_ids), size)
    ]
    return FanOut(chunks=chunks, total=len(image_ids), state={"bank": bank_file.pk})


@functools.lru_cache(maxsize=2)  # one bank per project, read once per worker process
def _cached_bank(bank_pk: int, created_at: str):
    # created_at is part of the key: ids are reused after a database is recreated (tests, a restore).
    return load_project_bank(ReferenceBankFile.objects.get(pk=bank_pk))


def run_qc_chunk(ctx, spec: dict) -> dict:
    """Judge the newest mask set of each image in one chunk (image ids lo..hi) with the project's bank."""
    from labeling.qc.pipeline import QcConfig, qc_mask_set
    from labeling.qc.shapes import MaskInputError

    project = ctx.project
    bank_pk = (ctx.job.result or {}).get("fanout", {})["bank"]
    bank_file = ReferenceBankFile.objects.get(pk=bank_pk)
    bank = _cached_bank(bank_pk, bank_file.created_at.isoformat())
    config = QcConfig(review_below=ctx.params["review_below"], reject_below=ctx.params["reject_below"])
    in_chunk = Mask.objects.filter(project=project, image_id__gte=spec["lo"], image_id__lte=spec["hi"])
    image_ids = sorted(set(in_chunk.values_list("image_id", flat=True)))
    # A chunk that runs again (a retry, a redelivery) keeps the results an earlier attempt wrote.
    done = set(QcResult.objects.filter(job=ctx.job, image_id__in=image_ids).values_list("image_id", flat=True))
    counts = {"accept": 0, "review": 0, "reject": 0}
    for start in range(0, len(image_ids), QC_BATCH):
        block = image_ids[start : start + QC_BATCH]
        todo = [i for i in block if i not in done]
        if len(todo) < len(block):
            ctx.advance(len(block) - len(todo), skipped=len(block) - len(todo))
        if not todo:
            continue
        images = {i.pk: i for i in Image.objects.filter(pk__in=todo)}
        rows = []
        for image_id, masks in latest_masks(project, todo).items():
            arrays = _masks_of(masks)
            try:
                report = qc_mask_set(arrays, bank, config)
            except (MaskInputError, MemoryError) as exc:
                ctx.error(images[image_id].image_key, str(exc) or type(exc).__name__)
                ctx.advance(1, failed=1)
                continue
            rows.append(_qc_row(ctx, project, images[image_id], masks, arrays, report, bank_file))
            counts[report.decision] += 1
            ctx.advance(1, **{report.decision: 1})
        with transaction.atomic():
            QcResult.objects.bulk_create(rows, ignore_conflicts=True)
            # The study list's qc_decision filter reads each study's facets.
            facets.refresh_studies({images[row.image_id].study_id for row in rows})
    return counts


def _qc_row(ctx, project, image, masks, arrays, report, bank_file) -> QcResult:
    estimates = report.estimated_dice
    overlay = _overlay_png(image, arrays) if image.render_status == RenderStatus.DONE else None
    name = ""
    if overlay:
        name = f"projects/{project.slug}/qc/overlays/{image.pk}-{ctx.job.pk}.png"
        if default_storage.exists(name):
            default_storage.delete(name)
        name = default_storage.save(name, ContentFile(overlay))
    return QcResult(
        project=project,
        image_id=image.pk,
        job=ctx.job,
        mask_ids=[m.pk for m in masks],
        estimated_dice=estimates["overall"],
        estimated_dice_lungs=estimates.get("lungs"),
        estimated_dice_heart=estimates.get("heart"),
        estimates=estimates,
        flags=report.flags,
        decision=report.decision,
        metrics=report.metrics,
        method=report.method,
        version=report.version,
        bank=bank_file,
        overlay=name,
    )


def finish_qc(ctx, state: dict, results: list[dict]) -> dict:
    """The job's decisions, counted from the results it wrote: a retried chunk reports only what its last
    attempt judged, while the rows of every attempt are in the table (one per image and job)."""
    from django.db.models import Count

    counts = {"accept": 0, "review": 0, "reject": 0}
    written = QcResult.objects.filter(job=ctx.job).values_list("decision").annotate(n=Count("pk")).order_by()
    for decision, n in written:
        counts[decision] = n
    return {"bank": state.get("bank"), **counts}


def latest_results(project: Project):
    """The newest QC result per image (what the review queue and the QC page show)."""
    from django.db.models import OuterRef, Subquery

    newest = QcResult.objects.filter(image=OuterRef("image")).order_by("-id").values("id")[:1]
    return QcResult.objects.filter(project=project, id=Subquery(newest))


def qc_thresholds(project: Project) -> dict:
    """The decision rules in force: the review and reject thresholds of the project's newest QC run (the
    defaults when QC never ran) and the defect sizes that send a mask to review whatever its estimate."""
    from labeling.qc.pipeline import QcConfig
    from labeling.qc.ranges import DEFECT_REVIEW_DICE_COST, DEFECT_REVIEW_FRACTIONS

    config = QcConfig()
    newest = QcResult.objects.filter(project=project).order_by("-id").select_related("job").first()
    params = (newest.job.params or {}) if newest is not None and newest.job is not None else {}
    return {
        "review_below": float(params.get("review_below", config.review_below)),
        "reject_below": float(params.get("reject_below", config.reject_below)),
        "job": newest.job_id if newest is not None else None,
        "stray_component": DEFECT_REVIEW_FRACTIONS["stray_component"],
        "hole": DEFECT_REVIEW_FRACTIONS["hole"],
        "defect_dice_cost": DEFECT_REVIEW_DICE_COST,
    }


def latest_results_of_images(image_ids) -> dict[int, QcResult]:
    """The newest QC result of each of a few images (a study's), by image id."""
    out: dict[int, QcResult] = {}
    for result in QcResult.objects.filter(image_id__in=list(image_ids)).order_by("image_id", "-id"):
        out.setdefault(result.image_id, result)
    return out


def mask_review_items(project: Project, image_ids) -> dict[int, object]:
    """The mask review item of each image that has one (one per image: `reviewitem_unique_target`)."""
    from labeling.models import ReviewItem, ReviewKind

    items = ReviewItem.objects.filter(project=project, kind=ReviewKind.MASK, image_id__in=list(image_ids))
    return {item.image_id: item for item in items.only("pk", "image_id", "state", "round")}


# --- export -----------------------------------------------------------------------------------------
def export_chexmask_rows(project: Project) -> Iterator[list]:
    """CheXmask CSV rows (header first) of the newest masks, with the imported RCA values as given and our
    QC estimate and decision in extra columns."""
    yield [
        "ImageID",
        "Dice RCA (Mean)",
        "Dice RCA (Max)",
        "Right Lung",
        "Left Lung",
        "Heart",
        "Height",
        "Width",
        "QC Estimated Dice",
        "QC Decision",
    ]
    results = {r.image_id: r for r in latest_results(project)}
    for image_id, masks in latest_masks(project).items():
        by_organ = {m.organ: m for m in masks}
        first = masks[0]
        result = results.get(image_id)
        meta = first.import_meta
        yield [
            first.image.image_key,
            meta.get("dice_rca_mean", ""),
            meta.get("dice_rca_max", ""),
            by_organ["right_lung"].rle if "right_lung" in by_organ else "",
            by_organ["left_lung"].rle if "left_lung" in by_organ else "",
            by_organ["heart"].rle if "heart" in by_organ else "",
            first.height,
            first.width,
            result.estimated_dice if result else "",
            result.decision if result else "",
        ]


def export_coco(project: Project) -> dict:
    """The newest masks as a COCO dict (compressed RLE per organ), image ids being the project's image keys."""
    from curation.csvsafe import safe_cell, safe_file_name
    from labeling.qc.io import write_coco

    items = [
        # The image key may come from a hostile manifest: the file name is made safe for any consumer.
        (safe_cell(masks[0].image.image_key), safe_file_name(masks[0].image.image_key), _masks_of(masks))
        for masks in latest_masks(project).values()
    ]
    return write_coco(items, compressed=True)
