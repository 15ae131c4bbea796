"""Crop planning, working sizes, pixel formats and compositing."""

import numpy as np
import pytest
from PIL import Image
from repaint_fill_backend.imaging import (
    ImageInputError,
    composite,
    coverage_from_mask,
    fill_in_original_mode,
    fill_working_size,
    known_share,
    open_image,
    save_atomically,
    to_model_tensors,
    to_rgb8,
    working_size,
)
from repaint_fill_backend.regions import Rect, mask_bbox, plan_crop


@pytest.mark.parametrize(
    ("crop", "native", "stride", "expected"),
    [
        ((256, 256), 128, 8, (128, 128)),
        ((300, 150), 128, 8, (128, 64)),
        ((150, 300), 256, 32, (128, 256)),
        ((100, 7), 128, 8, (128, 8)),  # never below one stride
        ((40, 30), 128, 8, (128, 96)),  # small crops are scaled up to the native size
    ],
)
def test_working_size_longest_side_native_and_multiple_of_stride(crop, native, stride, expected):
    assert working_size(crop, native, stride) == expected


@pytest.mark.parametrize(
    ("bbox", "size", "margin", "expected"),
    [
        (Rect(50, 50, 20, 10), (200, 200), 10, Rect(40, 40, 40, 30)),
        (Rect(0, 0, 20, 10), (200, 200), 10, Rect(0, 0, 30, 20)),  # clamped at the top left
        (Rect(190, 195, 10, 5), (200, 200), 8, Rect(182, 187, 18, 13)),  # and bottom right
        (Rect(50, 50, 40, 20), (200, 200), None, Rect(30, 30, 80, 60)),  # default: half the side
    ],
)
def test_plan_crop(bbox, size, margin, expected):
    assert plan_crop(bbox, size, margin) == expected


def test_mask_bbox_and_empty_mask():
    coverage = np.zeros((20, 30), np.uint8)
    assert mask_bbox(coverage) is None
    coverage[5:8, 10:20] = 1  # even the faintest coverage counts
    assert mask_bbox(coverage) == Rect(10, 5, 10, 3)


def test_keep_mask_is_one_only_where_nothing_is_covered():
    rgb = np.zeros((16, 16, 3), np.uint8)
    coverage = np.zeros((16, 16), np.uint8)
    coverage[4:8, 4:8] = 128  # soft coverage still means "generate"
    known, keep = to_model_tensors(rgb, coverage, (16, 16))
    assert known.shape == (1, 3, 16, 16) and keep.shape == (1, 1, 16, 16)
    assert known.min() == -1.0
    assert keep[0, 0, 4:8, 4:8].sum() == 0 and keep.sum() == 256 - 16


def test_composite_leaves_uncovered_pixels_byte_identical_and_blends_soft_ones():
    original = np.full((4, 4, 3), 100, np.uint8)
    fill = np.full((4, 4, 3), 200, np.uint8)
    coverage = np.array([[0, 255, 128, 0]] * 4, np.uint8)
    out = composite(original, fill, coverage)
    assert (out[:, 0] == 100).all() and (out[:, 1] == 200).all()
    assert (out[:, 2] == 150).all()


def test_rgba_alpha_is_kept_outside_and_filled_inside():
    image = Image.new("RGBA", (8, 8), (10, 20, 30, 40))
    coverage = np.zeros((8, 8), np.uint8)
    coverage[2:4, 2:4] = 255
    fill = np.full((8, 8, 3), 250, np.uint8)
    out = np.asarray(fill_in_original_mode(image, fill, coverage, Rect(0, 0, 8, 8)))
    assert out.shape == (8, 8, 4)
    assert (out[0, 0] == (10, 20, 30, 40)).all()
    assert (out[2, 2] == (250, 250, 250, 255)).all()


def test_sixteen_bit_gray_stays_sixteen_bit():
    values = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    image = Image.fromarray(values)
    assert image.mode.startswith("I")
    rgb = to_rgb8(image)
    assert rgb.shape == (8, 8, 3) and rgb[7, 7, 0] == round(63000 / 65535 * 255)
    coverage = np.zeros((8, 8), np.uint8)
    coverage[0, 0] = 255
    out = fill_in_original_mode(
        image, np.full((8, 8, 3), 255, np.uint8), coverage, Rect(0, 0, 8, 8)
    )
    result = np.asarray(out)
    assert result[0, 0] == 65535 and (result.ravel()[1:] == values.ravel()[1:]).all()


def test_palette_and_gray_inputs_become_rgb_for_the_model():
    palette = Image.new("P", (4, 4), 3)
    palette.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 1, 2, 3] + [0] * 756)
    assert (to_rgb8(palette)[0, 0] == (1, 2, 3)).all()
    assert to_rgb8(Image.new("L", (3, 3), 9)).shape == (3, 3, 3)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (4, 2), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert open_image(path).size == (2, 4)


def test_mask_formats():
    assert coverage_from_mask(Image.new("1", (2, 2), 1)).max() == 255
    rgba = Image.new("RGBA", (2, 2), (255, 255, 255, 0))  # transparent = not painted
    assert coverage_from_mask(rgba).max() == 0


def test_unreadable_files_give_clear_errors(tmp_path):
    with pytest.raises(ImageInputError, match="no such file"):
        open_image(tmp_path / "missing.png")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    with pytest.raises(ImageInputError, match="not a readable image"):
        open_image(garbage)


def test_fine_masks_keep_their_known_pixels_at_the_working_size():
    lines = np.zeros((256, 256), np.uint8)
    lines[1::2] = 255  # every second row unknown: scaled to 128, nothing would stay known
    assert known_share(lines, (128, 128)) == 0
    size = fill_working_size(lines, 128, 8)
    assert size == (256, 256) and known_share(lines, size) == 0.5
    box = np.zeros((256, 256), np.uint8)
    box[80:176, 80:176] = 255  # a coarse mask survives scaling: stays at the native size
    assert fill_working_size(box, 128, 8) == (128, 128)
    big_lines = np.zeros((1024, 1024), np.uint8)
    big_lines[1::2] = 255
    assert fill_working_size(big_lines, 128, 8) == (256, 256)  # never past 2x native


def test_pixels_under_the_selection_do_not_leak_into_the_known_border():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[8:24, 8:24] = 255  # a bright object the user wants removed
    coverage = np.zeros((32, 32), np.uint8)
    coverage[8:24, 8:24] = 255
    known, keep = to_model_tensors(rgb, coverage, (16, 16))
    border = known[0][:, keep[0, 0] == 1]
    assert border.max() == -1.0  # the black surroundings stay black after scaling


def test_outputs_are_written_whole_with_ordinary_permissions(tmp_path):
    import os

    target = tmp_path / "out.png"
    save_atomically(Image.new("RGB", (4, 4)), target)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
