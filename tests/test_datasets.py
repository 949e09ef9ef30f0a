"""Batches, parts of batches and the fixed batch that every dataset's uint8 images go through."""

import numpy as np
import pytest

from draw_color import celeba
from draw_color import datasets
from draw_color import mnist
from draw_color.fileio import UserError
from fakes import make_celeba
from fakes import make_mnist


def _numbered_images(n):
  """uint8 [n, 2, 2, 3] where image i is filled with i, to tell images apart."""
  return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 3)).copy()


def _ids(batch):
  return np.rint(batch[:, 0, 0, 0] * 255).astype(int).tolist()


def test_batches_cover_each_image_once_and_keep_last_partial_batch():
  batches = datasets.Batches(_numbered_images(23), batch_size=5, seed=0)
  assert batches.steps_per_epoch == 5
  epoch = list(batches.epoch(0))
  assert [len(b) for b in epoch] == [5, 5, 5, 5, 3]
  assert sorted(i for b in epoch for i in _ids(b)) == list(range(23))
  for batch in epoch:
    assert batch.dtype == np.float32 and batch.shape[1:] == (2, 2, 3)
    assert batch.min() >= 0 and batch.max() <= 1


def test_batches_reproducible_from_seed_and_epoch():
  images = _numbered_images(23)
  order = lambda seed, epoch: [_ids(b) for b in datasets.Batches(images, 5, seed).epoch(epoch)]
  assert order(3, 0) == order(3, 0)
  assert order(3, 0) != order(3, 1)
  assert order(3, 0) != order(4, 0)


def test_batches_resume_mid_epoch_equals_tail_of_epoch():
  batches = datasets.Batches(_numbered_images(23), batch_size=5, seed=1)
  full = list(batches.epoch(2))
  for start in range(6):
    tail = list(batches.epoch(2, start_step=start))
    assert len(tail) == len(full) - start
    for a, b in zip(tail, full[start:]):
      np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError):
    next(batches.epoch(2, start_step=6))


def test_parts_of_batches_are_disjoint_and_make_up_each_batch_in_order():
  images = _numbered_images(23)
  whole = datasets.Batches(images, batch_size=5, seed=2, flip=True)
  parts = [datasets.Batches(images, batch_size=5, seed=2, flip=True, part=(k, 3))
           for k in range(3)]
  for step, batch in enumerate(whole.epoch(1)):
    pieces = [list(p.epoch(1))[step] for p in parts]
    # 5 images as 2, 2, 1; the last batch, 3, as 1, 1, 1.
    assert [len(p) for p in pieces] == ([2, 2, 1] if len(batch) == 5 else [1, 1, 1])
    np.testing.assert_array_equal(np.concatenate(pieces), batch)
    assert whole.whole_size(step) == len(batch)


def test_part_bounds_cut_larger_parts_first():
  assert [datasets.part_bounds(7, k, 3) for k in range(3)] == [(0, 3), (3, 5), (5, 7)]
  assert [datasets.part_bounds(1, k, 2) for k in range(2)] == [(0, 1), (1, 1)]


def test_batches_values_are_uint8_over_255():
  images = np.random.default_rng(0).integers(0, 256, [9, 4, 4, 3], dtype=np.uint8)
  expected = images / np.float32(255)  # [9, 4, 4, 3]
  for batch in datasets.Batches(images, batch_size=4, seed=0).epoch(0):
    assert batch.dtype == np.float32
    for image in batch:
      assert any(np.array_equal(image, e) for e in expected)


def test_fixed_batch():
  images = _numbered_images(10)
  batch = datasets.fixed_batch(images, 4)
  assert batch.dtype == np.float32 and batch.shape == (4, 2, 2, 3)
  assert _ids(batch) == [0, 1, 2, 3]
  with pytest.raises(UserError, match="only 10"):
    datasets.fixed_batch(images, 11)


def test_flipped_batches_mirror_about_half_the_images_and_resume_the_same():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 3, 4, 3), dtype=np.uint8)  # [N, H, W, C], no symmetry
  plain = datasets.Batches(images, 8, seed=2)
  flipped = datasets.Batches(images, 8, seed=2, flip=True)
  mirrored = 0
  for a, b in zip(plain.epoch(1), flipped.epoch(1)):
    for original, seen in zip(a, b):  # same order: flipping changes no order
      if np.array_equal(seen, original[:, ::-1]):
        mirrored += 1
      else:
        np.testing.assert_array_equal(seen, original)
  assert 10 <= mirrored <= 30  # each image with probability 1/2
  tail = list(flipped.epoch(1, start_step=3))
  for a, b in zip(tail, list(flipped.epoch(1))[3:]):
    np.testing.assert_array_equal(a, b)
  epochs = [np.concatenate(list(flipped.epoch(e))) for e in (0, 1)]
  assert not np.array_equal(*epochs)  # another epoch, other images mirrored


def test_fingerprint_follows_the_images_not_the_array():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (300, 4, 4, 3), dtype=np.uint8)
  found = datasets.fingerprint(images)
  assert datasets.fingerprint(images.copy()) == found and len(found) == 16
  changed = images.copy()
  changed[-1, 0, 0, 0] ^= 1  # the last image is always among those read
  assert datasets.fingerprint(changed) != found
  assert datasets.fingerprint(images[:-1]) != found  # one fewer
  assert datasets.fingerprint(images[:, :, :, :1]) != found  # another shape
  assert datasets.fingerprint(images[:1]) == datasets.fingerprint(images[:1].copy())
  unread = images.copy()
  unread[1] ^= 1  # between the first and the second of 64 spread over 300: not read, so cheap
  assert datasets.fingerprint(unread) == found


@pytest.mark.parametrize("n, count, want", [(12, 4, [0, 4, 7, 11]), (12, 12, list(range(12))),
                                            (3, 5, [0, 1, 2]), (5, 1, [0])])
def test_spread_takes_evenly_spaced_images_the_first_and_last_among_them(tmp_path, n, count,
                                                                          want):
  """MNIST's digits and CelebA's faces alike, each decoded as its split's loader does; no
  more than the split holds."""
  digits = mnist.load(make_mnist(tmp_path / "m", counts=(n, 1, 1)), "train")
  np.testing.assert_array_equal(
      datasets.spread("mnist", str(tmp_path / "m"), "train", count, 28), digits[want])
  data_dir = make_celeba(tmp_path / "c", n)
  faces = datasets.spread("celeba", data_dir, "train", count, 8, crop_size=24, log=print)
  paths = celeba.list_images(data_dir, "all", log=print)
  np.testing.assert_array_equal(faces, [celeba.preprocess(paths[i], 24, 8) for i in want])
