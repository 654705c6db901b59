"""Mask preparation shared by checks, the bank and the estimate: a low-resolution working copy, the cleaned
organs (main components, holes filled) and a canonical frame normalised to the lungs' bounding box.

Everything downstream works on these small arrays, which is what keeps QC near a few milliseconds per mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

# Channels of the working and canonical arrays. Lungs are kept as their union too because many sources
# (U-Net label maps, some CheXmask consumers) only give both lungs as one region.
RIGHT, LEFT, HEART, LUNGS = 0, 1, 2, 3
CHANNELS = ("right_lung", "left_lung", "heart", "lungs")
ORGANS = ("right_lung", "left_lung", "heart", "right_clavicle", "left_clavicle")


class MaskInputError(ValueError):
    """Masks that cannot be assessed at all (no organ given, mismatched sizes)."""


@dataclass(frozen=True)
class FrameConfig:
    """Resolutions of the working copy and the canonical frame; changing them invalidates a bank."""

    working_size: int = 256  # longer side of the working copy
    canonical_size: int = 64  # side of the canonical frame
    margin: float = 0.12  # frame margin around the lungs' box, as a fraction of its height/width


@dataclass
class PreparedMask:
    """A mask set at working resolution plus its canonical-frame view."""

    shape: tuple[int, int]  # original grid
    working: np.ndarray  # (4, h, w) float32 area fractions: right, left, heart, lungs union
    has_split_lungs: bool  # right and left lungs given separately
    present: dict  # organ -> bool (non-empty in the input)
    clean: np.ndarray  # (4, h, w) bool: main components kept, holes filled
    components: dict  # channel name -> list of component areas (working px, descending)
    hole_area: dict  # channel name -> area of filled holes (working px)
    box: tuple[float, float, float, float] | None  # canonical frame in working px: y0, y1, x0, x1
    canonical: np.ndarray | None  # (4, G, G) float32 area fractions of the raw mask in the frame
    canonical_clean: np.ndarray | None  # (4, G, G) the same for the cleaned mask
    outside: np.ndarray | None  # (4,) raw area outside the frame, in canonical cells
    cell_area: float  # working px per canonical cell


def prepare(masks: dict, frame: FrameConfig = FrameConfig()) -> PreparedMask:
    """Prepare a dict of organ name -> 2-D bool mask (same grid) for checks and estimation.

    Accepts `right_lung`, `left_lung`, `heart` and optionally `lungs` (both lungs as one region);
    clavicles are accepted and ignored by the estimate.
    """
    arrays = {k: np.asarray(v) for k, v in masks.items() if v is not None}
    if not arrays:
        raise MaskInputError("no organ masks given")
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise MaskInputError(f"organ masks must be 2-D and share one grid, got {sorted(shapes)}")
    shape = next(iter(shapes))
    present = {k: bool(a.any()) for k, a in arrays.items()}
    has_split = "right_lung" in arrays or "left_lung" in arrays
    channels = []
    for name in ("right_lung", "left_lung", "heart"):
        channels.append(_downsample(arrays[name], shape, frame.working_size) if name in arrays else None)
    ref = next(c for c in channels if c is not None) if any(c is not None for c in channels) else None
    if "lungs" in arrays:
        lungs = _downsample(arrays["lungs"], shape, frame.working_size)
    elif has_split:
        parts = [c for c in channels[:2] if c is not None]
        lungs = np.clip(sum(parts), 0, 1)
    else:
        lungs = None
    ref = ref if ref is not None else lungs
    zeros = np.zeros_like(ref)
    working = np.stack([c if c is not None else zeros for c in channels] + [lungs if lungs is not None else zeros])
    working = working.astype(np.float32)
    clean, components, holes = _clean(working > 0.5, has_split)
    prepared = PreparedMask(
        shape=shape,
        working=working,
        has_split_lungs=has_split,
        present=present,
        clean=clean,
        components=components,
        hole_area=holes,
        box=None,
        canonical=None,
        canonical_clean=None,
        outside=None,
        cell_area=1.0,
    )
    box = lung_frame(clean[LUNGS], frame.margin)
    if box is not None:
        prepared.box = box
        g = frame.canonical_size
        prepared.cell_area = (box[1] - box[0]) * (box[3] - box[2]) / (g * g)
        both = to_canonical(np.concatenate([working, clean.astype(np.float32)]), box, g)
        prepared.canonical, prepared.canonical_clean = both[:4], both[4:]
        totals = working.sum(axis=(1, 2)) / prepared.cell_area
        prepared.outside = np.maximum(totals - prepared.canonical.sum(axis=(1, 2)), 0.0)
    return prepared


def lung_frame(lungs: np.ndarray, margin: float) -> tuple[float, float, float, float] | None:
    """The canonical frame: the lungs' bounding box grown by `margin` on each side (working px)."""
    rows = np.flatnonzero(lungs.any(axis=1))
    cols = np.flatnonzero(lungs.any(axis=0))
    if rows.size == 0:
        return None
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dy, dx = (y1 - y0) * margin, (x1 - x0) * margin
    return (y0 - dy, y1 + dy, x0 - dx, x1 + dx)


