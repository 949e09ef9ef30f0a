"""Pictures of how a trained DRAW draws, and new faces from its prior (--mode=gif, sample).

Everything comes from the latest checkpoint in a logdir and the model settings in its
hparams.json. `make_gifs` writes into OUTPUT_DIR (default LOGDIR/gif):
  originals.png          the fixed batch (_fixed_batch) as a grid;
  reconstruction.gif     its canvases sigma(c_1)..sigma(c_T), one frame a step;
  attention.gif          each face's read and write windows of the step on a dark cell;
  attention_overlay.gif  the same windows over the original (left grid) and over the canvas
                         sigma(c_t) that step t's write produced (right grid);
  steps.png              one row per face (the first 8): the original, then each canvas;
  attention_steps.png    one row per face (the first 8): the original, then each step's
                         read and write windows on a dark cell;
  samples.gif            new faces from the prior, one frame a step, with the write windows;
  samples.png            their final canvases;
  attention.npz          the numbers behind the windows (_save_windows).
With sample_from="posteriors" the samples' noise comes from a Gaussian fitted to the train
faces' posteriors (evaluate.posterior_fit), not from the prior. The attention files are left
out for a model without attention. `make_samples` writes only the two samples files. Every
picture is upscaled by gif_scale and its grid cells are one upscaled pixel apart;
pictures.LEGEND gives the colours; GIFs show a step for 0.2 s and hold the last for 1 s. The
pictures come from the graph every mode uses (runs.build_graph), its noise drawn without
state from `seed`: the same seed, the same pictures, and the samples are the z that
--mode=eval with that seed and --num_samples measures.
"""

import collections
import os

from absl import logging
import numpy as np
import tensorflow as tf

from draw_color import celeba
from draw_color import datasets
from draw_color import evaluate
from draw_color import fileio
from draw_color import images as imaging
from draw_color import mnist
from draw_color import model
from draw_color import pictures
from draw_color import runs

tf1 = tf.compat.v1

GifConfig = collections.namedtuple(
    "GifConfig",
    [
        "logdir",  # Holds the checkpoint and its hparams.json.
        "output_dir",  # Where the pictures go; None for LOGDIR/gif.
        "data_dir",  # CelebA root of the fixed batch; None for the one hparams.json names.
        "crop_size",  # Centre crop of the fixed batch; None for hparams.json's.
        "num_samples",  # Faces drawn from the prior.
        "seed",  # Noise of the reconstructions and the samples.
        "gif_scale",  # Integer upscaling of every picture, so the windows show.
        "device",  # "auto", "cpu" or "gpu:N".
        "num_faces",  # How many of the fixed batch's faces the pictures show (at most
        #               datasets.FIXED_BATCH).
        "temperature",  # Scale of the samples' noise (runs.Graph.temperature); 1: the paper's.
        "sample_from",  # "prior", the model's; "posteriors", a Gaussian fitted to them
        #                 (evaluate.posterior_fit).
    ],
    defaults=(64, 1.0, "prior"))

STEPS_FACES = 8  # rows of steps.png
OVERLAY_GAP = 4  # pixels (before upscaling) between the two grids of attention_overlay.gif


