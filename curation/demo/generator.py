"""Generates a complete synthetic chest X-ray dataset: DICOM studies, reports, masks and their truth.

Everything is derived from the seed, so a run is reproducible byte for byte and tests can rely on it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from curation.csvsafe import SafeWriter
from curation.demo.dicom import (
    COMPRESSED,
    TRANSFER_SYNTAXES,
    StudyMeta,
    percentile_window,
    stored_values,
    write_dicom,
)
from curation.demo.phantom import MAX_VALUE, ORGANS, chest_phantom, lateral_phantom
from curation.demo.reports import empty_findings, write_report

MASK_BITS = {"right_lung": 1, "left_lung": 2, "heart": 4}
CORRUPTIONS = (
    "swapped_lungs",
    "heart_missing",
    "eroded",
    "dilated",
    "shifted",
    "stray_blob",
    "hole",
    "merged_lungs",
)
MARKER = ".curation-demo.json"
_UID_NAMESPACE = uuid.UUID("6f1c1d0e-3b8a-5c1e-9a57-0c0a7e5d3e11")
SCENARIOS = (
    "normal",
    "effusion",
    "cardiomegaly",
    "icu",
    "pneumonia",
    "nodule",
    "chf",
    "old_fracture",
    "pleural_thickening",
)

_FEMALE = ("JANE", "MARY", "LINDA", "SUSAN", "MARIA", "ANNA", "EMMA", "GRACE", "ROSA", "HELEN")
_MALE = ("JOHN", "ROBERT", "JAMES", "MICHAEL", "DAVID", "CARLOS", "PETER", "AHMED", "WEI", "THOMAS")
_FAMILY = (
    "DOE",
    "ROE",
    "SMITH",
    "JOHNSON",
    "GARCIA",
    "NGUYEN",
    "MILLER",
    "KOWALSKI",
    "OKAFOR",
    "SATO",
    "MUELLER",
    "ROSSI",
    "HANSEN",
    "PATEL",
    "BROWN",
)
_STREETS = ("Maple Street", "Oak Avenue", "Elm Road", "Cedar Lane", "Pine Court", "Birch Boulevard")
_TOWNS = (("Springfield", "IL", "62701"), ("Riverton", "WY", "82501"), ("Fairview", "OR", "97024"))
_INSTITUTIONS = ("Springfield General Hospital", "Riverton Medical Center", "St. Example Clinic")
_PHYSICIANS = ("SMITH^JOHN^^DR", "GARCIA^ELENA^^DR", "CHEN^LI^^DR", "OKONKWO^ADA^^DR")


def generate_dataset(
    out_dir: Path,
    *,
    n_patients: int = 12,
    seed: int = 7,
    image_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write a synthetic dataset under `out_dir` and return a summary of what was written.

    Layout: `dicom/<patient_key>/<study_key>/<n>.dcm`, `reports.csv` (StudyInstanceUID,
    AccessionNumber, report), `masks/<SOPInstanceUID>.png` (bits: 1 right lung, 2 left lung, 4 heart;
    about a quarter deliberately wrong), `truth_masks/<SOPInstanceUID>.png` (the correct masks) and
    `truth.json`. The same seed gives byte-identical files; rerunning on the same folder overwrites them
    and removes files a previous run of this generator wrote that this run did not.
    `progress(done, total)` is called after each patient.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(out_dir=out_dir, seed=seed, image_size=image_size)

    for index in range(n_patients):
        # One random stream per patient, so a patient's data does not depend on the ones before it.
        _write_patient(run, index, np.random.default_rng([seed, index]))
        if progress is not None:
            progress(index + 1, n_patients)

    reports_csv = out_dir / "reports.csv"
    with reports_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = SafeWriter(handle)
        writer.writerow(["StudyInstanceUID", "AccessionNumber", "report"])
        writer.writerows(run.report_rows)
    truth_json = out_dir / "truth.json"
    truth = {
        "generator": {
            "seed": seed,
            "n_patients": n_patients,
            "image_size": image_size,
            "mask_bits": MASK_BITS,
        },
        "patients": run.patients,
        "studies": run.studies,
    }
    truth_json.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _remove_stale_files(out_dir, run.written)

    images = [image for study in run.studies.values() for image in study["images"]]
    masks = [image["mask"] for image in images if image["mask"] is not None]
    return {
        "patients": len(run.patients),
        "studies": len(run.studies),
        "images": len(images),
        "reports": len(run.report_rows),
        "masks": len(masks),
        "corrupted_masks": sum(1 for mask in masks if mask["corrupted"]),
        "compressed": sum(1 for image in images if image["compression"] is not None),
        "monochrome1": sum(1 for image in images if image["photometric"] == "MONOCHROME1"),
        "burned_in": sum(1 for image in images if image["burned_in_annotation"]),
        "out_dir": str(out_dir),
        "dicom_dir": str(out_dir / "dicom"),
        "reports_csv": str(reports_csv),
        "masks_dir": str(out_dir / "masks"),
        "truth_masks_dir": str(out_dir / "truth_masks"),
        "truth_json": str(truth_json),
    }


def _uid(seed: int, *parts: object) -> str:
    # pydicom's generate_uid(prefix=None) ignores its entropy sources and is random; a name-based UUID
    # under the 2.25 root gives a valid UID that only depends on the seed and the object's place.
    name = "/".join(["curation-demo", str(seed), *map(str, parts)])
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


@dataclasses.dataclass
class _Run:
    """What one generate_dataset call has written so far, and the counters that cycle file variants."""

    out_dir: Path
    seed: int
    image_size: int
    images_written: int = 0
    masks_written: int = 0
    studies: dict[str, dict] = dataclasses.field(default_factory=dict)
    patients: dict[str, dict] = dataclasses.field(default_factory=dict)
    report_rows: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    written: set[Path] = dataclasses.field(default_factory=set)


def _write_patient(run: _Run, index: int, rng: np.random.Generator) -> None:
    patient_key = f"patient_{index + 1:03d}"
    sex = "F" if rng.random() < 0.5 else "M"
    given = str(rng.choice(_FEMALE if sex == "F" else _MALE))
    family = str(rng.choice(_FAMILY))
    middle = chr(ord("A") + int(rng.integers(26)))
    age = int(rng.integers(25, 90))
    first_date = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 8 * 365)))
    birth_date = first_date - dt.timedelta(days=age * 365 + int(rng.integers(0, 365)))
    number, street = int(rng.integers(10, 9999)), str(rng.choice(_STREETS))
    town, state, zip_code = _TOWNS[int(rng.integers(len(_TOWNS)))]
    mrn = f"{int(rng.integers(10_000_000, 99_999_999))}"
    identity = {
        "patient_name": f"{family}^{given}^{middle}",
        "patient_id": mrn,
        "patient_birth_date": birth_date.strftime("%Y%m%d"),
        "patient_sex": sex,
        "other_patient_ids": f"A{int(rng.integers(1_000_000, 9_999_999))}",
        "patient_address": f"{number} {street}, {town}, {state} {zip_code}",
        "phone": f"555-{int(rng.integers(100, 999))}-{int(rng.integers(1000, 9999))}",
    }
    institution = str(rng.choice(_INSTITUTIONS))
    referring = str(rng.choice(_PHYSICIANS))
    run.patients[patient_key] = {
        **identity,
        "institution_name": institution,
        "referring_physician_name": referring,
    }

    n_studies = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.3, 0.25, 0.2]))
    states, scenario = _plan_course(rng, n_studies)
    dates = [first_date]
    for _ in range(n_studies - 1):
        dates.append(dates[-1] + dt.timedelta(days=int(rng.integers(30, 270))))

    prior_state, prior_uid, prior_date = None, None, None
    for number_in_course, (state, study_date) in enumerate(zip(states, dates, strict=True), start=1):
        study_key = f"study_{number_in_course}"
        study_uid = _uid(run.seed, patient_key, study_key)
        accession = f"{study_date:%y%m}{index:03d}{number_in_course}{int(rng.integers(100, 999))}"
        age_now = (study_date - birth_date).days // 365
        meta = StudyMeta(
            patient_name=identity["patient_name"],
            patient_id=mrn,
            patient_birth_date=identity["patient_birth_date"],
            patient_sex=sex,
            patient_age=f"{age_now:03d}Y",
            other_patient_ids=identity["other_patient_ids"],
            patient_address=identity["patient_address"],
            institution_name=institution,
            referring_physician_name=referring,
            accession_number=accession,
            study_instance_uid=study_uid,
            study_date=study_date.strftime("%Y%m%d"),
            study_time=_time_of_day(rng),
            study_id=f"{number_in_course}",
            operators_name=f"{str(rng.choice(_FAMILY))}^{str(rng.choice(_FEMALE + _MALE))}",
            station_name=f"XR{int(rng.integers(1, 9)):02d}",
        )
        portable = bool(state["devices"]) and "ett" in state["devices"]
        views = ("AP",) if portable else ("PA", "LL") if rng.random() < 0.45 else ("PA",)
        modality = "CR" if portable or rng.random() < 0.4 else "DX"
        images = [
            _write_image(run, rng, meta, state, view, modality, Path(patient_key) / study_key, image_number)
            for image_number, view in enumerate(views, start=1)
        ]
        report_text, report_truth = write_report(
            state,
            prior_state,
            rng,
            views=views,
            prior_date=None if prior_date is None else prior_date.strftime("%m/%d/%Y"),
            study_date=study_date.strftime("%m/%d/%Y"),
            phi={
                "physician": referring.split("^")[0].title(),
                "mrn": mrn,
                "phone": identity["phone"],
                "patient_name": f"{family}, {given}",
            },
        )
        run.report_rows.append((study_uid, accession, report_text))
        run.studies[study_uid] = {
            "patient_key": patient_key,
            "study_key": study_key,
            "study_date": study_date.isoformat(),
            "accession_number": accession,
            "prior_study_uid": prior_uid,
            "scenario": scenario,
            "findings": state,
            "report": report_truth,
            "images": images,
        }
        prior_state, prior_uid, prior_date = state, study_uid, study_date


def _time_of_day(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(7, 20)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}"


def _plan_course(rng: np.random.Generator, n: int) -> tuple[list[dict], list[str]]:
    """Choose one or two disease courses and return the findings state of each of `n` studies."""
    first = str(rng.choice(SCENARIOS, p=[0.16, 0.16, 0.12, 0.1, 0.12, 0.08, 0.1, 0.08, 0.08]))
    chosen = [first]
    if first != "normal" and rng.random() < 0.35:
        second = str(rng.choice([s for s in SCENARIOS if s not in ("normal", first)]))
        chosen.append(second)
    states = [empty_findings() for _ in range(n)]
    for scenario in chosen:
        _apply_scenario(scenario, states, rng)
    return states, chosen


def _apply_scenario(scenario: str, states: list[dict], rng: np.random.Generator) -> None:
    n = len(states)
    if scenario == "effusion":
        # An effusion that appears, grows to a peak, then shrinks and resolves.
        side = str(rng.choice(["left", "right", "bilateral"], p=[0.45, 0.4, 0.15]))
        sizes = ("small", "moderate", "large")
        onset = int(rng.integers(0, max(1, n - 1)))
        peak = onset + int(rng.integers(0, 3))
        level = int(rng.integers(0, 2))
        for i in range(onset, n):
            if level < 0:
                break
            if states[i]["effusion"] is None:
                states[i]["effusion"] = {"side": side, "size": sizes[level]}
            level = min(level + 1, 2) if i < peak else level - 1
    elif scenario == "cardiomegaly":
        grade = str(rng.choice(["mild", "moderate", "severe"]))
        for state in states:
            state["cardiomegaly"] = grade
    elif scenario == "chf":
        grade = str(rng.choice(["moderate", "severe"]))
        edema = ["moderate", "mild", None, "mild"]
        for i, state in enumerate(states):
            state["cardiomegaly"] = grade
            state["edema"] = edema[i]
            if edema[i] and state["effusion"] is None:
                state["effusion"] = {"side": "bilateral", "size": "small"}
    elif scenario == "icu":
        # Intubated with lines, a pneumothorax after line placement, then extubation.
        for i, state in enumerate(states):
            if i == 0:
                state["devices"] = ["ett", "ng_tube"]
            elif i == 1:
                state["devices"] = ["ett", "ng_tube", "central_line"]
                state["pneumothorax"] = {"side": "right", "size": str(rng.choice(["small", "moderate"]))}
            else:
                state["devices"] = ["central_line"] if i == 2 else []
        if n > 1 and states[0]["opacity"] is None:
            states[0]["opacity"] = {"side": "left", "zone": "lower", "kind": "atelectasis", "extent": "mild"}
    elif scenario == "pneumonia":
        side, zone = str(rng.choice(["left", "right"])), str(rng.choice(["upper", "mid", "lower"]))
        kind = str(rng.choice(["pneumonia", "consolidation", "atelectasis"], p=[0.5, 0.25, 0.25]))
        extents = ["moderate", "severe", "mild", None] if rng.random() < 0.5 else ["moderate", "mild", None, None]
        onset = int(rng.integers(0, 2)) if n > 1 else 0
        for i in range(onset, n):
            extent = extents[i - onset]
            if extent is not None:
                states[i]["opacity"] = {"side": side, "zone": zone, "kind": kind, "extent": extent}
    elif scenario == "nodule":
        nodule = {
            "side": str(rng.choice(["left", "right"])),
            "zone": str(rng.choice(["upper", "mid"])),
            "size_mm": int(rng.integers(6, 19)),
        }
        onset = int(rng.integers(0, n))
        for state in states[onset:]:
            state["nodule"] = dict(nodule)
    elif scenario == "old_fracture":
        fracture = {"side": str(rng.choice(["left", "right"])), "age": str(rng.choice(["healed", "acute"]))}
        for state in states:
            state["fracture"] = dict(fracture)
        if fracture["age"] == "acute":
            # An acute fracture is reported as healed on follow-up.
            for state in states[1:]:
                state["fracture"]["age"] = "healed"
        elif rng.random() < 0.5:
            for state in states:
                state["devices"] = sorted(set(state["devices"]) | {"sternal_wires"})
    elif scenario == "pleural_thickening":
        side = str(rng.choice(["left", "right"]))
        for state in states:
            state["pleural_thickening"] = {"side": side}
        if rng.random() < 0.5:
            for state in states:
                state["devices"] = sorted(set(state["devices"]) | {"pacemaker"})


def _phantom_for(state: dict, view: str, rows: int, cols: int, rng: np.random.Generator):
    if view == "LL":
        effusion = state["effusion"] is not None
        return lateral_phantom(rows, cols, rng, cardiomegaly=state["cardiomegaly"] or False, effusion=effusion), None
    effusion, pneumothorax = state["effusion"], state["pneumothorax"]
    opacity, nodule = state["opacity"], state["nodule"]
    return chest_phantom(
        rows,
        cols,
        rng,
        cardiomegaly=state["cardiomegaly"] or False,
        effusion_side=effusion["side"] if effusion else None,
        effusion_size=effusion["size"] if effusion else "moderate",
        pneumothorax_side=pneumothorax["side"] if pneumothorax else None,
        pneumothorax_size=pneumothorax["size"] if pneumothorax else "small",
        opacity=(opacity["side"], opacity["zone"]) if opacity else None,
        nodule=(nodule["side"], nodule["zone"]) if nodule else None,
        edema=state["edema"] is not None,
        devices=tuple(state["devices"]),
    )


def _write_image(
    run: _Run,
    rng: np.random.Generator,
    meta: StudyMeta,
    state: dict,
    view: str,
    modality: str,
    study_folder: Path,
    image_number: int,
) -> dict:
    # Header variants cycle with a global image counter so even a tiny dataset contains every kind.
    i = run.images_written
    run.images_written += 1
    rows = run.image_size
    cols = rows if i % 3 != 2 else rows - rows // 8
    pixels, masks = _phantom_for(state, view, rows, cols, rng)
    burned_in = i % 7 == 3
    if burned_in:
        _burn_in_text(pixels, [meta.patient_name.replace("^", " "), meta.patient_id, meta.study_date])

    photometric = "MONOCHROME1" if i % 10 in (1, 4, 8) else "MONOCHROME2"
    transfer_syntax = {
        0: "explicit",
        1: "rle" if (i // 4) % 2 == 0 else "jpeg2000",
        2: "explicit",
        3: "implicit",
    }[i % 4]
    bits_stored = (12, 14, 16)[(i // 2) % 3]
    display = pixels.astype(np.uint32) << (bits_stored - 12)
    if modality == "DX" or i % 3 == 0:
        rescale = [(1.0, 0.0), (1.0, -1024.0), (0.5, 0.0)][(i // 3) % 3]
    else:
        rescale = None
    window = None
    if i % 7 in (0, 2, 3, 5):
        stored = stored_values(display.astype(np.uint16), photometric, bits_stored)
        slope, intercept = rescale or (1.0, 0.0)
        output = stored.astype(np.float64) * slope + intercept
        window = [percentile_window(output)]
        if i % 7 == 0:
            window.append(percentile_window(output, 10.0, 90.0))

    series_uid = _uid(run.seed, study_folder.as_posix(), "series", image_number)
    sop_uid = _uid(run.seed, study_folder.as_posix(), "image", image_number)
    relative = Path("dicom") / study_folder / f"{image_number}.dcm"
    write_dicom(
        run.out_dir / relative,
        display.astype(np.uint16),
        meta=meta,
        sop_instance_uid=sop_uid,
        series_instance_uid=series_uid,
        photometric=photometric,
        window=window,
        rescale=rescale,
        transfer_syntax=transfer_syntax,
        modality=modality,
        view=view,
        bits_stored=bits_stored,
        series_number=image_number,
        instance_number=1,
        burned_in_annotation=burned_in,
        with_pixel_spacing=modality == "CR" or i % 3 == 1,
    )
    run.written.add(run.out_dir / relative)
    mask_truth = None if masks is None else _write_masks(run, sop_uid, masks, rng)
    return {
        "sop_instance_uid": sop_uid,
        "series_instance_uid": series_uid,
        "path": relative.as_posix(),
        "view": view,
        "modality": modality,
        "rows": rows,
        "cols": cols,
        "photometric": photometric,
        "transfer_syntax": transfer_syntax,
        "transfer_syntax_uid": str(TRANSFER_SYNTAXES[transfer_syntax]),
        "compression": transfer_syntax if transfer_syntax in COMPRESSED else None,
        "bits_stored": bits_stored,
        "rescale": list(rescale) if rescale else None,
        "window": [list(pair) for pair in window] if window else None,
        "burned_in_annotation": burned_in,
        "mask": mask_truth,
    }


def _burn_in_text(pixels: np.ndarray, lines: list[str]) -> None:
    # Burned-in identifiers, as on scanned or secondary-capture films, for pixel de-identification tests.
    rows, cols = pixels.shape
    canvas = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    y = 2
    for line in lines:
        draw.text((3, y), line, fill=255, font=font)
        y += 11
    text = np.asarray(canvas) > 127
    pixels[text] = MAX_VALUE


def _encode_mask(masks: dict[str, np.ndarray]) -> np.ndarray:
    encoded = np.zeros(next(iter(masks.values())).shape, dtype=np.uint8)
    for organ, bit in MASK_BITS.items():
        encoded[masks[organ]] |= bit
    return encoded


def _write_png(path: Path, array: np.ndarray, written: set[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format="PNG", optimize=False)
    path.write_bytes(buffer.getvalue())
    written.add(path)


def _write_masks(run: _Run, sop_uid: str, masks: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    # Every fourth mask is wrong, cycling through the corruption kinds.
    j = run.masks_written
    run.masks_written += 1
    kind = CORRUPTIONS[(j // 4) % len(CORRUPTIONS)] if j % 4 == 1 else None
    delivered = corrupt_masks(masks, kind, rng) if kind else masks
    _write_png(run.out_dir / "truth_masks" / f"{sop_uid}.png", _encode_mask(masks), run.written)
    _write_png(run.out_dir / "masks" / f"{sop_uid}.png", _encode_mask(delivered), run.written)
    return {
        "path": f"masks/{sop_uid}.png",
        "truth_path": f"truth_masks/{sop_uid}.png",
        "corrupted": kind is not None,
        "kind": kind,
        "dice": {organ: dice(delivered[organ], masks[organ]) for organ in ORGANS},
    }


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks, 1.0 when both are empty; rounded to 6 decimals."""
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return round(2.0 * int((a & b).sum()) / total, 6)


