"""Binarized MNIST (Larochelle & Murray 2011; Salakhutdinov & Murray 2008): the DRAW paper's
benchmark, 50,000 / 10,000 / 10,000 images of 28x28x1 with values 0 and 1.

DATA_DIR holds binarized_mnist_{train,valid,test}.amat in either form people have: the text
files (784 whitespace-separated 0/1 values a line) or MATLAB .mat files under the same names
(one uint8 matrix X, an image a row), as some mirrors ship them. The images come back as
uint8 0/255, so the float batches of datasets.Batches are exactly 0 and 1.
"""

import os

import numpy as np
import scipy.io

from draw_color.fileio import UserError

SPLITS = ("train", "valid", "test")
SIZE = 28
_MATLAB = b"MATLAB"  # the first bytes of a MATLAB 5 .mat file


def split_path(data_dir, split):
  return os.path.join(data_dir, "binarized_mnist_%s.amat" % split)


def _read(path):
  """The file at `path` -> uint8 [N, 784] of 0/1, whichever form it is in."""
  with open(path, "rb") as f:
    head = f.read(len(_MATLAB))
  if head == _MATLAB:
    try:
      pixels = scipy.io.loadmat(path)["X"]
    # A damaged file (a download cut short, a flipped byte) trips scipy's parser wherever it
    # reads: truncations alone raised OSError, IndexError, TypeError, MatReadError and
    # zlib.error, and a missing X a KeyError. Whichever, the file is not one to train on.
    except Exception as e:  # pylint: disable=broad-except
      raise UserError("cannot read %s as a MATLAB file with a matrix X (%s: %s); fetch it "
                      "again (data/README.md)" % (path, type(e).__name__, e))
  else:
    with open(path, "rb") as f:
      values = f.read().split()
    if len(values) % (SIZE * SIZE):
      raise UserError("%s holds %d values, not rows of %d: not a binarized MNIST .amat file"
                      % (path, len(values), SIZE * SIZE))
    try:
      pixels = np.array(values, dtype=np.float32).reshape(-1, SIZE * SIZE)
    except ValueError as e:
      raise UserError("%s is not a binarized MNIST .amat file of 0/1 values (%s)" % (path, e))
  pixels = np.asarray(pixels)
  if pixels.ndim != 2 or pixels.shape[1] != SIZE * SIZE or not np.isin(pixels, (0, 1)).all():
    raise UserError("%s holds %s values that are not 0/1 rows of %d pixels"
                    % (path, pixels.shape, SIZE * SIZE))
  return pixels.astype(np.uint8)


def load(data_dir, split):
  """Returns the images of `split` as uint8 [N, 28, 28, 1] of 0 and 255."""
  if split not in SPLITS:
    raise UserError("binarized MNIST has no %r split; use one of %s" % (split, ", ".join(SPLITS)))
  path = split_path(data_dir, split)
  if not os.path.exists(path):
    raise UserError("no binarized MNIST at %s; place binarized_mnist_{train,valid,test}.amat "
                    "in --data_dir (see data/README.md)" % path)
  return (_read(path) * 255).reshape(-1, SIZE, SIZE, 1)  # [N, 28, 28, 1]
