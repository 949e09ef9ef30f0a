"""CelebA faces for DRAW: file lists, centre crop + resize and a uint8 cache.

The 178x218 aligned faces are centre cropped to 108x108 and resized to 64x64 (the DCGAN
recipe) and decoded once into a uint8 `.npy` cache that later runs memory-map; datasets.py
serves them (as MNIST's digits) in batches.
"""

import concurrent.futures
import hashlib
import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

from draw_color.fileio import UserError, atomic_path, write_json
from draw_color.progress import Progress

SPLITS = ("train", "valid", "test", "all")
_PARTITION_IDS = {"train": "0", "valid": "1", "test": "2"}  # list_eval_partition.txt codes
_GET_DATA = "run `make data` or see data/README.md"
_noted_no_partition = set()  # data dirs already told that they have no partition file


def list_images(data_dir, split, log=print):
  """Returns the sorted paths of the `split` images under DATA_DIR/img_align_celeba.

  The official DATA_DIR/list_eval_partition.txt picks the split; files it lists but that are
  not on disk are left out, so a subset of CelebA works. Without it every image is used,
  whatever the split.
  """
  if split not in SPLITS:
    raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
  image_dir = os.path.join(data_dir, "img_align_celeba")
  if not os.path.isdir(image_dir):
    raise UserError(f"no CelebA images: {image_dir} does not exist; {_GET_DATA}")
  names = sorted(name for name in os.listdir(image_dir) if name.endswith(".jpg"))
  if not names:
    raise UserError(f"no CelebA images: {image_dir} holds no .jpg files; {_GET_DATA}")
  partition_path = os.path.join(data_dir, "list_eval_partition.txt")
  if os.path.exists(partition_path):
    if split != "all":
      in_split = _read_partition(partition_path)[_PARTITION_IDS[split]]
      names = [name for name in names if name in in_split]
      if not names:
        raise UserError(f"none of the images in {image_dir} are in the {split} split of "
                        f"{partition_path}; {_GET_DATA}")
  elif data_dir not in _noted_no_partition:
    _noted_no_partition.add(data_dir)
    log(f"note: {partition_path} not found; using all {len(names):,} images for every split, "
        "so the valid and test numbers are of the images training sees")
  return [os.path.join(image_dir, name) for name in names]


def _read_partition(path):
  """Returns {"0": train names, "1": valid names, "2": test names} from list_eval_partition.txt."""
  splits = {code: set() for code in _PARTITION_IDS.values()}
  with open(path) as f:
    for line_number, line in enumerate(f, 1):
      fields = line.split()  # also strips the CRLF of the original file
      if not fields:
        continue
      if len(fields) != 2 or fields[1] not in splits:
        raise UserError(f"{path}:{line_number}: expected '<file> <0|1|2>', got {line.strip()!r}")
      splits[fields[1]].add(fields[0])
  return splits


