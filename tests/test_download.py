"""Tests for unpacking and checking the CelebA download, on small archives made here.

Nothing here touches the network: `fetch` is replaced where the download flow needs it.
"""

import hashlib
import io
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from draw_color import download
from draw_color.fileio import UserError


def _jpeg_bytes(seed):
  pixels = np.random.default_rng(seed).integers(0, 256, [6, 5, 3], dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG")
  return buffer.getvalue()


def _make_zip(path, members):
  """Writes a zip of {member name: bytes}; returns its md5."""
  with zipfile.ZipFile(path, "w") as archive:
    for name, data in members.items():
      archive.writestr(name, data)
  return hashlib.md5(path.read_bytes()).hexdigest()


def _official_like(count):
  """{member: bytes} laid out like img_align_celeba.zip: a folder entry, then the jpgs."""
  members = {"img_align_celeba/": b""}
  members.update({f"img_align_celeba/{i:06d}.jpg": _jpeg_bytes(i) for i in range(1, count + 1)})
  return members


def test_check_and_unpack_extracts_all_jpgs(tmp_path):
  members = _official_like(3)
  zip_path = tmp_path / "img_align_celeba.zip"
  md5 = _make_zip(zip_path, members)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  log = []
  download.check_and_unpack(str(zip_path), str(data_dir), md5=md5, expected_count=3,
                            log=log.append)
  image_dir = data_dir / "img_align_celeba"
  assert sorted(os.listdir(image_dir)) == ["000001.jpg", "000002.jpg", "000003.jpg"]
  for name in os.listdir(image_dir):
    assert (image_dir / name).read_bytes() == members[f"img_align_celeba/{name}"]
  assert os.listdir(data_dir) == ["img_align_celeba"]  # no temporary directory left
  assert "unpacked 3 images" in log[-1]


def test_check_and_unpack_into_empty_image_dir(tmp_path):
  zip_path = tmp_path / "images.zip"
  md5 = _make_zip(zip_path, _official_like(2))
  (tmp_path / "img_align_celeba").mkdir()
  download.check_and_unpack(str(zip_path), str(tmp_path), md5=md5, expected_count=2,
                            log=lambda _: None)
  assert len(os.listdir(tmp_path / "img_align_celeba")) == 2


def test_bad_md5_names_file_and_unpacks_nothing(tmp_path):
  zip_path = tmp_path / "img_align_celeba.zip"
  _make_zip(zip_path, _official_like(2))
  with pytest.raises(UserError, match=r"img_align_celeba\.zip has md5 .*expected 0+"):
    download.check_and_unpack(str(zip_path), str(tmp_path), md5="0" * 32, expected_count=2)
  assert os.listdir(tmp_path) == ["img_align_celeba.zip"]


def test_wrong_count_unpacks_nothing(tmp_path):
  zip_path = tmp_path / "img_align_celeba.zip"
  md5 = _make_zip(zip_path, _official_like(2))
  with pytest.raises(UserError, match="holds 2 .jpg files, expected 202,599"):
    download.check_and_unpack(str(zip_path), str(tmp_path), md5=md5)
  assert os.listdir(tmp_path) == ["img_align_celeba.zip"]


@pytest.mark.parametrize("evil", ["../evil.jpg", "/tmp/evil.jpg", "img_align_celeba/../../e.jpg",
                                  "..\\evil.jpg", "C:/evil.jpg"])
def test_unsafe_member_path_is_rejected(tmp_path, evil):
  members = _official_like(2)
  members[evil] = _jpeg_bytes(0)
  zip_path = tmp_path / "img_align_celeba.zip"
  md5 = _make_zip(zip_path, members)
  data_dir = tmp_path / "a" / "b"
  data_dir.mkdir(parents=True)
  with pytest.raises(UserError, match="unsafe path"):
    download.check_and_unpack(str(zip_path), str(data_dir), md5=md5, expected_count=None)
  assert os.listdir(data_dir) == []
  assert sorted(os.listdir(tmp_path)) == ["a", "img_align_celeba.zip"]


def test_not_a_zip_and_existing_images_are_errors(tmp_path):
  zip_path = tmp_path / "img_align_celeba.zip"
  zip_path.write_bytes(b"not a zip")
  with pytest.raises(UserError, match=r"cannot open .*img_align_celeba\.zip"):
    download.check_and_unpack(str(zip_path), str(tmp_path), md5=None, expected_count=None)
  _make_zip(zip_path, _official_like(1))
  (tmp_path / "img_align_celeba").mkdir()
  (tmp_path / "img_align_celeba" / "mine.jpg").write_bytes(b"x")
  with pytest.raises(UserError, match="not empty"):
    download.check_and_unpack(str(zip_path), str(tmp_path), md5=None, expected_count=None)
  assert os.listdir(tmp_path / "img_align_celeba") == ["mine.jpg"]


def test_present_data_is_left_alone(tmp_path, monkeypatch):
  def no_network(*args, **kwargs):
    raise AssertionError("fetch called although the data is present")
  monkeypatch.setattr(download, "fetch", no_network)
  (tmp_path / "img_align_celeba").mkdir()
  (tmp_path / "img_align_celeba" / "000001.jpg").write_bytes(_jpeg_bytes(1))
  (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0")
  log = []
  download.download(str(tmp_path), log=log.append)
  assert any("already present" in line for line in log)
  assert any("already holds 1 images" in line for line in log)


def test_download_fetches_checks_unpacks_and_removes_zip(tmp_path, monkeypatch):
  source = tmp_path / "source"
  source.mkdir()
  zip_md5 = _make_zip(source / "img_align_celeba.zip", _official_like(3))
  (source / "list_eval_partition.txt").write_text("000001.jpg 0\n")
  fetched = []

  def fake_fetch(url, dest, md5=None, log=print):
    fetched.append(url)
    shutil.copy(source / os.path.basename(dest), dest)
  monkeypatch.setattr(download, "fetch", fake_fetch)
  monkeypatch.setattr(download, "IMAGES_MD5", zip_md5)
  monkeypatch.setattr(download, "IMAGES_COUNT", 3)
  data_dir = tmp_path / "data" / "celeba"
  download.download(str(data_dir), log=lambda _: None)
  assert fetched == [download.DRIVE_URL.format(download.PARTITION_ID),
                     download.DRIVE_URL.format(download.IMAGES_ID)]
  assert sorted(os.listdir(data_dir)) == ["img_align_celeba", "list_eval_partition.txt"]
  assert len(os.listdir(data_dir / "img_align_celeba")) == 3


def test_confirmation_page_form_gives_download_url():
  page = """<html><body><form id="download-form"
      action="https://drive.usercontent.google.com/download" method="get">
      <input type="submit" value="Download anyway">
      <input type="hidden" name="id" value="FILEID">
      <input type="hidden" name="export" value="download">
      <input type="hidden" name="confirm" value="t">
      <input type="hidden" name="uuid" value="1234-abcd"></form></body></html>"""
  url = download._confirmed_url("https://drive.google.com/uc?id=FILEID", page, "x.zip")
  assert url == ("https://drive.usercontent.google.com/download"
                 "?id=FILEID&export=download&confirm=t&uuid=1234-abcd")
  old_page = '<a href="/uc?export=download&amp;confirm=AbC_1&amp;id=FILEID">Download</a>'
  assert download._confirmed_url("https://drive.google.com/uc?id=FILEID", old_page,
                                 "x.zip").endswith("&confirm=AbC_1")
  with pytest.raises(UserError, match="quota for x.zip"):
    download._confirmed_url("u", "<p>Too many users have viewed or downloaded this file</p>",
                            "x.zip")
