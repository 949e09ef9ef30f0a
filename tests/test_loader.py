"""The loader on known pictures: which pixels the centre crop keeps, to the pixel (PNG files,
so no compression changes them), batches of one and a fixed batch of every image."""

import numpy as np
import pytest
from PIL import Image

from draw_color import celeba
from draw_color import datasets
from draw_color.fileio import UserError


def coded_picture(path, width, height):
  """A PNG whose pixel (y, x) is (10 x, 10 y, 7): each pixel says where it was."""
  y, x = np.mgrid[:height, :width]
  pixels = np.stack([10 * x, 10 * y, np.full_like(x, 7)], -1).astype(np.uint8)
  Image.fromarray(pixels).save(path)
  return pixels


@pytest.mark.parametrize("width,height,crop,top,left", [
    (7, 6, 4, 1, 2),  # (7 - 4) / 2 = 1.5 rounds to 2 (half to even)
    (6, 9, 4, 2, 1),  # (9 - 4) / 2 = 2.5 rounds to 2
    (7, 6, 6, 0, 0),  # as tall as the picture: the whole height, 0.5 rounds to 0
    (5, 8, 5, 2, 0),  # as wide
])
def test_centre_crop_keeps_the_middle_square(tmp_path, width, height, crop, top, left):
  path = str(tmp_path / "coded.png")
  pixels = coded_picture(path, width, height)
  # Resizing to its own size leaves a picture as it is, so this is the crop alone.
  np.testing.assert_array_equal(celeba.preprocess(path, crop_size=crop, image_size=crop),
                                pixels[top:top + crop, left:left + crop])


def test_crop_wider_than_the_picture_is_refused(tmp_path):
  path = str(tmp_path / "coded.png")
  coded_picture(path, 7, 6)
  with pytest.raises(UserError, match="crop size 7 is larger"):
    celeba.preprocess(path, crop_size=7, image_size=7)


def test_batches_of_one_image_and_of_none():
  images = np.arange(3, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
  batches = list(datasets.Batches(images, batch_size=1, seed=0).epoch(0))
  assert [len(b) for b in batches] == [1, 1, 1]
  assert sorted(round(float(b[0, 0, 0, 0]) * 255) for b in batches) == [0, 1, 2]
  with pytest.raises(ValueError, match="must be positive"):
    datasets.Batches(images, batch_size=0, seed=0)


def test_fixed_batch_may_take_every_image():
  images = np.arange(4, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
  np.testing.assert_array_equal(datasets.fixed_batch(images, 4), images / np.float32(255))
  with pytest.raises(UserError, match="only 4"):
    datasets.fixed_batch(images, 5)
