"""Atomic file writes and the one-line user error shared by the whole package.

Every output (checkpoint metadata, caches, images, GIFs, JSON) is written to a temporary
name in the same directory and renamed over the target, so an interrupted run never
leaves a half-written file where a complete one is expected.
"""

import contextlib
import json
import os
import tempfile


class UserError(Exception):
  """A problem the user can fix (bad file, flag or data); shown as one line, no traceback."""


@contextlib.contextmanager
def atomic_path(path, suffix=None):
  """Yields a temporary path beside `path`; renames it over `path` if the block succeeds.

  `suffix` defaults to the target's extension so writers that infer the format from
  the file name (imageio, numpy) still do the right thing.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  if suffix is None:
    suffix = os.path.splitext(path)[1]
  fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix,
                             dir=directory)
  os.close(fd)
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their writer
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write(text)


def write_json(path, obj):
  """Writes `obj` as indented, key-sorted JSON to `path` atomically."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
