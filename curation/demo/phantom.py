"""Chest-like phantom radiographs with known lung and heart masks, for demo and test data.

Images are drawn in normalised coordinates (0..1 in both directions) so every size looks alike; values
follow the MONOCHROME2 convention (dense structures bright) on a 12-bit scale.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

MAX_VALUE = 4095
ORGANS = ("right_lung", "left_lung", "heart")
SIDES = ("right", "left")
DEVICES = ("ett", "central_line", "ng_tube", "pacemaker", "sternal_wires")

# Fluid height above the costophrenic angle, as a fraction of image height.
_EFFUSION_HEIGHT = {"small": 0.05, "moderate": 0.13, "large": 0.26}
# Width of the pleural air rim, as a fraction of the hemithorax width.
_PNEUMOTHORAX_RIM = {"small": 0.12, "moderate": 0.25, "large": 0.4}
# Half widths as a fraction of the image: a normal cardiothoracic ratio is about 0.45 (real reference masks
# give a heart/lungs area ratio of 0.19-0.81), cardiomegaly pushes it past 0.5.
_HEART_HALF_WIDTH = {False: 0.16, "mild": 0.185, "moderate": 0.205, "severe": 0.225}
_ZONE_Y = {"upper": 0.3, "mid": 0.47, "lower": 0.62}


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    return y / max(rows - 1, 1), x / max(cols - 1, 1)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="reflect")
    return noise / (noise.std() + 1e-6)


def _lung_side_x(side: str) -> float:
    # Patient's right lung appears on the image LEFT in a PA projection.
    return 0.31 if side == "right" else 0.69


def _diaphragm_y(x: np.ndarray) -> np.ndarray:
    # Two domes; the right hemidiaphragm sits a little higher because of the liver.
    right = 0.74 - 0.07 * np.exp(-(((x - 0.31) / 0.12) ** 2))
    left = 0.77 - 0.07 * np.exp(-(((x - 0.69) / 0.12) ** 2))
    return np.where(x < 0.5, right, left)


def _lung_field(y: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    cx = _lung_side_x(side)
    # A tall ellipse leaning outward at the base, cut by the diaphragm and the mediastinum.
    lean = (y - 0.2) * (0.05 if side == "left" else -0.05)
    inside = ((x - cx - lean) / 0.17) ** 2 + ((y - 0.47) / 0.34) ** 2 <= 1.0
    medial = x <= 0.455 if side == "right" else x >= 0.545
    return inside & medial & (y < _diaphragm_y(x)) & (y > 0.12)


def _heart(y: np.ndarray, x: np.ndarray, cardiomegaly: bool | str) -> np.ndarray:
    half_width = _HEART_HALF_WIDTH[cardiomegaly if cardiomegaly in _HEART_HALF_WIDTH else "moderate"]
    # Most of the heart projects to the patient's left (image right).
    cx = 0.5 + 0.3 * half_width
    half_height = 0.13 + 0.3 * (half_width - 0.16)
    tilted = (x - cx) * 0.94 - (y - 0.6) * 0.34
    return (tilted / half_width) ** 2 + ((y - 0.62) / half_height) ** 2 <= 1.0


def _ribs(y: np.ndarray, x: np.ndarray, thorax: np.ndarray, rows: int) -> np.ndarray:
    ribs = np.zeros_like(y)
    thickness = max(0.012, 1.2 / rows)
    for i in range(10):
        y0 = 0.16 + i * 0.062
        for side in SIDES:
            cx = 0.5
            dx = np.abs(x - cx)
            # Posterior ribs run down and out from the spine as shallow arcs.
            centre = y0 - 0.03 + 1.2 * dx**2 - 0.25 * np.clip(dx - 0.3, 0, None)
            band = np.exp(-(((y - centre) / thickness) ** 2))
            lateral = (x < 0.5) if side == "right" else (x >= 0.5)
            ribs += band * lateral
    return ribs * thorax


def _line(image: np.ndarray, points: list[tuple[float, float]], width_px: float, value: float) -> None:
    rows, cols = image.shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    best = np.full(image.shape, np.inf, dtype=np.float32)
    for (y0, x0), (y1, x1) in zip(points, points[1:], strict=False):
        p0 = np.array([y0 * (rows - 1), x0 * (cols - 1)], dtype=np.float32)
        p1 = np.array([y1 * (rows - 1), x1 * (cols - 1)], dtype=np.float32)
        d = p1 - p0
        t = np.clip(((y - p0[0]) * d[0] + (x - p0[1]) * d[1]) / max(float(d @ d), 1e-6), 0, 1)
        dist = np.hypot(y - (p0[0] + t * d[0]), x - (p0[1] + t * d[1]))
        best = np.minimum(best, dist)
    image[:] = np.maximum(image, value * np.clip(1.0 - best / max(width_px, 0.6) + 0.5, 0, 1))


def _render_devices(image: np.ndarray, devices: Iterable[str]) -> None:
    rows, _ = image.shape
    width = max(0.8, rows / 200)
    for device in devices:
        if device == "ett":
            _line(image, [(0.0, 0.5), (0.2, 0.5), (0.27, 0.502)], width * 1.6, 0.95)
        elif device == "ng_tube":
            _line(image, [(0.0, 0.48), (0.3, 0.485), (0.6, 0.5), (0.85, 0.62)], width, 0.92)
        elif device == "central_line":
            # Right internal jugular catheter ending near the cavoatrial junction.
            _line(image, [(0.02, 0.4), (0.18, 0.43), (0.3, 0.46), (0.42, 0.47)], width, 0.93)
        elif device == "pacemaker":
            y, x = _grid(*image.shape)
            box = (np.abs(x - 0.8) < 0.06) & (np.abs(y - 0.2) < 0.04)
            image[box] = 0.98
            _line(image, [(0.2, 0.75), (0.35, 0.6), (0.55, 0.55), (0.68, 0.58)], width, 0.95)
        elif device == "sternal_wires":
            for i in range(4):
                cy = 0.3 + i * 0.07
                _line(image, [(cy, 0.49), (cy + 0.012, 0.51)], width * 2, 0.97)
        else:
            raise ValueError(f"unknown device {device!r}")


def chest_phantom(
    rows: int,
    cols: int,
    rng: np.random.Generator,
    *,
    cardiomegaly: bool | str = False,
    effusion_side: str | None = None,
    pneumothorax_side: str | None = None,
    opacity: tuple[str, str] | None = None,
    devices: Iterable[str] = (),
    effusion_size: str = "moderate",
    pneumothorax_size: str = "small",
    edema: bool = False,
    nodule: tuple[str, str] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw a frontal (PA/AP) chest radiograph phantom and return it with its true masks.

    Sides are the patient's: 'right' is drawn on the image left. `cardiomegaly` is False or a severity
    ('mild', 'moderate', 'severe'; True means 'moderate'); `effusion_side` / `pneumothorax_side` are
    'right', 'left' or 'bilateral'; `opacity` and `nodule` are (side, zone) with zone 'upper', 'mid' or
    'lower'. Returns a uint16 image in 0..4095 (MONOCHROME2 sense) and boolean masks for 'right_lung',
    'left_lung' and 'heart'. The lung masks show the aerated lung, so pleural fluid and pleural air are
    not part of them; the heart overlaps the medial lungs as it does on a real radiograph.
    """
    y, x = _grid(rows, cols)
    background = 0.04
    # A rounded box: shoulders at the top, the body running off the bottom edge.
    body = ((x - 0.5) / 0.47) ** 4 + ((y - 0.68) / 0.62) ** 4 <= 1.0
    body_soft = ndimage.gaussian_filter(body.astype(np.float32), max(rows, cols) / 150)
    image = background + 0.4 * body_soft

    # Shoulders and upper-arm soft tissue make the top corners denser than the lung apices.
    shoulders = np.exp(-(((y - 0.08) / 0.1) ** 2)) * (np.abs(x - 0.5) > 0.2)
    image += 0.12 * shoulders * body_soft

    fields = {side: _lung_field(y, x, side) for side in SIDES}
    heart = _heart(y, x, cardiomegaly)
    spine = np.abs(x - 0.5) < 0.045
    mediastinum = (np.abs(x - 0.5) < 0.075) & (y < 0.62)

    lungs = fields["right"] | fields["left"]
    lung_soft = ndimage.gaussian_filter(lungs.astype(np.float32), max(rows, cols) / 220)
    # Vascular markings: branching-looking texture, brighter near the hila and fading outward.
    hilum_distance = np.minimum(np.hypot(x - 0.4, y - 0.45), np.hypot(x - 0.6, y - 0.45))
    markings = np.clip(_smooth_noise(rng, (rows, cols), max(rows, cols) / 120), 0, None)
    markings *= np.exp(-hilum_distance / 0.18)
    image -= 0.3 * lung_soft
    image += 0.06 * markings * lung_soft

    image += 0.22 * ndimage.gaussian_filter(mediastinum.astype(np.float32), max(rows, cols) / 160)
    image += 0.22 * ndimage.gaussian_filter(heart.astype(np.float32), max(rows, cols) / 200)
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * y * 14)
    image += (0.18 + 0.05 * vertebrae) * ndimage.gaussian_filter(spine.astype(np.float32), 1.0) * body

    thorax = (y > 0.12) & (y < 0.82) & (np.abs(x - 0.5) < 0.42)
    image += 0.1 * _ribs(y, x, thorax, rows)
    for side in SIDES:
        # Clavicles: slightly oblique bright bands over the apices.
        sign = -1 if side == "right" else 1
        centre = 0.14 + 0.12 * np.abs(x - 0.5)
        clavicle = (np.abs(y - centre) < 0.015) & (np.abs(x - 0.5 - sign * 0.17) < 0.15)
        image += 0.1 * ndimage.gaussian_filter(clavicle.astype(np.float32), 1.0)

    if edema:
        # Perihilar haze with indistinct vessels.
        haze = np.exp(-hilum_distance / 0.12) * lung_soft
        image += 0.12 * haze

    aerated = {side: fields[side].copy() for side in SIDES}
    for side in _expand(effusion_side):
        lateral = np.clip((np.abs(x - 0.5) - 0.1) / 0.35, 0, 1)
        # Meniscus: fluid climbs higher along the lateral chest wall, blunting the costophrenic angle.
        level = _diaphragm_y(x) - _EFFUSION_HEIGHT[effusion_size] - 0.09 * lateral**2
        fluid = fields[side] & (y > level)
        image += 0.3 * ndimage.gaussian_filter(fluid.astype(np.float32), 1.0)
        aerated[side] &= ~fluid

    for side in _expand(pneumothorax_side):
        sx = _lung_side_x(side)
        field = fields[side]
        distance_to_wall = ndimage.distance_transform_edt(field) / max(rows, cols)
        rim = field & (distance_to_wall < _PNEUMOTHORAX_RIM[pneumothorax_size] * 0.17) & (y < 0.6)
        rim &= np.abs(x - 0.5) > np.abs(sx - 0.5) - 0.05
        # Pleural air has no vascular markings; the visceral pleural line is a thin bright edge.
        image[rim] = background + 0.4 * body_soft[rim] - 0.33
        image[ndimage.binary_dilation(rim) & ~rim & field] += 0.08
        aerated[side] &= ~rim

    if opacity is not None:
        side, zone = opacity
        blob = _blob(y, x, _lung_side_x(side), _ZONE_Y[zone], 0.09, 0.07)
        image += 0.28 * blob * lung_soft * _smooth_noise_positive(rng, (rows, cols), max(rows, cols) / 60)

    if nodule is not None:
        side, zone = nodule
        cx = _lung_side_x(side) + (0.04 if side == "left" else -0.04)
        image += 0.3 * _blob(y, x, cx, _ZONE_Y[zone], 0.025, 0.025)

    image = ndimage.gaussian_filter(image, 0.6)
    _render_devices(image, devices)
    image += 0.012 * rng.standard_normal(image.shape).astype(np.float32)
    pixels = np.clip(image, 0.0, 1.0) * MAX_VALUE

    masks = {
        "right_lung": aerated["right"] & ~_shrink(heart),
        "left_lung": aerated["left"] & ~_shrink(heart),
        "heart": heart,
    }
    return np.rint(pixels).astype(np.uint16), masks