def _fixed_batch(dataset, data_dir, crop_size, image_size):
  """64 images of the test split (all if fewer): float32 [B, A, A, C] in [0, 1].

  Images the model was not trained on, the same every run: CelebA's first 64 faces, 64
  digits evenly spaced through MNIST's test split, taken every STEPS_FACES-th first (0, 8,
  ..., 56, 1, 9, ...) so that each 8 in a row, steps.png's rows too, span the split. A
  CelebA subset without list_eval_partition.txt has every image in every split; one whose
  partition file puts none of its images in the test split falls back to all of them. Only
  these 64 faces are decoded, so that no cache of the whole test split is built for them.
  """
  if dataset == "mnist":
    # Neither the first nor in their order: the test split is sorted by digit, and steps.png's
    # 8 rows of evenly spaced digits in order were seven 0s and a 1.
    digits = mnist.load(data_dir, "test")  # [N, 28, 28, 1]
    n = min(datasets.FIXED_BATCH, len(digits))
    spaced = digits[::max(1, len(digits) // datasets.FIXED_BATCH)][:n]  # [n, 28, 28, 1]
    order = np.argsort(np.arange(n) % STEPS_FACES, kind="stable")  # 0, 8, ..., 1, 9, ...
    return datasets.fixed_batch(spaced[order], n)
  try:
    paths = celeba.list_images(data_dir, "test", log=logging.info)
  except fileio.UserError:
    # Any problem other than an empty test split recurs here and is reported.
    paths = celeba.list_images(data_dir, "all", log=logging.info)
    logging.info("no test images in %s; using the first of all its images", data_dir)
  pixels = np.stack([celeba.preprocess(p, crop_size, image_size)
                     for p in paths[:datasets.FIXED_BATCH]])
  return datasets.fixed_batch(pixels, len(pixels))


def _run(config, mcfg, checkpoint, batch=None, fitted=None):
  """Restores `checkpoint`, runs the sampler and, given a batch [B, A, A, C], DRAW on it; given
  uint8 images `fitted` [N, A, A, C], the sampler draws from a Gaussian fitted to their
  posteriors (evaluate.posterior_fit).

  Returns a dict of numpy values: step; samples [T, S, A, A, C] and sample_windows; with a
  batch, canvases [T, B, A, A, C], read_windows and write_windows. The windows are Windows
  of [T, S] or [T, B] arrays, and missing where the model has no such attention.
  """
  with tf.Graph().as_default():
    with tf.device(runs.device_scope(config.device)):
      graph = runs.build_graph(mcfg, config.seed, training=False)
    fetches = {"step": tf1.train.get_global_step(), "samples": graph.sampler.canvases,
               "sample_windows": graph.sampler.write_windows}
    feed = {graph.num_samples: config.num_samples, graph.temperature: config.temperature}
    if batch is not None:
      fetches.update(canvases=graph.draw.canvases, read_windows=graph.draw.read_windows,
                     write_windows=graph.draw.write_windows)
      # The eps of eq. 6 of evaluation's first batch: a noise step that training never takes.
      feed.update({graph.images: batch, graph.noise_step: -1})
    with tf1.Session(config=runs.session_config()) as sess:
      runs.restore(sess, checkpoint, config.logdir)
      if fitted is not None:
        feed.update(evaluate.posterior_fit(sess, graph, fitted))
      return sess.run({k: v for k, v in fetches.items() if v is not None}, feed)


def _step_windows(mcfg, read, write):
  """Windows of [T, B] arrays (or None) -> for each step t, the window_cells list of it."""
  centres = [(model.filter_centres(w.gx, w.delta, n, mcfg.compat),
              model.filter_centres(w.gy, w.delta, n, mcfg.compat), colour)  # [T, B, N] each
             for w, n, colour in ((read, mcfg.read_n, pictures.READ),
                                  (write, mcfg.write_n, pictures.WRITE)) if w is not None]
  return [[(mu_x[t], mu_y[t], colour) for mu_x, mu_y, colour in centres]
          for t in range(mcfg.timesteps)]


def _grid(cells, scale, cols=None):
  """[N, h, w, C] upscaled cells -> their grid, a gap of one upscaled pixel between them."""
  return imaging.grid(cells, cols=cols, pad=scale)


def _rows(first, steps, scale):
  """[F, h, w, 3] cells and [T, F, h, w, 3] cells of each step -> a grid of a row per face:
  its first cell, then its cell of each step."""
  cells = np.concatenate([first[None], steps])  # [1+T, F, h, w, 3]
  cells = cells.transpose(1, 0, 2, 3, 4).reshape((-1,) + cells.shape[2:])  # [F*(1+T), h, w, 3]
  return _grid(cells, scale, cols=len(steps) + 1)


def _save_windows(path, mcfg, out):
  """attention.npz: per step t and face b, each window as the filterbank used it.

  {read,write}_{gx,gy,delta,sigma2,gamma} [T, B] (positions in pixels, 0..A-1);
  {read,write}_mu_{x,y} [T, B, N] the filter centres; {read,write}_n; image_size; compat;
  step (the checkpoint's global step). The entries of a window the model lacks are left out.
  """
  arrays = {"image_size": mcfg.image_size, "compat": mcfg.compat, "step": out["step"]}
  for name, n in (("read", mcfg.read_n), ("write", mcfg.write_n)):
    w = out.get(name + "_windows")
    if w is None:
      continue
    arrays.update({"%s_%s" % (name, field): v for field, v in w._asdict().items()})
    arrays[name + "_n"] = n
    arrays[name + "_mu_x"] = model.filter_centres(w.gx, w.delta, n, mcfg.compat)
    arrays[name + "_mu_y"] = model.filter_centres(w.gy, w.delta, n, mcfg.compat)
  with fileio.atomic_path(path) as tmp:
    np.savez(tmp, **arrays)


def _sample_pictures(mcfg, out, scale):
  """{file name: picture, or an iterator of GIF frames, drawn as they are written} of the
  samples."""
  canvases = imaging.to_uint8(out["samples"])  # [T, S, A, A, C]
  windows = _step_windows(mcfg, None, out.get("sample_windows"))
  return {
      "samples.gif": (_grid(pictures.window_cells(c, w, scale), scale)
                      for c, w in zip(canvases, windows)),
      "samples.png": _grid(pictures.upscale(canvases[-1], scale), scale),
  }


def _batch_pictures(mcfg, batch, out, scale):
  """{file name: picture, or an iterator of GIF frames} of the fixed batch; the attention GIFs
  need attention."""
  originals = imaging.to_uint8(batch)  # [B, A, A, C]
  canvases = imaging.to_uint8(out["canvases"])  # [T, B, A, A, C]
  faces = min(STEPS_FACES, len(batch))
  found = {
      "originals.png": _grid(pictures.upscale(originals, scale), scale),
      "reconstruction.gif": (_grid(pictures.upscale(c, scale), scale) for c in canvases),
      "steps.png": _rows(pictures.upscale(originals[:faces], scale),
                         pictures.upscale(canvases[:, :faces], scale), scale),
  }
  windows = _step_windows(mcfg, out.get("read_windows"), out.get("write_windows"))
  if windows[0]:
    dark = pictures.background(len(batch), mcfg.image_size)
    cells = np.stack([pictures.window_cells(dark, w, scale) for w in windows])  # [T, B, ...]
    found["attention.gif"] = (_grid(c, scale) for c in cells)
    found["attention_steps.png"] = _rows(pictures.upscale(pictures.rgb(originals[:faces]), scale),
                                         cells[:, :faces], scale)
    found["attention_overlay.gif"] = (
        pictures.side_by_side(_grid(pictures.window_cells(originals, w, scale), scale),
                              _grid(pictures.window_cells(c, w, scale), scale),
                              OVERLAY_GAP * scale) for c, w in zip(canvases, windows))
  return found


def _write(folder, found):
  """Writes {file name: picture or GIF frames} into `folder`; returns the paths."""
  paths = []
  for name, picture in found.items():
    path = os.path.join(folder, name)
    if name.endswith(".gif"):
      imaging.save_gif(path, picture)
    else:
      imaging.save_png(path, picture)
    paths.append(path)
  return paths


def _output_dir(config):
  return config.output_dir or os.path.join(config.logdir, "gif")


def _check_memory(config, mcfg):
  """UserError where the samples' pictures cannot fit in the machine's memory."""
  t, s, a, scale = mcfg.timesteps, config.num_samples, mcfg.image_size, config.gif_scale
  # At least every step's canvases, float32 as fetched, and their GIF frames, upscaled RGB
  # (the gaps between cells, the copies and the GIF encoder's palette frames come on top).
  needed = t * s * (a * a * mcfg.channels * 4 + (a * scale) ** 2 * 3)
  runs.check_memory(needed, "--num_samples=%d at --gif_scale=%d" % (s, scale),
                    "the pictures of the %d steps of each sample" % t)


def make_gifs(config):
  """Writes every picture of the module docstring from the latest checkpoint; their paths."""
  checkpoint, mcfg, hparams = runs.latest_run(config.logdir)
  _check_memory(config, mcfg)
  data = hparams["data"]
  data_dir = config.data_dir or data["data_dir"]
  batch = _fixed_batch(data.get("dataset", "celeba"), data_dir,
                       config.crop_size or data["crop_size"],
                       mcfg.image_size)[:config.num_faces]  # [F, A, A, C]
  out = _run(config, mcfg, checkpoint, batch,
             evaluate.fit_images(config, hparams, mcfg.image_size))
  folder = _output_dir(config)
  found = _batch_pictures(mcfg, batch, out, config.gif_scale)
  found.update(_sample_pictures(mcfg, out, config.gif_scale))
  paths = _write(folder, found)
  if "read_windows" in out or "write_windows" in out:
    path = os.path.join(folder, "attention.npz")
    _save_windows(path, mcfg, out)
    paths.append(path)
  logging.info("drew %d images of %s and %d samples at step %d into %s", len(batch), data_dir,
               config.num_samples, out["step"], folder)
  return paths


def make_samples(config):
  """Writes samples.gif and samples.png from the latest checkpoint; returns their paths."""
  checkpoint, mcfg, hparams = runs.latest_run(config.logdir)
  _check_memory(config, mcfg)
  out = _run(config, mcfg, checkpoint,
             fitted=evaluate.fit_images(config, hparams, mcfg.image_size))
  folder = _output_dir(config)
  paths = _write(folder, _sample_pictures(mcfg, out, config.gif_scale))
  logging.info("drew %d samples at step %d into %s", config.num_samples, out["step"], folder)
  return paths
