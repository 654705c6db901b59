import io
import json

import numpy as np

from labeling.qc.io import (
    ChexmaskRow,
    RowError,
    image_to_square,
    read_chexmask_csv,
    read_coco,
    read_label_png,
    read_organ_pngs,
    square_to_image,
    write_chexmask_csv,
    write_coco,
    write_label_png,
    write_organ_pngs,
)
from labeling.qc.rle import encode_chexmask_rle


def _masks():
    right = np.zeros((6, 8), dtype=bool)
    right[1:5, 1:3] = True
    left = np.zeros((6, 8), dtype=bool)
    left[1:5, 5:7] = True
    heart = np.zeros((6, 8), dtype=bool)
    heart[3:6, 2:6] = True  # overlaps both lungs: CheXmask organs may overlap
    return {"right_lung": right, "left_lung": left, "heart": heart}


def _csv(header, rows):
    out = io.StringIO()
    out.write(",".join(f'"{h}"' for h in header) + "\n")
    for r in rows:
        out.write(",".join(f'"{v}"' for v in r) + "\n")
    out.seek(0)
    return out


def test_chexmask_csv_columns_found_by_name_in_any_order():
    m = _masks()
    rle = {k: encode_chexmask_rle(v) for k, v in m.items()}
    header = ["Heart", "Dice RCA (Max)", "Width", "dicom_id", "Right Lung", "Height", "Dice RCA (Mean)", "Left Lung"]
    row = [rle["heart"], "0.91", 8, "abc", rle["right_lung"], 6, "0.85", rle["left_lung"]]
    (result,) = list(read_chexmask_csv(_csv(header, [row])))
    assert isinstance(result, ChexmaskRow)
    assert (result.image_id, result.height, result.width, result.rca_mean, result.rca_max) == ("abc", 6, 8, 0.85, 0.91)
    assert all(np.array_equal(result.masks[k], m[k]) for k in m)


def test_chexmask_csv_accepts_each_id_column_name():
    rle = encode_chexmask_rle(_masks()["heart"])
    ids = []
    for column in ("ImageID", "Path", "Image Index", "dicom_id", "image_id"):
        (result,) = list(read_chexmask_csv(_csv([column, "Heart", "Height", "Width"], [["x1", rle, 6, 8]])))
        ids.append(result.image_id)
    assert ids == ["x1"] * 5


def test_chexmask_csv_bad_rows_are_errors_and_the_rest_is_read():
    rle = encode_chexmask_rle(_masks()["heart"])
    rows = [["a", rle, 6, 8], ["b", "1 2 3", 6, 8], ["c", "", 6, 8], ["d", "40 20", 6, 8], ["e", rle, 6, 8]]
    results = list(read_chexmask_csv(_csv(["ImageID", "Heart", "Height", "Width"], rows)))
    assert [type(r).__name__ for r in results] == ["ChexmaskRow", "RowError", "RowError", "RowError", "ChexmaskRow"]
    assert results[1].message == "Heart: RLE has an odd number of values (3); expected start/length pairs"
    assert results[2].message == "all organ masks are empty"
    assert results[3].message == "Heart: RLE run at 40 of length 20 overflows a 6x8 mask"


def test_chexmask_csv_without_organ_columns_gives_an_error_per_row():
    results = list(read_chexmask_csv(_csv(["ImageID", "Height", "Width"], [["a", 6, 8], ["b", 6, 8]])))
    assert [(r.row_number, r.image_id) for r in results] == [(1, "a"), (2, "b")]
    assert all(isinstance(r, RowError) for r in results)
    assert results[0].message == "CSV has no organ columns (expected Right Lung, Left Lung, Heart)"


def test_chexmask_csv_size_mismatch_with_image_is_a_row_error():
    rle = encode_chexmask_rle(_masks()["heart"])
    (result,) = list(
        read_chexmask_csv(_csv(["ImageID", "Heart", "Height", "Width"], [["a", rle, 6, 8]]), {"a": (5, 8)})
    )
    assert isinstance(result, RowError)
    assert result.message == "mask size 6x8 does not match image 5x8 and is not CheXmask's 1024² grid"


def test_chexmask_csv_maps_1024_grid_onto_image():
    image = np.zeros((200, 100), dtype=bool)
    image[50:150, 20:80] = True
    square = image_to_square(image)
    rle = encode_chexmask_rle(square)
    source = _csv(["ImageID", "Heart", "Height", "Width"], [["a", rle, 1024, 1024]])
    (result,) = list(read_chexmask_csv(source, {"a": (200, 100)}))
    assert (result.height, result.width) == (200, 100)
    assert np.array_equal(result.masks["heart"], image)


def test_grid_mapping_pads_to_centred_square():
    image = np.zeros((4, 2), dtype=bool)
    image[:, 0] = True
    square = image_to_square(image, size=8)
    # 4x2 padded to 4x4 with one column each side, then scaled by 2: the column lands at x 2..3
    assert square.any(axis=0).nonzero()[0].tolist() == [2, 3]
    assert np.array_equal(square_to_image(square, 4, 2), image)


def test_chexmask_csv_write_read_round_trip(tmp_path):
    m = _masks()
    path = tmp_path / "out.csv"
    write_chexmask_csv([ChexmaskRow(1, "img", 6, 8, m, 0.8, None)], path)
    (result,) = list(read_chexmask_csv(path))
    assert (result.image_id, result.rca_mean, result.rca_max) == ("img", 0.8, None)
    assert all(np.array_equal(result.masks[k], m[k]) for k in m)


def test_label_png_bitwise_round_trip_keeps_overlap(tmp_path):
    m = _masks()
    write_label_png(m, tmp_path / "bits.png")
    back = read_label_png(tmp_path / "bits.png")
    assert all(np.array_equal(back[k], m[k]) for k in m)


def test_label_png_value_mapping(tmp_path):
    labels = {"lungs": _masks()["right_lung"], "heart": _masks()["left_lung"]}
    write_label_png(labels, tmp_path / "lab.png", {1: "lungs", 2: "heart"})
    back = read_label_png(tmp_path / "lab.png", {1: "lungs", 2: "heart"})
    assert (back["lungs"].sum(), back["heart"].sum()) == (8, 8)


def test_organ_pngs_round_trip(tmp_path):
    m = _masks()
    paths = write_organ_pngs(m, tmp_path, "img")
    back = read_organ_pngs(paths)
    assert sorted(p.name for p in paths.values()) == ["img_heart.png", "img_left_lung.png", "img_right_lung.png"]
    assert all(np.array_equal(back[k], m[k]) for k in m)


def test_coco_rle_round_trip_through_json():
    m = _masks()
    data = json.loads(json.dumps(write_coco([(7, "img.png", m)])))
    back = read_coco(data)[7]
    assert back["errors"] == []
    assert all(np.array_equal(back["masks"][k], m[k]) for k in m)


def test_coco_polygons_and_bad_annotation():
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 10, "width": 10}],
        "categories": [{"id": 3, "name": "Heart"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]]},
            {"id": 2, "image_id": 1, "category_id": 3, "segmentation": {"size": [10, 10], "counts": [5]}},
        ],
    }
    result = read_coco(data)[1]
    assert int(result["masks"]["heart"].sum()) == 25
    assert result["errors"] == ["annotation 2: COCO RLE counts sum to 5, expected 10x10=100"]
