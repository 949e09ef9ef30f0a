"""Atomic file writes, the one-line user errors shared by the whole package, and the lock
that gives a logdir to one training process.

Every output (checkpoint metadata, caches, images, GIFs, JSON) is written to a temporary
name in the same directory and renamed over the target, so an interrupted run never
leaves a half-written file where a complete one is expected.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile


class UserError(Exception):
  """A problem the user can fix (bad file, flag or data); shown as one line, no traceback."""


# A write that fails for want of room or permission: a full disk or quota, a file-size limit,
# a read-only or foreign folder; or where the folder to write in is a file (a mistyped
# --output_dir or --logdir: makedirs says EEXIST, a path through a file ENOTDIR) or cannot be
# made (through a link to what is gone, an unmounted drive: ENOENT).
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EEXIST, errno.ENOTDIR, errno.ENOENT)
# What a writer killed mid-write leaves: atomic_path's .NAME.RANDOM.tmp.EXT, and TensorFlow's
# NAME.tempstateDIGITS (a checkpoint's files) and NAME.tmpHEX (`checkpoint`, .meta).
TEMPORARY = re.compile(r"^\..+\.tmp(\.\w+)?$|\.tempstate\d+$|\.tmp[0-9a-f]{32}$")


def error_reason(error):
  """The line of a tf.errors.OpError (its .message) that says what failed, without
  TensorFlow's stack."""
  lines = error.message.splitlines()
  for line, after in zip(lines, lines[1:]):
    if after.strip().startswith("[["):  # the node's name follows the reason
      return line.strip()
  return lines[0] if lines else type(error).__name__


def remove_temporaries(folder):
  """Removes the temporaries of killed writers from `folder` (not below it); their paths."""
  names = os.listdir(folder) if os.path.isdir(folder) else []
  paths = [os.path.join(folder, n) for n in names if TEMPORARY.search(n)]
  for path in paths:
    os.remove(path)
  return paths


@contextlib.contextmanager
def atomic_path(path, suffix=None):
  """Yields a temporary path beside `path`; renames it over `path` if the block succeeds.

  A write that fails for want of room or permission (WRITE_ERRNOS) is a UserError naming
  `path`, the file that was there left as it was.

  `suffix` defaults to the target's extension so writers that infer the format from
  the file name (imageio, numpy) still do the right thing.
  """
  directory = os.path.dirname(os.path.abspath(path))
  if suffix is None:
    suffix = os.path.splitext(path)[1]
  tmp, in_block = None, False
  try:
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp" + suffix, dir=directory)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private to their writer
    in_block = True
    yield tmp
    in_block = False
    os.replace(tmp, path)
  except OSError as e:
    # In the block, ENOENT is of something the writer reads, not of `path`.
    if e.errno not in WRITE_ERRNOS or (in_block and e.errno == errno.ENOENT):
      raise
    raise UserError(f"cannot write {path} ({e.strerror}); what was there before is kept") from e
  finally:
    if tmp and os.path.exists(tmp):
      os.remove(tmp)


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write(text)


def write_json(path, obj):
  """Writes `obj` as indented, key-sorted JSON to `path` atomically."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


LOCK = ".lock"  # In a folder held by `exclusive`: the pid of the process that holds it.
# A file system that cannot lock (some network mounts): the folder is used unlocked.
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


@contextlib.contextmanager
def exclusive(folder, log=print):
  """Holds an exclusive lock on `folder` (created if need be) while the block runs.

  Two training processes writing one logdir would each overwrite the other's checkpoint list
  and remove the temporaries of the other's writes, and a resume would then pick up either;
  so a second process gets a UserError naming the folder and the holder's pid. The lock is
  flock(2)'s on FOLDER/.lock: the kernel releases it when its process ends, however it ends,
  so a killed run leaves no stale lock.
  """
  path = os.path.join(folder, LOCK)
  try:
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    if e.errno not in WRITE_ERRNOS:
      raise
    raise UserError(f"cannot write {path} ({e.strerror}); choose a --logdir you can write") from e
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
      raise UserError(f"{folder} is in use by another process (pid {holder}) that trains into "
                      f"it; wait for it or stop it (Ctrl-C saves), or choose another --logdir")
    except OSError as e:
      if e.errno not in _NO_LOCKS:
        raise
      log(f"warning: cannot lock {path} ({e.strerror}): make sure that no other process "
          f"trains into {folder}")
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    yield
  finally:
    os.close(fd)  # releases the lock