def link_subset(list_path, data_dir, subset_dir, log=print):
  """Makes SUBSET_DIR a CelebA folder of the images named in `list_path`, one name a line.

  SUBSET_DIR/img_align_celeba/NAME and SUBSET_DIR/list_eval_partition.txt are symbolic links
  into DATA_DIR, so the subset costs no copy and the split stays the official one. It is built
  under a temporary name and renamed, so an interrupted call leaves no half subset; a
  SUBSET_DIR that already holds exactly these images is left as it is.

  Returns:
    the number of images linked (or already there).
  """
  try:
    with open(list_path) as f:
      names = [line.strip() for line in f if line.strip()]
  except OSError as e:
    raise UserError(f"cannot read the subset list {list_path}: {e.strerror}") from e
  bad = [name for name in names if os.sep in name or not name.endswith(".jpg")]
  if bad or not names:
    raise UserError(f"{list_path} should name .jpg files of img_align_celeba, one a line; "
                    f"got {bad[0]!r}" if bad else f"{list_path} names no images")
  image_dir = os.path.abspath(os.path.join(data_dir, "img_align_celeba"))
  partition = os.path.abspath(os.path.join(data_dir, "list_eval_partition.txt"))
  if not os.path.isdir(image_dir):
    raise UserError(f"no CelebA images: {image_dir} does not exist; {_GET_DATA}")
  if not os.path.isfile(partition):
    raise UserError(f"{partition} not found: the subset takes its splits from it; {_GET_DATA}")
  missing = [name for name in names if not os.path.isfile(os.path.join(image_dir, name))]
  if missing:
    raise UserError(f"{len(missing):,} of the {len(names):,} images in {list_path} are not in "
                    f"{image_dir} (the first: {missing[0]}); it needs the whole of CelebA")
  subset_images = os.path.join(subset_dir, "img_align_celeba")
  if os.path.exists(subset_dir):
    there = sorted(os.listdir(subset_images)) if os.path.isdir(subset_images) else None
    if there != sorted(names):
      raise UserError(f"{subset_dir} exists and is not the subset of {list_path}; remove it "
                      f"or choose another --subset_dir")
    log(f"{subset_dir} already holds the {len(names):,} images of {list_path}")
    return len(names)
  parent = os.path.dirname(os.path.abspath(subset_dir))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix="." + os.path.basename(subset_dir) + ".", dir=parent)
  try:
    os.mkdir(os.path.join(tmp, "img_align_celeba"))
    for name in names:
      os.symlink(os.path.join(image_dir, name), os.path.join(tmp, "img_align_celeba", name))
    os.symlink(partition, os.path.join(tmp, "list_eval_partition.txt"))
    os.rename(tmp, subset_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  log(f"linked the {len(names):,} images of {list_path} from {image_dir} into {subset_dir}")
  return len(names)


def preprocess(path, crop_size=108, image_size=64):
  """Decodes one image, centre crops it to crop_size and resizes it.

  Returns:
    uint8 [image_size, image_size, 3].
  """
  return _crop_resize(_read_rgb(path), path, crop_size, image_size)


def _read_rgb(path):
  """Decodes `path` to an RGB PIL image; UserError naming the file if that fails."""
  try:
    with Image.open(path) as image:
      return image.convert("RGB")
  # Pillow reports broken or truncated files as OSError, and some bad headers as the others.
  except (OSError, ValueError, SyntaxError) as e:
    raise UserError(f"cannot read image {path}: {e}") from e


def _crop_resize(image, path, crop_size, image_size):
  """Centre crop as in carpedm20/DCGAN-tensorflow's center_crop, then bilinear resize."""
  w, h = image.size
  if crop_size > min(w, h):
    raise UserError(f"crop size {crop_size} is larger than image {path} ({w}x{h})")
  top = int(round((h - crop_size) / 2.))
  left = int(round((w - crop_size) / 2.))
  image = image.crop((left, top, left + crop_size, top + crop_size))
  return np.asarray(image.resize((image_size, image_size), Image.BILINEAR), dtype=np.uint8)


def _preprocess_chunk(paths, crop_size, image_size):
  """Worker: preprocesses `paths`, skipping unreadable files.

  Returns:
    uint8 [len(paths), image_size, image_size, 3] (zeros where a file failed) and
    {index in chunk: error message} for the files that failed.
  """
  images = np.zeros([len(paths), image_size, image_size, 3], np.uint8)
  failed = {}
  for k, path in enumerate(paths):
    try:
      image = _read_rgb(path)
    except UserError as e:
      failed[k] = str(e)
      continue
    # Outside the try: a crop larger than the images is a setting to fix, not a file to skip.
    images[k] = _crop_resize(image, path, crop_size, image_size)
  return images, failed


def default_cache_dir(data_dir):
  """DATA_DIR/cache when DATA_DIR is writable, else $XDG_CACHE_HOME/draw_color (~/.cache)."""
  # Root passes os.access everywhere; a directory without write bits is still meant read-only.
  if os.access(data_dir, os.W_OK) and os.stat(data_dir).st_mode & 0o222:
    return os.path.join(data_dir, "cache")
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "draw_color")


def cache_path(paths, split, crop_size, image_size, cache_dir):
  """The cache file for this image list; its `.json` sidecar has the same stem.

  The name holds a hash of the file names, sizes and modification times (in seconds, which a
  move or `cp -p` keeps), so adding, removing or replacing images builds a new cache, and two
  folders of like-named images that share a --cache_dir (the default where DATA_DIR is
  read-only) never share one.
  """
  digest = hashlib.sha1()
  for path in paths:
    try:
      status = os.stat(path)
      size, mtime = status.st_size, int(status.st_mtime)
    except OSError:  # a broken link: the build warns of it and skips it
      size = mtime = -1
    digest.update(f"{os.path.basename(path)} {size} {mtime}\n".encode())
  digest = digest.hexdigest()[:10]
  name = f"celeba-{split}-crop{crop_size}-{image_size}px-{len(paths)}img-{digest}.npy"
  return os.path.join(cache_dir, name)


