"""The datasets DRAW trains on, behind one call: CelebA (colour) and binarized MNIST (grey);
and what every mode does with either's uint8 images: shuffled float batches, cut into a
cluster's parts, and the fixed batch the pictures show."""

import hashlib

import numpy as np

from draw_color import celeba
from draw_color import mnist
from draw_color.fileio import UserError

DATASETS = ("celeba", "mnist")
CHANNELS = {"celeba": 3, "mnist": 1}
SPLITS = {"celeba": celeba.SPLITS, "mnist": mnist.SPLITS}
# What a dataset brings where the flags leave it open: its image side, and CelebA's crop.
DEFAULTS = {"celeba": {"image_size": 64, "crop_size": 108},
            "mnist": {"image_size": mnist.SIZE, "crop_size": None}}
FIXED_BATCH = 64  # images of the fixed batch that training and --mode=gif draw: the original's
#                   8x8 picture grid
FINGERPRINT_IMAGES = 64  # images, spread over the split, that identify it (fingerprint)


def load(dataset, data_dir, split, image_size, crop_size=None, cache_dir=None, log=print):
  """uint8 [N, image_size, image_size, C] images of a split (0..255; MNIST is 0 or 255)."""
  if dataset == "mnist":
    return mnist.load(data_dir, split)
  return celeba.load(data_dir, split, crop_size=crop_size, image_size=image_size,
                     cache_dir=cache_dir, log=log)


def spread(dataset, data_dir, split, count, image_size, crop_size=None, log=print):
  """uint8 [min(count, N), image_size, image_size, C]: `count` of a split's N images at evenly
  spaced places, first and last included, decoding only those (no cache of the whole split,
  which for full CelebA's train split is 160,000 JPEGs)."""
  if dataset == "mnist":
    images = mnist.load(data_dir, split)  # [N, 28, 28, 1]
    return images[_spaced(len(images), count)]
  paths = celeba.list_images(data_dir, split, log=log)
  return np.stack([celeba.preprocess(paths[i], crop_size, image_size)
                   for i in _spaced(len(paths), count)])  # [count, S, S, 3]


def _spaced(n, count):
  """min(n, count) distinct indices into n items, evenly spaced, 0 and n - 1 among them."""
  return np.unique(np.linspace(0, n - 1, min(n, count)).round().astype(int))


def fingerprint(images):
  """A short hex digest of uint8 `images` [N, S, S, C]: their shape and FINGERPRINT_IMAGES of
  them spread from the first to the last, so that two loads of the same split agree and a
  split with other, added or removed images almost surely does not; cheap for any N."""
  n = len(images)
  index = _spaced(n, FINGERPRINT_IMAGES)
  digest = hashlib.sha256(repr(tuple(images.shape)).encode())
  digest.update(np.ascontiguousarray(images[index]).tobytes())  # [<= 64, S, S, C]
  return digest.hexdigest()[:16]


def part_bounds(size, index, count):
  """[start, stop) of part `index` when a batch of `size` is cut into `count` parts of
  near-equal sizes, larger first (5 in 2: [0, 3), [3, 5)); towers.split_sizes's rule."""
  small, larger = divmod(size, count)
  start = index * small + min(index, larger)
  return start, start + small + (index < larger)


class Batches:
  """Shuffled minibatches of a uint8 [N, S, S, C] array, reproducible from (seed, epoch),
  so a resumed run sees exactly the batches it would have seen.

  Every image appears once per epoch; the last batch is smaller when batch_size does not
  divide N. With `flip`, each image is mirrored left-right in a random half of the epochs
  (data augmentation: a mirrored face is still a face), also drawn from (seed, epoch).
  With `part` = (index, count), each batch is cut as part_bounds says and only part `index`
  is read and yielded: a cluster worker's share, disjoint from the other workers'.
  """

  def __init__(self, images, batch_size, seed, flip=False, part=(0, 1)):
    if batch_size < 1:
      raise ValueError(f"batch_size must be positive, got {batch_size}")
    self._images = images
    self._batch_size = batch_size
    self._seed = seed
    self._flip = flip
    self._part = part

  def whole_size(self, step_in_epoch):
    """Images in the whole batch of step `step_in_epoch` (0-based) of an epoch, all parts."""
    return min(self._batch_size, len(self._images) - step_in_epoch * self._batch_size)

  @property
  def steps_per_epoch(self):
    return -(-len(self._images) // self._batch_size)

  def epoch(self, epoch_index, start_step=0):
    """Yields the batches of one epoch from batch `start_step` on (to resume mid-epoch).

    Yields:
      float32 [b, S, S, C] in [0, 1], b = batch_size except maybe for the last batch (with
      `part`, that batch's part: b as part_bounds says, maybe 0).
    """
    if not 0 <= start_step <= self.steps_per_epoch:
      raise ValueError(f"start_step {start_step} not in [0, {self.steps_per_epoch}]")
    n = len(self._images)
    order = np.random.default_rng([self._seed, epoch_index]).permutation(n)
    # By image, not by position, so a resumed epoch mirrors the same images.
    mirrored = np.random.default_rng([self._seed, epoch_index, 1]).random(n) < 0.5  # [N]
    for start in range(start_step * self._batch_size, n, self._batch_size):
      # Sorted indices read the memory map front to back; the order within a batch is moot.
      index = np.sort(order[start:start + self._batch_size])
      first, stop = part_bounds(len(index), *self._part)
      index = index[first:stop]
      batch = _to_float(self._images[index])  # [b, S, S, C]
      if self._flip:
        batch[mirrored[index]] = batch[mirrored[index], :, ::-1]
      yield batch


def fixed_batch(images, n):
  """The first n images, as float32 [n, S, S, C] in [0, 1] (the same pictures every run)."""
  if n > len(images):
    raise UserError(f"asked for {n} fixed images but the data holds only {len(images)}")
  return _to_float(images[:n])


def _to_float(images):
  """uint8 [...] -> float32 [...] in [0, 1]."""
  return np.divide(images, np.float32(255), dtype=np.float32)
