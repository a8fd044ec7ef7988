"""is_near_constant: the shared blank-image test of curation (and selection)."""

import numpy as np
import pytest
from PIL import Image

from synthvlm_repro.image_checks import BLANK_MAX_STD, is_near_constant


@pytest.mark.parametrize("color", [(255, 255, 255), (0, 0, 0), (200, 30, 30)])
def test_flat_images_are_near_constant(color):
    assert is_near_constant(Image.new("RGB", (64, 48), color))
    assert is_near_constant(np.full((48, 64, 3), color, dtype=np.uint8))


def test_jpeg_noise_on_white_is_still_blank(tmp_path):
    Image.new("RGB", (64, 64), "white").save(tmp_path / "w.jpg", quality=30)
    assert is_near_constant(Image.open(tmp_path / "w.jpg"))


def test_faint_noise_below_threshold_is_blank_and_above_is_not():
    rng = np.random.default_rng(0)
    base = np.full((64, 64, 3), 128.0)
    assert is_near_constant(np.clip(base + rng.normal(0, BLANK_MAX_STD / 2, base.shape), 0, 255).astype(np.uint8))
    assert not is_near_constant(np.clip(base + rng.normal(0, BLANK_MAX_STD * 4, base.shape), 0, 255).astype(np.uint8))


def test_a_thin_line_on_white_is_content():
    img = np.full((100, 100, 3), 255, dtype=np.uint8)
    img[50, :, :] = 0
    assert not is_near_constant(img)
    assert not is_near_constant(Image.fromarray(img))


def test_float_channels_first_and_grayscale_inputs():
    flat = np.full((3, 32, 32), 0.5, dtype=np.float32)  # torch layout, values in [0, 1]
    assert is_near_constant(flat)
    checker = np.indices((32, 32)).sum(0) % 2
    assert not is_near_constant(np.stack([checker] * 3).astype(np.float32))
    assert not is_near_constant(Image.fromarray((checker * 255).astype(np.uint8), mode="L"))
    assert is_near_constant(Image.new("P", (8, 8)))  # palette image is converted, not rejected


def test_non_image_shapes_are_refused():
    with pytest.raises(ValueError):
        is_near_constant(np.zeros((2, 2, 2, 2)))
