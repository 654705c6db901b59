"""Plain functions behind the `qc_masks` and `build_reference_bank` commands (no Django, no database)."""

from __future__ import annotations

from pathlib import Path

from curation.csvsafe import SafeWriter

from .bank import build_bank, load_bank, save_bank
from .io import SIZE_INFERRED_FLAG, ChexmaskRow, read_chexmask_csv, read_label_png
from .pipeline import QcConfig, qc_mask_set
from .rle import MASK_MAX_PIXELS
from .shapes import MaskInputError

QC_COLUMNS = (
    "image_id",
    "estimated_dice",
    "estimated_dice_lungs",
    "estimated_dice_heart",
    "decision",
    "flags",
)


def qc_chexmask_csv(
    csv_path,
    bank,
    output_path,
    config: QcConfig | None = None,
    image_sizes=None,
    max_pixels: int | None = MASK_MAX_PIXELS,
) -> dict:
    """QC every row of a CheXmask CSV against a bank (object or path); write one output row per input row.

    Rows that cannot be read (or are over `max_pixels`) get decision `error` and the reason in `flags`. Rows
    with blank Height/Width are judged on CheXmask's 1024² grid and flagged so. Returns counts per decision.
    """
    bank = load_bank(bank) if isinstance(bank, (str, Path)) else bank
    counts = {"accept": 0, "review": 0, "reject": 0, "error": 0}
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", newline="", encoding="utf-8") as out:
        writer = SafeWriter(out)
        writer.writerow(QC_COLUMNS)
        for item in read_chexmask_csv(csv_path, image_sizes=image_sizes, max_pixels=max_pixels):
            if isinstance(item, ChexmaskRow):
                try:
                    report = qc_mask_set(item.masks, bank, config)
                except MaskInputError as exc:
                    item_error = str(exc)
                except MemoryError:
                    item_error = "not enough memory to judge this row's masks"
                else:
                    est = report.estimated_dice
                    flags = ([SIZE_INFERRED_FLAG] if item.size_inferred else []) + list(report.reasons)
                    writer.writerow(
                        [
                            item.image_id,
                            est["overall"],
                            est.get("lungs", 0.0),
                            est.get("heart", 0.0),
                            report.decision,
                            "; ".join(flags),
                        ]
                    )
                    counts[report.decision] += 1
                    continue
                image_id, message = item.image_id, item_error
            else:
                image_id, message = item.image_id, f"row {item.row_number}: {item.message}"
            writer.writerow([image_id, "", "", "", "error", f"error: {message}"])
            counts["error"] += 1
    return {"rows": sum(counts.values()), **counts, "output": str(output_path)}


def iter_trusted_masks(source):
    """(id, masks) pairs from a folder of bit-mask PNGs or a CheXmask CSV, and the errors met on the way."""
    source = Path(source)
    errors: list = []
    if source.is_dir():

        def pngs():
            for path in sorted(source.glob("*.png")):
                try:
                    yield path.stem, read_label_png(path)
                except (OSError, ValueError, MemoryError) as exc:
                    errors.append((path.stem, f"unreadable label PNG ({exc})"))

        return pngs(), errors

    def rows():
        for item in read_chexmask_csv(source):
            if isinstance(item, ChexmaskRow):
                yield item.image_id, item.masks
            else:
                errors.append((item.image_id or f"row {item.row_number}", item.message))

    return rows(), errors


def build_bank_from_path(
    masks, output, calibrate: bool = True, corruptions_per_reference: int = 4, seed: int = 0
) -> dict:
    """Build a bank from a folder of bit-mask PNGs or a CheXmask CSV and save it; return a summary."""
    samples, read_errors = iter_trusted_masks(masks)
    bank, errors = build_bank(
        samples,
        source=str(masks),
        calibrate=calibrate,
        corruptions_per_reference=corruptions_per_reference,
        seed=seed,
    )
    path = save_bank(bank, output)
    errors = read_errors + errors
    return {
        "references": len(bank),
        "skipped": len(errors),
        "errors": errors[:20],
        "output": str(path),
        "calibrated": bool(bank.calibration and bank.calibration.get("models")),
    }
