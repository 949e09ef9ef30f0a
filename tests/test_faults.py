"""Faults that real runs meet: damaged caches, failing writes, and training killed at random."""

import numpy as np

from draw_color import celeba
from fakes import make_celeba


def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path):
  data_dir = make_celeba(tmp_path / "celeba", 5)
  cache_dir = str(tmp_path / "cache")
  expected = np.stack([celeba.preprocess(p, 24, 8)
                       for p in celeba.list_images(data_dir, "all")])  # [5, 8, 8, 3]
  path = celeba.cache_path(celeba.list_images(data_dir, "all"), "all", 24, 8, cache_dir)
  np.testing.assert_array_equal(celeba.load(data_dir, "all", 24, 8, cache_dir, log=print),
                                expected)
  for damage in (lambda f: f.truncate(200), lambda f: f.write(b"not a numpy file")):
    with open(path, "r+b") as f:
      damage(f)
    said = []
    images = celeba.load(data_dir, "all", 24, 8, cache_dir, log=said.append)
    np.testing.assert_array_equal(images, expected)
    assert any(line.startswith("warning: cache %s is damaged" % path) for line in said), said
