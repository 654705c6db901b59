"""Synthetic lung/heart masks (ellipses) for the mask QC tests; no reference data from outside the repo."""

import numpy as np
import pytest

from labeling.qc.bank import build_bank


def ellipse(shape, cy, cx, ry, rx):
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def plausible_masks(size=256, jitter=0.0):
    """Right lung (image left), left lung (image right), heart low between them, CTR about 0.5."""
    s = size / 256
    j = 1 + jitter
    right = ellipse((size, size), 120 * s, 78 * s * j, 80 * s, 38 * s)
    left = ellipse((size, size), 115 * s, 178 * s, 78 * s * j, 36 * s)
    heart = ellipse((size, size), 170 * s, 135 * s, 32 * s, 48 * s * j)
    right &= ~heart
    left &= ~heart
    return {"right_lung": right, "left_lung": left, "heart": heart}


@pytest.fixture(scope="session")
def bank():
    samples = [(f"ref{i}", plausible_masks(jitter=j)) for i, j in enumerate((-0.06, -0.03, 0.0, 0.03, 0.06))]
    built, errors = build_bank(samples, calibrate=True, corruptions_per_reference=3, seed=1)
    assert errors == []
    return built
