"""Downloads CelebA into --data_dir: `python -m draw_color.main --mode=data` (`make data`).

Fetches the aligned faces (img_align_celeba.zip, 1.4 GB) and the official split
(list_eval_partition.txt) from the CelebA authors' Google Drive, checks their md5s and
unpacks the images to DATA_DIR/img_align_celeba/. Whatever is already there is kept.
The ids and md5s are the ones torchvision's CelebA dataset uses.
"""

import glob
import hashlib
import html.parser
import http.client
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile

from draw_color.fileio import UserError, atomic_path
from draw_color.progress import Progress

DRIVE_URL = "https://drive.google.com/uc?export=download&id={}"
IMAGES_ZIP = "img_align_celeba.zip"
IMAGES_ID = "0B7EVK8r0v71pZjFTYXZWM3FlRnM"
IMAGES_MD5 = "00d2c5bc6d35e252742224ab0c1e8fcb"
IMAGES_COUNT = 202599
PARTITION_FILE = "list_eval_partition.txt"
PARTITION_ID = "0B7EVK8r0v71pY0NSMzRuSXJEVkk"
PARTITION_MD5 = "d32c9cbf5e040fd4025c592c306e6668"  # the original, with CRLF line ends
_BY_HAND = "see data/README.md to place the files by hand"


def fetch(url, dest, md5=None, log=print):
  """Downloads `url` to `dest` through a temporary name, passing Drive's confirmation page.

  With `md5`, a download whose md5 differs is deleted instead of renamed to `dest`.
  """
  name = os.path.basename(dest)
  opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
  try:
    response = opener.open(url, timeout=60)
    if response.headers.get_content_type() == "text/html":
      # Drive answers files too large to virus-scan with a page whose form confirms.
      page = response.read().decode("utf-8", "replace")
      response.close()
      response = opener.open(_confirmed_url(url, page, name), timeout=60)
      if response.headers.get_content_type() == "text/html":
        response.close()
        raise UserError(f"Google Drive sent a web page instead of {name}; {_BY_HAND}")
    with response, atomic_path(dest) as tmp, open(tmp, "wb") as f:
      total = int(response.headers.get("Content-Length") or 0)
      digest = hashlib.md5()
      done = 0
      shown = Progress(2., total=total or None)
      while True:
        block = response.read(1 << 20)
        if not block:
          break
        f.write(block)
        digest.update(block)
        done += len(block)
        tick = shown.update(done)
        if tick:
          of_total = f"/{total / 1e6:,.0f} MB, ETA {tick.eta:,.0f} s" if total else " MB"
          log(f"  {name}: {done / 1e6:,.0f}{of_total}, {tick.rate / 1e6:.1f} MB/s")
      if md5 is not None and digest.hexdigest() != md5:
        raise UserError(f"downloaded {name} has md5 {digest.hexdigest()}, expected {md5}; "
                        f"run `make data` again or {_BY_HAND}")
  # urllib's URLError and socket timeouts are OSErrors; a cut connection is an HTTPException.
  except (OSError, http.client.HTTPException) as e:
    raise UserError(f"cannot download {name} from {url}: {e}; {_BY_HAND}") from e
  log(f"downloaded {dest} ({done / 1e6:,.1f} MB)")


class _DownloadForm(html.parser.HTMLParser):
  """The action and hidden fields of the form on Drive's "can't scan for viruses" page."""

  def __init__(self):
    super().__init__()
    self.action = None
    self.fields = {}

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == "form" and attrs.get("id") == "download-form":
      self.action = attrs.get("action")
    elif tag == "input" and self.action and attrs.get("type") == "hidden" and attrs.get("name"):
      self.fields[attrs["name"]] = attrs.get("value") or ""


def _confirmed_url(url, page, name):
  """The URL that Drive's confirmation `page` (HTML text) leads to for the file at `url`."""
  form = _DownloadForm()
  form.feed(page)
  if form.action:
    return form.action + "?" + urllib.parse.urlencode(form.fields)
  token = re.search(r"confirm=([0-9A-Za-z_-]+)", page)  # the page Drive used before 2024
  if token:
    return url + "&confirm=" + token.group(1)
  if "Too many users" in page or "quota" in page.lower():
    raise UserError(f"Google Drive's download quota for {name} is used up; try again in a day "
                    f"or {_BY_HAND}")
  raise UserError(f"Google Drive sent an unexpected page instead of {name}; {_BY_HAND}")


