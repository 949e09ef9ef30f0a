"""The datasets DRAW trains on, behind one call: CelebA (colour) and binarized MNIST (grey)."""

from draw_color import celeba
from draw_color import mnist

DATASETS = ("celeba", "mnist")
CHANNELS = {"celeba": 3, "mnist": 1}
SPLITS = {"celeba": celeba.SPLITS, "mnist": mnist.SPLITS}
# What a dataset brings where the flags leave it open: its image side, and CelebA's crop.
DEFAULTS = {"celeba": {"image_size": 64, "crop_size": 108},
            "mnist": {"image_size": mnist.SIZE, "crop_size": None}}


def load(dataset, data_dir, split, image_size, crop_size=None, cache_dir=None, log=print):
  """uint8 [N, image_size, image_size, C] images of a split (0..255; MNIST is 0 or 255)."""
  if dataset == "mnist":
    return mnist.load(data_dir, split)
  return celeba.load(data_dir, split, crop_size=crop_size, image_size=image_size,
                     cache_dir=cache_dir, log=log)
