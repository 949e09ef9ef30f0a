"""Tiny CelebA-like data made by the tests themselves (the real data may not be shipped)."""

import numpy as np
from PIL import Image


def write_jpeg(path, seed, width=40, height=30):
  """A smooth random colour image, so the JPEG stays close to the pattern."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:height, :width]
  base = rng.uniform(0, 255, 3)
  slope = rng.uniform(-3, 3, [2, 3])
  pixels = base + y[..., None] * slope[0] + x[..., None] * slope[1]  # [H, W, 3]
  Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=95)


def make_celeba(root, count, partition=None):
  """DATA_DIR with images 000001.jpg.. and an optional {name: code} partition file."""
  image_dir = root / "img_align_celeba"
  image_dir.mkdir(parents=True)
  for i in range(1, count + 1):
    write_jpeg(image_dir / f"{i:06d}.jpg", seed=i)
  if partition is not None:
    # CRLF and no final line end, as in the original file and the shared copy respectively.
    (root / "list_eval_partition.txt").write_bytes(
        "\r\n".join(f"{name} {code}" for name, code in partition.items()).encode())
  return str(root)


def make_mnist(root, counts=(12, 6, 6), seed=0):
  """DATA_DIR with text binarized_mnist_{train,valid,test}.amat of random 0/1 digits."""
  rng = np.random.default_rng(seed)
  root.mkdir(parents=True, exist_ok=True)
  for split, count in zip(("train", "valid", "test"), counts):
    rows = (rng.random((count, 784)) < 0.2).astype(int)
    np.savetxt(root / f"binarized_mnist_{split}.amat", rows, fmt="%d")
  return str(root)