def corrupt_masks(masks: dict[str, np.ndarray], kind: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return a deliberately wrong copy of `masks`, damaged in the way `kind` names (see CORRUPTIONS)."""
    rows, cols = masks["heart"].shape
    step = max(2, rows // 32)
    out = {organ: mask.copy() for organ, mask in masks.items()}
    if kind == "swapped_lungs":
        out["right_lung"], out["left_lung"] = masks["left_lung"].copy(), masks["right_lung"].copy()
    elif kind == "heart_missing":
        out["heart"][:] = False
    elif kind == "eroded":
        out = {organ: ndimage.binary_erosion(mask, iterations=step) for organ, mask in masks.items()}
    elif kind == "dilated":
        out = {organ: ndimage.binary_dilation(mask, iterations=step) for organ, mask in masks.items()}
    elif kind == "shifted":
        dy, dx = int(rng.integers(1, 3)) * step, int(rng.choice([-1, 1])) * 2 * step
        for organ in out:
            shifted = np.zeros_like(masks[organ])
            shifted[dy:, max(dx, 0) : cols + min(dx, 0)] = masks[organ][: rows - dy, max(-dx, 0) : cols - max(dx, 0)]
            out[organ] = shifted
    elif kind == "stray_blob":
        y, x = np.mgrid[0:rows, 0:cols]
        cy, cx = rows * float(rng.uniform(0.85, 0.92)), cols * float(rng.uniform(0.15, 0.85))
        blob = ((y - cy) / (rows * 0.06)) ** 2 + ((x - cx) / (cols * 0.08)) ** 2 <= 1.0
        organ = str(rng.choice(["right_lung", "left_lung"]))
        out[organ] = out[organ] | blob
    elif kind == "hole":
        organ = str(rng.choice(["right_lung", "left_lung"]))
        ys, xs = np.nonzero(ndimage.binary_erosion(masks[organ], iterations=step * 2))
        if len(ys) == 0:
            ys, xs = np.nonzero(masks[organ])
        pick = int(rng.integers(len(ys)))
        y, x = np.mgrid[0:rows, 0:cols]
        hole = (y - ys[pick]) ** 2 + (x - xs[pick]) ** 2 <= (step * 1.5) ** 2
        out[organ] = masks[organ] & ~hole
    elif kind == "merged_lungs":
        union = masks["right_lung"] | masks["left_lung"]
        bridge = ndimage.binary_closing(union, structure=np.ones((3, cols // 4 + 1), dtype=bool))
        out["right_lung"] = union | bridge
        out["left_lung"] = np.zeros_like(union)
    else:
        raise ValueError(f"unknown corruption {kind!r}")
    return out


def _remove_stale_files(out_dir: Path, written: set[Path]) -> None:
    # Only prune a folder this generator has written before, and only file types it writes itself.
    marker = out_dir / MARKER
    if marker.exists():
        for folder, pattern in (("dicom", "*.dcm"), ("masks", "*.png"), ("truth_masks", "*.png")):
            for path in (out_dir / folder).rglob(pattern):
                if path not in written:
                    path.unlink()
        for folder in sorted((out_dir / "dicom").rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    marker.write_text(json.dumps({"generator": "curation.demo"}) + "\n", encoding="utf-8")