def lateral_phantom(
    rows: int,
    cols: int,
    rng: np.random.Generator,
    *,
    cardiomegaly: bool | str = False,
    effusion: bool = False,
) -> np.ndarray:
    """Draw a left lateral chest phantom (anterior on the image left); no masks are defined for it."""
    y, x = _grid(rows, cols)
    body = ((x - 0.5) / 0.42) ** 2 + ((y - 0.6) / 0.6) ** 2 <= 1.0
    body_soft = ndimage.gaussian_filter(body.astype(np.float32), max(rows, cols) / 150)
    image = 0.04 + 0.42 * body_soft
    lung = (((x - 0.52) / 0.28) ** 2 + ((y - 0.47) / 0.33) ** 2 <= 1.0) & (y < 0.78 - 0.1 * (x - 0.5))
    image -= 0.28 * ndimage.gaussian_filter(lung.astype(np.float32), max(rows, cols) / 220)
    half_width = _HEART_HALF_WIDTH[cardiomegaly if cardiomegaly in _HEART_HALF_WIDTH else "moderate"]
    heart = ((x - 0.38) / (half_width * 1.2)) ** 2 + ((y - 0.62) / 0.13) ** 2 <= 1.0
    image += 0.18 * ndimage.gaussian_filter(heart.astype(np.float32), 2.0)
    spine = np.abs(x - (0.78 - 0.05 * (y - 0.5))) < 0.05
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * y * 14)
    image += (0.2 + 0.08 * vertebrae) * spine * body
    if effusion:
        # Fluid collects in the posterior costophrenic sulcus.
        fluid = (y > 0.7 - 0.15 * np.clip(x - 0.6, 0, None)) & (x > 0.55) & lung
        image += 0.2 * ndimage.gaussian_filter(fluid.astype(np.float32), 1.5)
    image += 0.04 * np.clip(_smooth_noise(rng, (rows, cols), max(rows, cols) / 100), 0, None) * lung
    image = ndimage.gaussian_filter(image, 0.6)
    image += 0.012 * rng.standard_normal(image.shape).astype(np.float32)
    return np.rint(np.clip(image, 0.0, 1.0) * MAX_VALUE).astype(np.uint16)


def _expand(side: str | None) -> tuple[str, ...]:
    if side is None:
        return ()
    if side == "bilateral":
        return SIDES
    if side not in SIDES:
        raise ValueError(f"unknown side {side!r}")
    return (side,)


def _blob(y: np.ndarray, x: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2))


def _smooth_noise_positive(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    return np.clip(0.8 + 0.4 * _smooth_noise(rng, shape, sigma), 0.2, 1.6)


def _shrink(mask: np.ndarray) -> np.ndarray:
    # Lung masks stop a little inside the heart border, leaving the thin overlap seen in reference masks
    # (a few per cent of the heart's area).
    return ndimage.binary_erosion(mask, iterations=max(1, mask.shape[0] // 256))
