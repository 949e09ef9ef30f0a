"""Tiny CelebA-like and MNIST-like data made by the tests themselves (the real data may not be
shipped), the training settings and checkpoint reading the training tests share, and the
command line run as a user runs it."""

import contextlib
import logging as std_logging
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

from draw_color import model
from draw_color import train

# The model most training tests train: 8x8 faces, T = 2, z of 2, 8-unit LSTMs, 3x3 windows.
TINY_RUN = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8,
                             read_n=3, write_n=3)


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


def run_config(data_dir, logdir, **overrides):
  """Training (the `model` override) on make_celeba(root, 10) in batches of 4: 3 steps an
  epoch, the last one partial; 4 steps, a checkpoint every 2."""
  values = dict(dataset="celeba", data_dir=data_dir, split="all", crop_size=24,
                cache_dir=os.path.join(data_dir, "cache"), epochs=10, batch_size=4,
                max_steps=4, seed=1, logdir=str(logdir), checkpoint_every=2,
                keep_checkpoints=2, image_every=2, eval_every=0, progress_secs=0.0,
                device="cpu")
  values.update(overrides)
  return train.RunConfig(**values)


def checkpoint_weights(logdir):
  """{variable name: value} of the latest checkpoint in logdir."""
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(logdir)))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def script_valid_bounds(monkeypatch, bounds):
  """Makes training's valid evaluations report `bounds`, one after another, in place of the
  bound they measure (the rest of each evaluation as measured)."""
  bounds, real = iter(bounds), train.evaluate.evaluate
  monkeypatch.setattr(train.evaluate, "evaluate",
                      lambda *args, **kw: dict(real(*args, **kw), bound=next(bounds)))


MAIN = (sys.executable, "-m", "draw_color.main")
TIMEOUT = 300  # seconds a CLI run of the tests may take


def quiet_env(**extra):
  """The environment of a CLI run: this one, TensorFlow's C++ log off, `extra` added."""
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def run_main(*flags, command=MAIN, file_size_limit=None):
  """Runs `command` (the CLI by default) with `flags`, TensorFlow's C++ log off; returns the
  CompletedProcess with its output as text. With a limit, no file it writes may grow beyond
  that many bytes (as on a full disk: the write fails with EFBIG, SIGXFSZ ignored)."""
  def limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
  return subprocess.run([*command, *flags], env=quiet_env(), capture_output=True, text=True,
                        timeout=TIMEOUT,
                        preexec_fn=limit if file_size_limit else None)


@contextlib.contextmanager
def parsing():
  """draw_color.main's FLAGS, to parse in this process (a subprocess imports TensorFlow for
  seconds); unparsed afterwards, and the absl logger's level restored: unparsing sets it to
  WARNING, and later tests read its INFO lines."""
  from draw_color import main  # pylint: disable=import-outside-toplevel
  level = std_logging.getLogger("absl").level
  try:
    yield main.FLAGS
  finally:
    main.FLAGS.unparse_flags()
    std_logging.getLogger("absl").setLevel(level)


def refusal(*flags):
  """The message with which draw_color.main's flag parsing refuses `flags`, parsed in this
  process; None where it takes them."""
  from absl.flags import IllegalFlagValueError  # pylint: disable=import-outside-toplevel
  with parsing() as parse:
    try:
      parse(["draw_color", *flags])
    except IllegalFlagValueError as e:
      return str(e)
  return None
