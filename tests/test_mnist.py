"""The binarized MNIST loader, on files the tests write in both forms people have."""

import os

import numpy as np
import pytest
import scipy.io

from draw_color import mnist
from draw_color.fileio import UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MNIST = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist", "binarized")

ROWS = (np.random.default_rng(0).random((3, 784)) < 0.3).astype(np.uint8)


def test_text_amat(tmp_path):
  np.savetxt(tmp_path / "binarized_mnist_valid.amat", ROWS, fmt="%d")
  images = mnist.load(str(tmp_path), "valid")
  assert images.shape == (3, 28, 28, 1) and images.dtype == np.uint8
  np.testing.assert_array_equal(images.reshape(3, 784), ROWS * 255)


def test_matlab_file_under_the_amat_name(tmp_path):
  scipy.io.savemat(tmp_path / "binarized_mnist_test.amat", {"X": ROWS}, do_compression=True)
  np.testing.assert_array_equal(mnist.load(str(tmp_path), "test").reshape(3, 784), ROWS * 255)


def test_missing_and_malformed_files_name_the_path(tmp_path):
  with pytest.raises(UserError, match="binarized_mnist_train.amat"):
    mnist.load(str(tmp_path), "train")
  (tmp_path / "binarized_mnist_train.amat").write_text("0 1 1\n")
  with pytest.raises(UserError, match="binarized_mnist_train.amat holds 3 values"):
    mnist.load(str(tmp_path), "train")
  np.savetxt(tmp_path / "binarized_mnist_train.amat", ROWS * 2, fmt="%d")
  with pytest.raises(UserError, match="not 0/1"):
    mnist.load(str(tmp_path), "train")
  with pytest.raises(UserError, match="no 'all' split"):
    mnist.load(str(tmp_path), "all")


def test_a_text_file_with_other_words_names_the_path(tmp_path):
  text = "\n".join(" ".join(str(v) for v in row) for row in ROWS).replace("1", "x", 1)
  (tmp_path / "binarized_mnist_valid.amat").write_text(text)
  with pytest.raises(UserError, match="binarized_mnist_valid.amat is not a binarized MNIST"):
    mnist.load(str(tmp_path), "valid")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_a_cut_or_damaged_matlab_file_names_the_path(tmp_path, keep):
  rows = (np.random.default_rng(1).random((200, 784)) < 0.3).astype(np.uint8)
  path = tmp_path / "binarized_mnist_test.amat"
  scipy.io.savemat(path, {"X": rows}, do_compression=True)
  data = path.read_bytes()
  path.write_bytes(data[:int(len(data) * keep)])
  with pytest.raises(UserError, match="cannot read .*binarized_mnist_test.amat as a MATLAB"):
    mnist.load(str(tmp_path), "test")
  damaged = bytearray(data)
  damaged[int(len(data) * keep)] ^= 0xFF
  path.write_bytes(bytes(damaged))
  with pytest.raises(UserError, match="cannot read .*binarized_mnist_test.amat as a MATLAB"):
    mnist.load(str(tmp_path), "test")


def test_shared_binarized_mnist():
  if not os.path.isdir(SHARED_MNIST):
    pytest.skip("no binarized MNIST at %s (the project's shared data)" % SHARED_MNIST)
  test = mnist.load(SHARED_MNIST, "test")
  assert test.shape == (10000, 28, 28, 1)
  assert (test / 255).mean() == pytest.approx(0.132512, abs=1e-5)  # data/README.md's number