def _md5(path):
  digest = hashlib.md5()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _check_member(zip_path, name):
  """Rejects a zip member that would land outside the directory it is unpacked into."""
  parts = name.replace("\\", "/").split("/")
  if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
    raise UserError(f"{zip_path} holds the unsafe path {name!r}; refusing to unpack it")


def check_and_unpack(zip_path, data_dir, md5=IMAGES_MD5, expected_count=IMAGES_COUNT,
                     log=print):
  """Checks the images zip and unpacks its .jpg files into DATA_DIR/img_align_celeba/.

  Files are unpacked into a temporary directory that is renamed into place once all are
  written, so an interrupted unpack leaves no partial image directory. `md5` or
  `expected_count` None skips that check.
  """
  if md5 is not None:
    got = _md5(zip_path)
    if got != md5:
      raise UserError(f"{zip_path} has md5 {got}, expected {md5}: it is incomplete or not the "
                      f"official file; delete it and run `make data` again")
  image_dir = os.path.join(data_dir, "img_align_celeba")
  if os.path.isdir(image_dir) and os.listdir(image_dir):
    raise UserError(f"{image_dir} already exists and is not empty; move it away to unpack "
                    f"{zip_path}")
  try:
    archive = zipfile.ZipFile(zip_path)
  except (zipfile.BadZipFile, OSError) as e:
    raise UserError(f"cannot open {zip_path} as a zip ({e}); delete it and run `make data` "
                    f"again") from e
  with archive:
    members = [member for member in archive.infolist() if not member.is_dir()]
    for member in members:
      _check_member(zip_path, member.filename)
    # The official zip holds img_align_celeba/*.jpg; taking base names accepts any folder.
    jpgs = [member for member in members if member.filename.endswith(".jpg")]
    if len({os.path.basename(member.filename) for member in jpgs}) != len(jpgs):
      raise UserError(f"{zip_path} holds two .jpg files with the same name")
    if expected_count is not None and len(jpgs) != expected_count:
      raise UserError(f"{zip_path} holds {len(jpgs):,} .jpg files, expected "
                      f"{expected_count:,}; delete it and run `make data` again")
    tmp = tempfile.mkdtemp(prefix=".img_align_celeba.", dir=data_dir)
    try:
      shown = Progress(2., total=len(jpgs))
      for done, member in enumerate(jpgs, 1):
        dest = os.path.join(tmp, os.path.basename(member.filename))
        with archive.open(member) as src, open(dest, "wb") as dst:
          shutil.copyfileobj(src, dst)
        tick = shown.update(done)
        if tick:
          log(f"  unpacked {done:,}/{len(jpgs):,} images, {tick.rate:,.0f}/s")
      os.chmod(tmp, 0o755)  # mkdtemp makes it private; the data directory should not be
      if os.path.isdir(image_dir):
        os.rmdir(image_dir)  # empty, checked above
      os.rename(tmp, image_dir)
    except (zipfile.BadZipFile, EOFError) as e:
      raise UserError(f"{zip_path} is damaged ({e}); delete it and run `make data` again") from e
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
  log(f"unpacked {len(jpgs):,} images to {image_dir}")


def download(data_dir, log=print):
  """Fetches whichever of the split file and the images DATA_DIR does not hold yet."""
  os.makedirs(data_dir, exist_ok=True)
  partition = os.path.join(data_dir, PARTITION_FILE)
  if os.path.exists(partition):
    log(f"{partition} already present")
  else:
    fetch(DRIVE_URL.format(PARTITION_ID), partition, PARTITION_MD5, log)
  image_dir = os.path.join(data_dir, "img_align_celeba")
  count = len(glob.glob(os.path.join(image_dir, "*.jpg")))
  if count:
    log(f"{image_dir} already holds {count:,} images; not downloading them")
    return
  zip_path = os.path.join(data_dir, IMAGES_ZIP)
  if os.path.exists(zip_path):
    log(f"using the already downloaded {zip_path}")
  else:
    fetch(DRIVE_URL.format(IMAGES_ID), zip_path, IMAGES_MD5, log)
  check_and_unpack(zip_path, data_dir, IMAGES_MD5, IMAGES_COUNT, log)
  os.remove(zip_path)
  log(f"removed {zip_path}")
