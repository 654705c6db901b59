import numpy as np
import pytest

from labeling.qc.rle import RleError, decode_chexmask_rle, decode_coco_rle, encode_chexmask_rle, encode_coco_rle


def test_chexmask_rle_round_trip():
    # Given a mask with runs crossing row ends and touching both corners
    mask = np.zeros((4, 5), dtype=bool)
    mask[0, 0] = True
    mask[1, 3:] = True
    mask[2, :2] = True
    mask[3, 4] = True
    # When it is encoded and decoded
    rle = encode_chexmask_rle(mask)
    # Then the encoding is 1-based row-major pairs and decodes to the same mask
    assert rle == "1 1 9 4 20 1"
    assert np.array_equal(decode_chexmask_rle(rle, 4, 5), mask)


def test_chexmask_rle_empty_string_is_empty_mask():
    assert decode_chexmask_rle("", 3, 3).sum() == 0


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("1 2 5", "odd number of values"),
        ("1 2 9 5", "overflows a 3x4 mask"),
        ("-1 2", "below 1"),
        ("0 2", "below 1"),
        ("5 2 1 2", "not increasing"),
        ("1 4 3 2", "overlap"),
        ("1 0", "not positive"),
        ("1 x", "not an integer"),
    ],
)
def test_chexmask_rle_rejects_bad_input(rle, message):
    with pytest.raises(RleError, match=message):
        decode_chexmask_rle(rle, 3, 4)


def test_chexmask_rle_rejects_bad_size():
    with pytest.raises(RleError, match="positive integers"):
        decode_chexmask_rle("1 1", 0, 4)


@pytest.mark.parametrize("compressed", [True, False])
def test_coco_rle_round_trip(compressed):
    rng = np.random.default_rng(0)
    mask = rng.random((37, 23)) > 0.6
    mask[0, 0] = True  # a first foreground pixel exercises the leading zero count
    encoded = encode_coco_rle(mask, compressed=compressed)
    assert encoded["size"] == [37, 23]
    assert np.array_equal(decode_coco_rle(encoded), mask)


def test_coco_rle_counts_are_column_major():
    mask = np.array([[0, 1], [0, 1]], dtype=bool)
    assert encode_coco_rle(mask, compressed=False)["counts"] == [2, 2]


def test_coco_rle_rejects_wrong_total():
    with pytest.raises(RleError, match="sum to 3, expected 2x2=4"):
        decode_coco_rle({"size": [2, 2], "counts": [1, 2]})


def test_coco_rle_rejects_negative_count():
    with pytest.raises(RleError, match="negative"):
        decode_coco_rle({"size": [2, 2], "counts": [5, -1]})
