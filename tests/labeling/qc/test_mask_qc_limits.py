"""Mask inputs that claim huge sizes are refused before anything is allocated, and CheXmask rows published
without Height/Width are read on CheXmask's 1024² grid and flagged."""

import csv
import io

import numpy as np
import pytest
from conftest import plausible_masks
from PIL import Image

from labeling.qc.cli import qc_chexmask_csv
from labeling.qc.io import (
    SIZE_INFERRED_FLAG,
    ChexmaskRow,
    RowError,
    image_to_square,
    read_chexmask_csv,
    read_coco,
    read_label_png,
    read_organ_pngs,
    square_to_image,
)
from labeling.qc.rle import RleError, decode_chexmask_rle, decode_coco_rle, encode_chexmask_rle
from tests.bad_inputs import coco_rle_claim, huge_png


def _csv(header, rows):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    out.seek(0)
    return out


def test_chexmask_rle_over_the_pixel_limit_is_refused_before_decoding():
    with pytest.raises(RleError) as caught:
        decode_chexmask_rle("1 5", 200000, 200000, max_pixels=50_000_000)
    assert str(caught.value) == "mask size 200000x200000 (40000 megapixels) is over the limit of 50 megapixels"


def test_coco_rle_over_the_pixel_limit_is_refused_before_its_counts_are_read():
    with pytest.raises(RleError) as caught:
        decode_coco_rle(coco_rle_claim(100000, 100000), max_pixels=50_000_000)
    assert str(caught.value) == "mask size 100000x100000 (10000 megapixels) is over the limit of 50 megapixels"


def test_chexmask_rle_decodes_long_rle_text_through_numpy():
    # Given a 1024² mask whose RLE text is longer than the short-text path (many small runs)
    mask = np.zeros((1024, 1024), dtype=bool)
    mask[::2, ::3] = True
    rle = encode_chexmask_rle(mask)
    assert len(rle) > 1 << 16
    # Then it decodes to the same mask, and a bad token in it is named
    assert np.array_equal(decode_chexmask_rle(rle, 1024, 1024), mask)
    with pytest.raises(RleError, match="RLE value '1x' is not an integer"):
        decode_chexmask_rle("1x " + rle, 1024, 1024)


def test_chexmask_csv_rows_over_the_limit_are_errors_and_the_others_are_read():
    # Given a CheXmask CSV with a row claiming 200000x200000 between two valid rows
    heart = np.zeros((6, 8), dtype=bool)
    heart[2:5, 2:6] = True
    rle = encode_chexmask_rle(heart)
    rows = [["a", rle, 6, 8], ["huge", "1 5", 200000, 200000], ["b", rle, 6, 8]]
    # When it is read with the default 50 MP limit
    results = list(read_chexmask_csv(_csv(["ImageID", "Heart", "Height", "Width"], rows)))
    # Then the huge row is an error and both others are masks
    assert [type(r).__name__ for r in results] == ["ChexmaskRow", "RowError", "ChexmaskRow"]
    assert results[1] == RowError(
        2, "huge", "mask size 200000x200000 (40000 megapixels) is over the limit of 50 megapixels"
    )


def test_chexmask_rows_with_blank_size_are_read_on_the_1024_grid_and_flagged():
    # Given CheXmask rows as published: two with blank Height/Width, one of them reaching past 1024²,
    # one with only Width blank, and one with a size
    mask = np.zeros((1024, 1024), dtype=bool)
    mask[300:700, 200:500] = True
    rle = encode_chexmask_rle(mask)
    rows = [
        ["blank", rle, "", ""],
        ["too-long", f"{1024 * 1024 - 2} 10", "", ""],
        ["half", rle, 1024, ""],
        ["sized", rle, 1024, 1024],
    ]
    # When they are read
    blank, too_long, half, sized = list(read_chexmask_csv(_csv(["ImageID", "Heart", "Height", "Width"], rows)))
    # Then the blank row is a 1024² mask marked as inferred, the sized one is not
    assert isinstance(blank, ChexmaskRow)
    assert (blank.height, blank.width, blank.size_inferred) == (1024, 1024, True)
    assert np.array_equal(blank.masks["heart"], mask)
    assert (sized.height, sized.width, sized.size_inferred) == (1024, 1024, False)
    # And an RLE past the grid, or one size missing, are row errors
    assert too_long.message == (
        "Height/Width are blank and the RLE reaches pixel 1048583, past CheXmask's 1024x1024 grid"
    )
    assert half.message == "Height/Width '1024'x'' not integers"


def test_blank_size_row_is_mapped_onto_a_known_image_size():
    # Given a mask on the padded 1024² grid of a 200x100 image, in a row without Height/Width
    image = np.zeros((200, 100), dtype=bool)
    image[50:150, 20:80] = True
    rle = encode_chexmask_rle(image_to_square(image))
    source = _csv(["ImageID", "Heart", "Height", "Width"], [["a", rle, "", ""]])
    # When it is read knowing the image's size
    (row,) = list(read_chexmask_csv(source, {"a": (200, 100)}))
    # Then the mask is on the image grid, and the size is still recorded as inferred
    assert (row.height, row.width, row.size_inferred) == (200, 100, True)
    assert np.array_equal(row.masks["heart"], image)