def load(data_dir, split="train", crop_size=108, image_size=64, cache_dir=None, workers=None,
         log=print):
  """Returns the preprocessed images of a split, building the cache on first use.

  The cache is built by `workers` threads (default: all cores). Unreadable images are
  skipped with a warning; the kept file names, in row order, are in the cache's `.json`
  sidecar.

  Returns:
    read-only memory-mapped uint8 [N, image_size, image_size, 3].
  """
  paths = list_images(data_dir, split, log=log)
  if cache_dir is None:
    cache_dir = default_cache_dir(data_dir)
  path = cache_path(paths, split, crop_size, image_size, cache_dir)
  workers = workers or os.cpu_count() or 1
  if not os.path.exists(path):
    _build(path, paths, crop_size, image_size, workers, log)
  images, problem = _open_cache(path, image_size)
  if problem:
    # Derived data: a damaged cache (truncated by a full disk, say) is built again.
    log(f"warning: cache {path} is damaged ({problem}); rebuilding it")
    _build(path, paths, crop_size, image_size, workers, log)
    images, problem = _open_cache(path, image_size)
    if problem:
      raise UserError(f"cannot read cache {path} just built ({problem}); check --cache_dir")
  return images


def _open_cache(path, image_size):
  """(the memory-mapped cache at `path`, None), or (None, what is wrong with it)."""
  try:
    images = np.load(path, mmap_mode="r")
  except (OSError, ValueError) as e:
    return None, str(e)
  if images.dtype != np.uint8 or images.shape[1:] != (image_size, image_size, 3):
    return None, f"it holds {images.dtype} {images.shape}, not uint8 [N, {image_size}, " \
                 f"{image_size}, 3]"
  return images, None


def _build(path, paths, crop_size, image_size, workers, log):
  """Preprocesses `paths` into the uint8 .npy cache at `path` and its .json sidecar."""
  n = len(paths)
  workers = min(workers, n)
  log(f"building {path} from {n:,} images with {workers} threads")
  chunk = max(1, min(256, -(-n // (4 * workers))))  # several chunks per worker, for balance
  chunks = [paths[i:i + chunk] for i in range(0, n, chunk)]
  kept, skipped = [], []
  start = time.monotonic()
  shown = Progress(2., total=n)
  with atomic_path(path) as tmp:
    images = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                       shape=(n, image_size, image_size, 3))
    # Threads, not processes: Pillow releases the GIL while it decodes and resizes (2 threads
    # run ~1.6x one on 2 cores), and processes would have to be spawned (forking a process
    # that runs TensorFlow can deadlock), re-importing TensorFlow in every worker.
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
      results = pool.map(_preprocess_chunk, chunks, [crop_size] * len(chunks),
                         [image_size] * len(chunks))
      done = 0
      for chunk_paths, (chunk_images, failed) in zip(chunks, results):
        for k, chunk_path in enumerate(chunk_paths):
          if k in failed:
            log(f"warning: {failed[k]}; skipping it")
            skipped.append(chunk_path)
          else:
            images[len(kept)] = chunk_images[k]
            kept.append(chunk_path)
        done += len(chunk_paths)
        tick = shown.update(done)
        if tick:
          log(f"  {done:,}/{n:,} images, {tick.rate:,.0f} images/s, ETA {tick.eta:,.0f} s")
    finally:
      # Otherwise an error (or Ctrl-C) would first wait for every queued chunk to be decoded.
      pool.shutdown(cancel_futures=True)
    if not kept:
      raise UserError(f"none of the {n:,} images in {os.path.dirname(paths[0])} could be read")
    images.flush()
    if skipped:
      # The .npy header fixes the row count, so drop the unused rows with a copy.
      with atomic_path(tmp) as compact:
        np.save(compact, images[:len(kept)])
    del images
    write_json(os.path.splitext(path)[0] + ".json", {
        "files": [os.path.basename(p) for p in kept],
        "skipped": [os.path.basename(p) for p in skipped],
        "image_dir": os.path.abspath(os.path.dirname(paths[0])),
        "crop_size": crop_size,
        "image_size": image_size,
    })
  seconds = time.monotonic() - start
  log(f"cached {len(kept):,} images in {seconds:.1f} s ({len(kept) / seconds:,.0f} images/s)"
      + (f"; skipped {len(skipped)} unreadable file(s)" if skipped else ""))
