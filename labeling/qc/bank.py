"""Reference bank: trusted masks reduced to a small canonical frame, plus the calibration fitted on them.

Saved as one compressed `.npz` (uint8 canonical masks, ids, a JSON metadata string with the format version,
frame, sources and calibration). Users build it from their own trusted masks; nothing is shipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .shapes import HEART, LEFT, LUNGS, RIGHT, FrameConfig, MaskInputError, prepare

BANK_FORMAT_VERSION = 1


class BankError(ValueError):
    """A bank file that cannot be used (wrong version, inconsistent frame, empty)."""


@dataclass
class ReferenceBank:
    """Canonical-frame reference masks (N, 4, G, G) as uint8 area fractions (255 = inside)."""

    ids: list[str]
    canonical: np.ndarray
    split_lungs: np.ndarray  # (N,) bool: right and left lungs given separately
    frame: FrameConfig = field(default_factory=FrameConfig)
    sources: list[str] = field(default_factory=list)  # per entry: where it came from
    calibration: dict | None = None
    created: str = ""
    _vectors: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def vectors(self) -> np.ndarray:
        """(N, 4, G*G) float32 fractions, cached: the estimate multiplies against these."""
        if self._vectors is None or self._vectors.shape[0] != len(self.ids):
            n = len(self.ids)
            self._vectors = self.canonical.reshape(n, 4, -1).astype(np.float32) / 255.0
        return self._vectors


def canonical_entry(masks: dict, frame: FrameConfig) -> tuple[np.ndarray, bool]:
    """Reduce one trusted mask set to its canonical uint8 array; raise MaskInputError if it has no lungs."""
    prepared = prepare(masks, frame)
    if prepared.canonical is None:
        raise MaskInputError("reference has no lungs")
    canonical = np.clip(np.rint(prepared.canonical * 255), 0, 255).astype(np.uint8)
    return canonical, prepared.has_split_lungs


def build_bank(
    samples: Iterable[tuple[str, dict]],
    frame: FrameConfig | None = None,
    source: str = "",
    calibrate: bool = True,
    corruptions_per_reference: int = 8,
    seed: int = 0,
) -> tuple[ReferenceBank, list[tuple[str, str]]]:
    """Build a bank from (id, masks_by_organ) pairs; return (bank, [(id, error), ...] for skipped samples).

    With `calibrate`, the Dice calibration is fitted on synthetic corruptions of the bank's own masks.
    """
    frame = frame or FrameConfig()
    bank = ReferenceBank(
        ids=[],
        canonical=np.zeros((0, 4, frame.canonical_size, frame.canonical_size), dtype=np.uint8),
        split_lungs=np.zeros(0, dtype=bool),
        frame=frame,
        created=_now(),
    )
    bank, errors = add_to_bank(bank, samples, source=source, recalibrate=False)
    if calibrate and len(bank) >= 2:
        from .calibration import calibrate_bank

        calibrate_bank(bank, corruptions_per_reference=corruptions_per_reference, seed=seed)
    return bank, errors


def add_to_bank(
    bank: ReferenceBank,
    samples: Iterable[tuple[str, dict]],
    source: str = "",
    recalibrate: bool = False,
    corruptions_per_reference: int = 8,
    seed: int = 0,
) -> tuple[ReferenceBank, list[tuple[str, str]]]:
    """Add trusted mask sets (e.g. reviewer-accepted masks) to a bank; ids already present are replaced.

    Returns (bank, errors). Recalibrating refits the Dice calibration on the grown bank.
    """
    entries, split, ids, sources, errors = [], [], [], [], []
    for sample_id, masks in samples:
        try:
            canonical, has_split = canonical_entry(masks, bank.frame)
        except MaskInputError as exc:
            errors.append((str(sample_id), str(exc)))
            continue
        entries.append(canonical)
        split.append(has_split)
        ids.append(str(sample_id))
        sources.append(source)
    if entries:
        keep = ~np.isin(np.array(bank.ids, dtype=object), np.array(ids, dtype=object)) if bank.ids else None
        old_ids = [i for i, k in zip(bank.ids, keep, strict=False) if k] if keep is not None else []
        old_sources = [s for s, k in zip(bank.sources, keep, strict=False) if k] if keep is not None else []
        old_canonical = bank.canonical[keep] if keep is not None else bank.canonical
        old_split = bank.split_lungs[keep] if keep is not None else bank.split_lungs
        bank.ids = old_ids + ids
        bank.sources = old_sources + sources
        bank.canonical = np.concatenate([old_canonical, np.stack(entries)])
        bank.split_lungs = np.concatenate([old_split, np.array(split, dtype=bool)])
        bank._vectors = None
    if recalibrate and len(bank) >= 2:
        from .calibration import calibrate_bank

        calibrate_bank(bank, corruptions_per_reference=corruptions_per_reference, seed=seed)
    return bank, errors


def save_bank(bank: ReferenceBank, path: str | Path) -> Path:
    """Write the bank to `path` (a `.npz` file)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    meta = {
        "format_version": BANK_FORMAT_VERSION,
        "frame": {
            "working_size": bank.frame.working_size,
            "canonical_size": bank.frame.canonical_size,
            "margin": bank.frame.margin,
        },
        "sources": bank.sources,
        "calibration": bank.calibration,
        "created": bank.created,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        canonical=bank.canonical,
        ids=np.array(bank.ids, dtype=str),
        split_lungs=bank.split_lungs,
        meta=np.array(json.dumps(meta)),
    )
    return path


def load_bank(path: str | Path) -> ReferenceBank:
    """Read a bank written by `save_bank`; raise BankError if it is not a usable bank."""
    path = Path(path)
    if not path.exists() and path.with_suffix(".npz").exists():
        path = path.with_suffix(".npz")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            canonical = data["canonical"]
            ids = [str(i) for i in data["ids"]]
            split = data["split_lungs"].astype(bool)
    except (OSError, KeyError, ValueError) as exc:
        raise BankError(f"{path}: not a reference bank ({exc})") from exc
    if meta.get("format_version") != BANK_FORMAT_VERSION:
        raise BankError(f"{path}: bank format {meta.get('format_version')}, expected {BANK_FORMAT_VERSION}")
    frame = FrameConfig(**meta["frame"])
    if canonical.ndim != 4 or canonical.shape[1:] != (4, frame.canonical_size, frame.canonical_size):
        raise BankError(f"{path}: canonical masks have shape {canonical.shape}")
    return ReferenceBank(
        ids=ids,
        canonical=canonical,
        split_lungs=split,
        frame=frame,
        sources=list(meta.get("sources", [])),
        calibration=meta.get("calibration"),
        created=meta.get("created", ""),
    )


def masks_from_canonical(canonical: np.ndarray, split_lungs: bool, size: int) -> dict:
    """Bool organ masks on a size×size canvas from one canonical entry (used to corrupt bank entries)."""
    from scipy import ndimage

    g = canonical.shape[-1]
    fractions = canonical.astype(np.float32) / 255.0
    zoomed = ndimage.zoom(fractions, (1, size / g, size / g), order=1) > 0.5
    if split_lungs:
        return {"right_lung": zoomed[RIGHT], "left_lung": zoomed[LEFT], "heart": zoomed[HEART]}
    return {"lungs": zoomed[LUNGS], "heart": zoomed[HEART]}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