def test_square_to_image_picks_the_same_pixels_as_a_full_nearest_resize():
    # The mapping no longer builds the side² square; it must pick exactly the pixels the resize did.
    rng = np.random.default_rng(3)
    grid = rng.random((1024, 1024)) > 0.5
    for height, width in [(2048, 2500), (3000, 2000), (200, 100), (1777, 3333)]:
        side = max(height, width)
        square = np.asarray(Image.fromarray(grid.astype(np.uint8) * 255).resize((side, side), Image.NEAREST)) > 127
        top, left = (side - height) // 2, (side - width) // 2
        assert np.array_equal(square_to_image(grid, height, width), square[top : top + height, left : left + width])


def test_label_and_organ_pngs_over_the_limit_are_refused_from_their_header(tmp_path):
    # Given a 20000² label PNG (a few hundred kilobytes on disk, 400 MB decoded)
    path = huge_png(tmp_path / "huge.png", 20000, 20000)
    # Then reading it as labels or as an organ mask fails with the size, without decoding
    with pytest.raises(RleError) as caught:
        read_label_png(path)
    assert str(caught.value) == "mask size 20000x20000 (400 megapixels) is over the limit of 50 megapixels"
    with pytest.raises(RleError, match="over the limit of 50 megapixels"):
        read_organ_pngs({"heart": path})
    # And a small limit applies to small files too
    small = huge_png(tmp_path / "small.png", 30, 20)
    with pytest.raises(RleError, match="mask size 20x30 \\(600 pixels\\) is over the limit of 100 pixels"):
        read_label_png(small, max_pixels=100)
    assert read_label_png(small)["heart"].shape == (20, 30)


def test_coco_images_over_the_limit_are_errors_and_the_others_are_decoded():
    # Given a COCO file whose second image claims 100000² for an RLE and third for a polygon
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 10, "width": 10},
            {"id": 2, "file_name": "b.png", "height": 100000, "width": 100000},
            {"id": 3, "file_name": "c.png", "height": 100000, "width": 100000},
            {"id": 4, "file_name": "d.png", "height": "tall", "width": 10},
        ],
        "categories": [{"id": 3, "name": "Heart"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]]},
            {"id": 2, "image_id": 2, "category_id": 3, "segmentation": coco_rle_claim(100000, 100000)},
            {"id": 3, "image_id": 3, "category_id": 3, "segmentation": [[2, 2, 6, 2, 6, 6]]},
        ],
    }
    # When it is read
    result = read_coco(data)
    # Then only the small image has a mask, and each other image says why
    assert int(result[1]["masks"]["heart"].sum()) == 25
    too_large = "mask size 100000x100000 (10000 megapixels) is over the limit of 50 megapixels"
    assert (result[2]["masks"], result[2]["errors"]) == ({}, [too_large])
    assert (result[3]["masks"], result[3]["errors"]) == ({}, [too_large])
    assert result[4]["errors"] == ["image height/width 'tall'x10 are not integers"]


def test_qc_csv_has_every_input_row_with_inferred_sizes_flagged(tmp_path, bank):
    # Given a CheXmask CSV: a plausible mask set on the 1024² grid with blank Height/Width, the same with a
    # size, a row claiming 200000², and an unreadable RLE
    masks = plausible_masks(size=1024)
    rles = {organ: encode_chexmask_rle(m) for organ, m in masks.items()}
    header = ["ImageID", "Right Lung", "Left Lung", "Heart", "Height", "Width"]
    body = [
        ["inferred", rles["right_lung"], rles["left_lung"], rles["heart"], "", ""],
        ["sized", rles["right_lung"], rles["left_lung"], rles["heart"], 1024, 1024],
        ["huge", "1 5", "1 5", "1 5", 200000, 200000],
        ["broken", "1 x", "", "", 1024, 1024],
    ]
    source = tmp_path / "masks.csv"
    with source.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    # When QC runs
    summary = qc_chexmask_csv(source, bank, tmp_path / "qc.csv")
    # Then every row is in qc.csv, in order, with the original columns
    with (tmp_path / "qc.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "image_id",
        "estimated_dice",
        "estimated_dice_lungs",
        "estimated_dice_heart",
        "decision",
        "flags",
    ]
    assert [r["image_id"] for r in rows] == ["inferred", "sized", "huge", "broken"]
    assert summary["rows"] == 4 and summary["error"] == 2
    # And the inferred row is judged like the sized one, with the inferred size flagged
    assert rows[0]["estimated_dice"] == rows[1]["estimated_dice"] != ""
    assert rows[0]["decision"] == rows[1]["decision"] != "error"
    assert rows[0]["flags"].split("; ")[0] == SIZE_INFERRED_FLAG
    assert SIZE_INFERRED_FLAG not in rows[1]["flags"]
    # And the bad rows are errors with their reasons
    assert (rows[2]["decision"], rows[2]["flags"]) == (
        "error",
        "error: row 3: mask size 200000x200000 (40000 megapixels) is over the limit of 50 megapixels",
    )
    assert (rows[3]["decision"], rows[3]["flags"]) == (
        "error",
        "error: row 4: Right Lung: RLE value 'x' is not an integer",
    )