def to_canonical(fractions: np.ndarray, box, size: int) -> np.ndarray:
    """Area-resample (C, h, w) fractions inside `box` onto a size×size grid (exact box integrals)."""
    c, h, w = fractions.shape
    integral = np.zeros((c, h + 1, w + 1), dtype=np.float32)
    integral[:, 1:, 1:] = fractions.cumsum(axis=1).cumsum(axis=2)
    ys = np.clip(np.linspace(box[0], box[1], size + 1), 0, h)
    xs = np.clip(np.linspace(box[2], box[3], size + 1), 0, w)
    # The integral image is piecewise bilinear between pixel corners, so interpolating it is exact.
    along_y = _interp_axis(integral, ys, axis=1)
    both = _interp_axis(along_y, xs, axis=2)
    sums = np.diff(np.diff(both, axis=1), axis=2)
    cell = (box[1] - box[0]) * (box[3] - box[2]) / (size * size)
    return (sums / cell).astype(np.float32)


def _interp_axis(values: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    n = values.shape[axis]
    lo = np.clip(np.floor(positions).astype(int), 0, n - 2)
    frac = positions - lo
    a = np.take(values, lo, axis=axis)
    b = np.take(values, lo + 1, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return a * (1 - frac) + b * frac


def _downsample(mask: np.ndarray, shape, working_size: int) -> np.ndarray:
    h, w = shape
    factor = max(h, w) / working_size
    m = np.asarray(mask, dtype=bool)
    if factor <= 1:
        return m.astype(np.float32)
    # PIL's box filter on uint8 is several times faster than a numpy block mean; 1/255 steps are plenty.
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    img = Image.fromarray(m.view(np.uint8) * np.uint8(255))
    return np.asarray(img.resize(size, Image.BOX), dtype=np.float32) / 255.0


def _clean(binary: np.ndarray, has_split: bool):
    """Keep the main components per organ and fill holes; report component and hole areas."""
    clean = np.zeros_like(binary)
    components: dict = {}
    holes: dict = {}
    # A lung channel keeps one component, the union keeps two (right and left) when the second is sizeable.
    keep = {RIGHT: 1, LEFT: 1, HEART: 1, LUNGS: 2}
    for ch, name in enumerate(CHANNELS):
        labels, n = ndimage.label(binary[ch])
        if n == 0:
            components[name] = []
            holes[name] = 0
            continue
        areas = np.bincount(labels.ravel())[1:]
        order = np.argsort(areas)[::-1]
        components[name] = areas[order].tolist()
        kept = [order[0]]
        if keep[ch] == 2 and n > 1 and areas[order[1]] >= 0.2 * areas[order[0]]:
            kept.append(order[1])
        main = np.isin(labels, np.array(kept) + 1)
        filled = ndimage.binary_fill_holes(main)
        holes[name] = int(filled.sum() - main.sum())
        clean[ch] = filled
    return clean, components, holes


def soft_dice(a: np.ndarray, b: np.ndarray, extra_a: float = 0.0, extra_b: float = 0.0) -> float:
    """Dice of two area-fraction maps using min() as overlap; `extra_*` is area outside the shared grid."""
    inter = float(np.minimum(a, b).sum())
    denom = float(a.sum() + b.sum() + extra_a + extra_b)
    return 2 * inter / denom if denom > 0 else 1.0
