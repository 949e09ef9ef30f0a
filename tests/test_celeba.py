"""Tests for the CelebA loader on small JPEGs made here (plus one check of the shared data)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from draw_color import celeba
from draw_color.fileio import UserError
from fakes import make_celeba
from fakes import write_jpeg

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CELEBA = os.path.join(REPO_ROOT, "..", "shared", "data", "celeba")


def _pil_expected(path, left, top, crop, size):
  with Image.open(path) as image:
    image = image.convert("RGB").crop((left, top, left + crop, top + crop))
    return np.asarray(image.resize((size, size), Image.BILINEAR))


def test_preprocess_equals_pillow_centre_crop_and_resize(tmp_path):
  path = tmp_path / "a.jpg"
  write_jpeg(path, seed=0, width=40, height=30)
  got = celeba.preprocess(str(path), crop_size=20, image_size=8)
  assert got.dtype == np.uint8 and got.shape == (8, 8, 3)
  # (40 - 20) / 2 = 10 from the left, (30 - 20) / 2 = 5 from the top.
  np.testing.assert_array_equal(got, _pil_expected(path, 10, 5, 20, 8))


def test_preprocess_crop_larger_than_image_names_file(tmp_path):
  path = tmp_path / "small.jpg"
  write_jpeg(path, seed=0)
  with pytest.raises(UserError, match=r"small\.jpg.*40x30"):
    celeba.preprocess(str(path), crop_size=31, image_size=8)


def test_list_images_filters_by_partition(tmp_path):
  partition = {"000004.jpg": 1, "000001.jpg": 0, "000002.jpg": 2, "000003.jpg": 0,
               "000005.jpg": 0, "000099.jpg": 0, "000098.jpg": 1}  # 98, 99 not on disk
  data_dir = make_celeba(tmp_path, 5, partition)
  names = {split: [os.path.basename(p) for p in celeba.list_images(data_dir, split)]
           for split in celeba.SPLITS}
  assert names["train"] == ["000001.jpg", "000003.jpg", "000005.jpg"]
  assert names["valid"] == ["000004.jpg"]
  assert names["test"] == ["000002.jpg"]
  assert names["all"] == [f"{i:06d}.jpg" for i in range(1, 6)]
  assert celeba.list_images(data_dir, "train")[0] == os.path.join(
      data_dir, "img_align_celeba", "000001.jpg")


def test_list_images_without_partition_uses_all_sorted_and_notes_once(tmp_path):
  data_dir = make_celeba(tmp_path, 0)
  for name in ["000003.jpg", "000001.jpg", "000002.jpg"]:
    write_jpeg(tmp_path / "img_align_celeba" / name, seed=0)
  (tmp_path / "img_align_celeba" / "notes.txt").write_text("not an image")
  log = []
  for split in celeba.SPLITS:
    paths = celeba.list_images(data_dir, split, log=log.append)
    assert [os.path.basename(p) for p in paths] == ["000001.jpg", "000002.jpg", "000003.jpg"]
  assert len(log) == 1 and "list_eval_partition.txt" in log[0]


def test_list_images_without_images_names_path(tmp_path):
  missing = tmp_path / "nowhere"
  with pytest.raises(UserError, match="nowhere.*make data"):
    celeba.list_images(str(missing), "train")
  (tmp_path / "img_align_celeba").mkdir()
  with pytest.raises(UserError, match="img_align_celeba.*make data"):
    celeba.list_images(str(tmp_path), "train")


def test_list_images_empty_split_and_bad_split(tmp_path):
  data_dir = make_celeba(tmp_path, 2, {"000001.jpg": 0, "000002.jpg": 0})
  with pytest.raises(UserError, match="test split"):
    celeba.list_images(data_dir, "test")
  with pytest.raises(UserError, match="unknown split"):
    celeba.list_images(data_dir, "validation")


def test_load_builds_cache_once_and_reuses_it(tmp_path):
  data_dir = make_celeba(tmp_path / "data", 7)
  cache_dir = str(tmp_path / "cache")
  log = []
  images = celeba.load(data_dir, "all", crop_size=20, image_size=8, cache_dir=cache_dir,
                       workers=2, log=log.append)
  paths = celeba.list_images(data_dir, "all")
  expected = np.stack([celeba.preprocess(p, 20, 8) for p in paths])  # [7, 8, 8, 3]
  assert isinstance(images, np.memmap) and not images.flags.writeable
  np.testing.assert_array_equal(images, expected)
  assert any("building" in line for line in log)
  [cache] = [name for name in os.listdir(cache_dir) if name.endswith(".npy")]
  with open(os.path.join(cache_dir, cache.replace(".npy", ".json"))) as f:
    assert json.load(f)["files"] == [os.path.basename(p) for p in paths]
  mtime = os.stat(os.path.join(cache_dir, cache)).st_mtime_ns

  # Garbage of the same size and time (which the cache's key cannot tell apart): any decode
  # now would fail loudly, so an identical result means nothing was decoded.
  for path in paths:
    status = os.stat(path)
    with open(path, "wb") as f:
      f.write(b"g" * status.st_size)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
  log.clear()
  again = celeba.load(data_dir, "all", crop_size=20, image_size=8, cache_dir=cache_dir,
                      log=log.append)
  np.testing.assert_array_equal(again, expected)
  assert log == []
  assert os.stat(os.path.join(cache_dir, cache)).st_mtime_ns == mtime
  assert sorted(os.listdir(cache_dir)) == sorted([cache, cache.replace(".npy", ".json")])


def test_cache_is_keyed_by_crop_size_and_image_list(tmp_path):
  data_dir = make_celeba(tmp_path / "data", 3)
  cache_dir = tmp_path / "cache"
  load = lambda **kw: celeba.load(data_dir, "all", cache_dir=str(cache_dir), workers=1,
                                  log=lambda _: None, **kw)
  a = load(crop_size=20, image_size=8)
  b = load(crop_size=30, image_size=8)
  c = load(crop_size=20, image_size=6)
  assert a.shape == b.shape == (3, 8, 8, 3) and c.shape == (3, 6, 6, 3)
  assert not np.array_equal(a, b)
  assert len(list(cache_dir.glob("*.npy"))) == 3
  write_jpeg(tmp_path / "data" / "img_align_celeba" / "000004.jpg", seed=4)
  assert load(crop_size=20, image_size=8).shape == (4, 8, 8, 3)
  assert len(list(cache_dir.glob("*.npy"))) == 4


def test_like_named_images_elsewhere_or_replaced_get_their_own_cache(tmp_path):
  """Two folders whose files have the same names share no cache, though they share the
  cache folder (as DATA_DIRs without write access do); an image replaced in place is read
  anew."""
  cache_dir = str(tmp_path / "cache")
  load = lambda data_dir: celeba.load(data_dir, "all", crop_size=20, image_size=8,
                                      cache_dir=cache_dir, workers=1, log=lambda _: None)
  first = make_celeba(tmp_path / "first", 3)
  second = tmp_path / "second" / "img_align_celeba"
  second.mkdir(parents=True)
  for i in range(1, 4):
    write_jpeg(second / f"{i:06d}.jpg", seed=10 + i, width=50)
  expected = lambda data_dir: np.stack([celeba.preprocess(p, 20, 8)
                                        for p in celeba.list_images(data_dir, "all")])
  np.testing.assert_array_equal(load(first), expected(first))
  np.testing.assert_array_equal(load(str(second.parent)), expected(str(second.parent)))
  replaced = tmp_path / "first" / "img_align_celeba" / "000002.jpg"
  write_jpeg(replaced, seed=20, width=60)
  os.utime(replaced, (1e9, 1e9))  # another time, whatever the clock
  np.testing.assert_array_equal(load(first), expected(first))
  assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


def test_corrupt_image_is_skipped_and_named(tmp_path):
  data_dir = make_celeba(tmp_path / "data", 5)
  bad = tmp_path / "data" / "img_align_celeba" / "000003.jpg"
  bad.write_bytes(b"\xff\xd8 not really a jpeg")
  log = []
  images = celeba.load(data_dir, "all", crop_size=20, image_size=8,
                       cache_dir=str(tmp_path / "cache"), workers=2, log=log.append)
  good = [p for p in celeba.list_images(data_dir, "all") if p != str(bad)]
  np.testing.assert_array_equal(images, np.stack([celeba.preprocess(p, 20, 8) for p in good]))
  assert any("warning" in line and "000003.jpg" in line for line in log)
  assert "skipped 1 unreadable" in log[-1]
  [sidecar] = (tmp_path / "cache").glob("*.json")
  meta = json.loads(sidecar.read_text())
  assert meta["files"] == [os.path.basename(p) for p in good]
  assert meta["skipped"] == ["000003.jpg"]


def test_all_images_unreadable_raises_and_leaves_no_cache(tmp_path):
  data_dir = make_celeba(tmp_path / "data", 0)
  for i in range(2):
    (tmp_path / "data" / "img_align_celeba" / f"{i}.jpg").write_bytes(b"junk")
  with pytest.raises(UserError, match="none of the 2 images"):
    celeba.load(data_dir, "all", cache_dir=str(tmp_path / "cache"), workers=1,
                log=lambda _: None)
  assert list((tmp_path / "cache").iterdir()) == []


def test_crop_larger_than_images_is_an_error_not_a_skip(tmp_path):
  data_dir = make_celeba(tmp_path / "data", 2)
  with pytest.raises(UserError, match="crop size 108"):
    celeba.load(data_dir, "all", cache_dir=str(tmp_path / "cache"), workers=1,
                log=lambda _: None)


def test_default_cache_dir(tmp_path, monkeypatch):
  assert celeba.default_cache_dir(str(tmp_path)) == os.path.join(str(tmp_path), "cache")
  read_only = tmp_path / "read_only"
  read_only.mkdir(mode=0o555)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert celeba.default_cache_dir(str(read_only)) == str(tmp_path / "xdg" / "draw_color")
  monkeypatch.delenv("XDG_CACHE_HOME")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert celeba.default_cache_dir(str(read_only)) == str(tmp_path / "home" / ".cache" /
                                                         "draw_color")


def test_shared_celeba_subset(tmp_path):
  if not os.path.isdir(SHARED_CELEBA):
    pytest.skip(f"shared CelebA data not found at {os.path.normpath(SHARED_CELEBA)}")
  counts = {split: len(celeba.list_images(SHARED_CELEBA, split))
            for split in ("train", "valid", "test")}
  assert counts == {"train": 4560, "valid": 780, "test": 660}
  first = celeba.list_images(SHARED_CELEBA, "train")[0]
  image = celeba.preprocess(first)
  assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
  # 178x218 -> the 108x108 square (218 - 108) / 2 = 55 from the top, (178 - 108) / 2 = 35 in.
  np.testing.assert_array_equal(image, _pil_expected(first, 35, 55, 108, 64))

  # A cache of a few real images, through the worker processes (not the whole shared set).
  data_dir = tmp_path / "few"
  (data_dir / "img_align_celeba").mkdir(parents=True)
  few = celeba.list_images(SHARED_CELEBA, "all")[:4]
  for path in few:
    os.symlink(path, data_dir / "img_align_celeba" / os.path.basename(path))
  images = celeba.load(str(data_dir), "all", cache_dir=str(tmp_path / "cache"), workers=2,
                       log=lambda _: None)
  np.testing.assert_array_equal(images, np.stack([celeba.preprocess(p) for p in few]))


def _subset_source(tmp_path):
  partition = {f"{i:06d}.jpg": i % 3 for i in range(1, 7)}
  return make_celeba(tmp_path / "full", 6, partition)


def test_link_subset_gives_the_listed_images_and_the_official_split(tmp_path):
  data_dir = _subset_source(tmp_path)
  listed = ["000005.jpg", "000001.jpg", "000003.jpg", "000002.jpg"]
  (tmp_path / "list.txt").write_text("\n".join(listed) + "\n\n")
  subset = str(tmp_path / "sub")
  log = []
  assert celeba.link_subset(str(tmp_path / "list.txt"), data_dir, subset, log=log.append) == 4
  names = {split: [os.path.basename(p) for p in celeba.list_images(subset, split)]
           for split in celeba.SPLITS}
  # Codes i % 3 of the source's partition file: 1, 2, 0, 2 for 000001, 2, 3, 5.
  assert names == {"train": ["000003.jpg"], "valid": ["000001.jpg"],
                   "test": ["000002.jpg", "000005.jpg"], "all": sorted(listed)}
  for name in listed:
    link = os.path.join(subset, "img_align_celeba", name)
    assert os.path.islink(link)
    assert os.readlink(link) == os.path.join(os.path.abspath(data_dir), "img_align_celeba", name)
  np.testing.assert_array_equal(
      celeba.preprocess(os.path.join(subset, "img_align_celeba", "000003.jpg"), 24, 8),
      celeba.preprocess(os.path.join(data_dir, "img_align_celeba", "000003.jpg"), 24, 8))
  assert sorted(os.listdir(tmp_path)) == ["full", "list.txt", "sub"]  # no temporary left

  # Again: already there, nothing changes (a cache beside the images is no difference).
  os.mkdir(os.path.join(subset, "cache"))
  assert celeba.link_subset(str(tmp_path / "list.txt"), data_dir, subset, log=log.append) == 4
  assert "already holds the 4 images" in log[-1]


def test_link_subset_errors_name_what_is_wrong(tmp_path):
  data_dir = _subset_source(tmp_path)
  listing = tmp_path / "list.txt"
  subset = str(tmp_path / "sub")
  with pytest.raises(UserError, match=r"cannot read the subset list .*nothing\.txt"):
    celeba.link_subset(str(tmp_path / "nothing.txt"), data_dir, subset)
  listing.write_text("000001.jpg\nimg_align_celeba/000002.jpg\n")
  with pytest.raises(UserError, match=r"list\.txt should name \.jpg files.*'img_align_celeba/"):
    celeba.link_subset(str(listing), data_dir, subset)
  listing.write_text("000001.jpg\n000009.jpg\n000008.jpg\n")
  with pytest.raises(UserError, match=r"2 of the 3 images in .*list\.txt are not in .*full/"
                                      r"img_align_celeba \(the first: 000009\.jpg\)"):
    celeba.link_subset(str(listing), data_dir, subset)
  listing.write_text("000001.jpg\n")
  with pytest.raises(UserError, match=r"no CelebA images: .*elsewhere/img_align_celeba"):
    celeba.link_subset(str(listing), str(tmp_path / "elsewhere"), subset)
  os.remove(os.path.join(data_dir, "list_eval_partition.txt"))
  with pytest.raises(UserError, match=r"full/list_eval_partition\.txt not found"):
    celeba.link_subset(str(listing), data_dir, subset)
  assert not os.path.exists(subset)


def test_link_subset_refuses_another_folder_and_leaves_nothing_when_interrupted(tmp_path,
                                                                               monkeypatch):
  data_dir = _subset_source(tmp_path)
  listing = tmp_path / "list.txt"
  listing.write_text("000001.jpg\n000002.jpg\n")
  (tmp_path / "other").mkdir()
  with pytest.raises(UserError, match=r"other exists and is not the subset of .*list\.txt"):
    celeba.link_subset(str(listing), data_dir, str(tmp_path / "other"))

  links = []
  def symlink_then_stop(source, target):
    if links:
      raise KeyboardInterrupt
    links.append(target)
    os.link(source, target)
  monkeypatch.setattr(os, "symlink", symlink_then_stop)
  with pytest.raises(KeyboardInterrupt):
    celeba.link_subset(str(listing), data_dir, str(tmp_path / "sub"))
  assert sorted(os.listdir(tmp_path)) == ["full", "list.txt", "other"]


def test_the_subset_list_names_the_shared_images():
  if not os.path.isdir(SHARED_CELEBA):
    pytest.skip(f"shared CelebA data not found at {os.path.normpath(SHARED_CELEBA)}")
  with open(os.path.join(REPO_ROOT, "data", "celeba_subset.txt")) as f:
    listed = f.read().split()
  assert listed == sorted(os.listdir(os.path.join(SHARED_CELEBA, "img_align_celeba")))
