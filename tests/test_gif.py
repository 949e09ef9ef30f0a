"""Pictures from a tiny checkpoint trained here: files, sizes, seeds, refusals, the CLI."""

import glob
import json
import os
import re
import shutil

import imageio.v3 as iio
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

import numpy_draw
from draw_color import celeba
from draw_color import gif
from draw_color import images as imaging
from draw_color import mnist
from draw_color import model
from draw_color import pictures
from draw_color import runs
from draw_color import train
from draw_color.fileio import UserError
from fakes import make_celeba
from fakes import make_mnist
from fakes import run_main

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=8, timesteps=3, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3)
FACES = 10  # the whole fixed batch: a 4 x 3 grid
SAMPLES = 5  # a 3 x 2 grid
SCALE = 3
GIFS = ["attention.gif", "attention_overlay.gif", "reconstruction.gif", "samples.gif"]
STILLS = ["attention.npz", "attention_steps.png", "originals.png", "samples.png", "steps.png"]


def grid_shape(rows, cols):
  """[H, W] of a grid of upscaled 8-pixel cells, one upscaled pixel apart."""
  step = (TINY.image_size + 1) * SCALE
  return rows * step - SCALE, cols * step - SCALE


def train_tiny(root, model_config):
  """LOGDIR of 2 steps on 10 generated 40x30 JPEGs (no partition file) under `root`."""
  data_dir = make_celeba(root / "celeba", FACES)
  logdir = str(root / "run")
  train.train(train.RunConfig(
      model=model_config, dataset="celeba", data_dir=data_dir, split="all", crop_size=24,
      cache_dir=str(root / "cache"), epochs=1, batch_size=4, max_steps=2, seed=0,
      logdir=logdir, checkpoint_every=2, keep_checkpoints=1, image_every=100,
      eval_every=0, progress_secs=0.0, device="cpu"))
  return logdir


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
  return train_tiny(tmp_path_factory.mktemp("gif"), TINY)


def config(logdir, output_dir, **overrides):
  values = dict(logdir=str(logdir), output_dir=output_dir and str(output_dir), data_dir=None,
                crop_size=None, num_samples=SAMPLES, seed=0, gif_scale=SCALE, device="cpu")
  values.update(overrides)
  return gif.GifConfig(**values)


@pytest.fixture(scope="module")
def made(logdir, tmp_path_factory):
  """make_gifs once: (output dir, the paths it returned)."""
  out = tmp_path_factory.mktemp("pictures")
  return out, gif.make_gifs(config(logdir, out))


def moved_logdir(logdir, tmp_path, **data):
  """A copy of the checkpoint whose hparams.json "data" entry is updated with `data`."""
  copy = tmp_path / "run"
  shutil.copytree(logdir, copy)
  with open(copy / runs.HPARAMS) as f:
    hparams = json.load(f)
  hparams["data"].update(data)
  with open(copy / runs.HPARAMS, "w") as f:
    json.dump(hparams, f)
  return copy


def test_make_gifs_writes_every_picture_and_nothing_else(made):
  out, paths = made
  assert sorted(os.path.basename(p) for p in paths) == sorted(GIFS + STILLS)
  assert all(os.path.dirname(p) == str(out) for p in paths)
  assert sorted(os.listdir(out)) == sorted(GIFS + STILLS)  # no temporary files left


def test_gifs_have_a_frame_per_step_at_the_upscaled_grid_size(made):
  out, _ = made
  batch, samples = grid_shape(3, 4), grid_shape(2, 3)
  overlay = (batch[0], 2 * batch[1] + gif.OVERLAY_GAP * SCALE)
  for name, shape in [("reconstruction.gif", batch), ("attention.gif", batch),
                      ("attention_overlay.gif", overlay), ("samples.gif", samples)]:
    frames = iio.imread(out / name, index=None)
    assert frames.shape == (TINY.timesteps,) + shape + (3,), name
  assert iio.imread(out / "originals.png").shape == batch + (3,)
  assert iio.imread(out / "samples.png").shape == samples + (3,)
  # 8 faces, each the original then the T canvases, or then the T steps' windows.
  assert iio.imread(out / "steps.png").shape == grid_shape(8, 1 + TINY.timesteps) + (3,)
  assert iio.imread(out / "attention_steps.png").shape == grid_shape(8, 1 + TINY.timesteps) + (3,)


def test_attention_steps_shows_each_faces_windows_of_each_step_on_its_row(made):
  out, _ = made
  t = TINY.timesteps
  rows = grid_cells(iio.imread(out / "attention_steps.png"), 8 * (1 + t), cols=1 + t)
  rows = rows.reshape((8, 1 + t) + rows.shape[1:])  # a face: its original, its windows
  originals = grid_cells(iio.imread(out / "originals.png"), 8, cols=4)
  np.testing.assert_array_equal(rows[:, 0], originals)
  with np.load(out / "attention.npz") as saved:
    for step in range(t):
      for face in range(8):
        # Drawn anew from the numbers attention.npz holds: read, then write over it.
        cell = pictures.upscale(pictures.background(1, TINY.image_size), SCALE)[0]
        for name, colour in (("read", pictures.READ), ("write", pictures.WRITE)):
          cell = pictures.draw_window(cell, saved[name + "_mu_x"][step, face],
                                      saved[name + "_mu_y"][step, face], SCALE, colour)
        np.testing.assert_array_equal(rows[face, 1 + step], cell, "step %d face %d"
                                      % (step, face))


def test_attention_npz_holds_each_window_per_step_and_face(made):
  out, _ = made
  t, b, n = TINY.timesteps, FACES, TINY.read_n
  with np.load(out / "attention.npz") as saved:
    assert saved["image_size"] == 8 and saved["step"] == 2 and saved["compat"] == "paper"
    for name in ("read", "write"):
      assert saved[name + "_n"] == n
      for field in model.Window._fields:
        assert saved["%s_%s" % (name, field)].shape == (t, b)
      assert np.isfinite(saved[name + "_gamma"]).all()
      # N = 3 under the paper's grid: the middle filter sits at g, the others delta away.
      mu_x, gx, delta = saved[name + "_mu_x"], saved[name + "_gx"], saved[name + "_delta"]
      assert mu_x.shape == (t, b, n)
      np.testing.assert_allclose(mu_x, gx[..., None] + delta[..., None] * [-1, 0, 1],
                                 rtol=1e-6)
      np.testing.assert_allclose(saved[name + "_mu_y"][..., 1], saved[name + "_gy"])


@pytest.mark.parametrize("read_attn, write_attn", [(True, False), (False, False)])
def test_original_arithmetic_and_missing_attention_draw_what_there_is(tmp_path, read_attn,
                                                                      write_attn):
  logdir = train_tiny(tmp_path, TINY._replace(compat="original", read_attn=read_attn,
                                              write_attn=write_attn))
  names = sorted(os.path.basename(p) for p in gif.make_gifs(config(logdir, tmp_path / "out")))
  if not read_attn:
    assert names == ["originals.png", "reconstruction.gif", "samples.gif", "samples.png",
                     "steps.png"]
    return
  assert names == sorted(GIFS + STILLS)
  with np.load(tmp_path / "out" / "attention.npz") as saved:
    assert "write_gx" not in saved and saved["compat"] == "original"
    np.testing.assert_array_equal(saved["read_gy"], saved["read_gx"])  # B1
    # B6: the grid of N = 3 is -1.5, -0.5, 0.5 times delta.
    np.testing.assert_allclose(saved["read_mu_x"][..., 1] + 0.5 * saved["read_delta"],
                               saved["read_gx"], rtol=1e-6)


@pytest.mark.parametrize("make", [gif.make_gifs, gif.make_samples])
def test_pictures_beyond_the_machines_memory_are_one_line_before_anything_is_drawn(
    logdir, tmp_path, monkeypatch, make):
  """At least every step's float32 canvases and upscaled RGB frames of the samples:
  T * S * (A^2 C 4 + (A s)^2 3) = 3 * 5 * (768 + 1728) = 37,440 bytes. A machine of a byte
  less refuses (the kernel would kill the run part way); one of that many draws."""
  needed = TINY.timesteps * SAMPLES * (8 * 8 * 3 * 4 + (8 * SCALE) ** 2 * 3)
  monkeypatch.setattr(runs, "machine_memory", lambda: needed - 1)
  with pytest.raises(UserError, match=r"^--num_samples=5 at --gif_scale=3 needs at least "
                     r"0\.0 GB of memory for the pictures of the 3 steps of each sample, more "
                     r"than this machine's 0\.0 GB: ask for less$"):
    make(config(logdir, tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")
  monkeypatch.setattr(runs, "machine_memory", lambda: needed)
  assert make(config(logdir, tmp_path / "out"))


def test_machine_memory_is_the_kernels_total_and_none_where_the_system_does_not_say(
    monkeypatch):
  if not os.path.exists("/proc/meminfo"):
    pytest.skip("no /proc/meminfo to compare with (not Linux)")
  with open("/proc/meminfo") as f:
    total = dict(line.split(":") for line in f)["MemTotal"]
  assert runs.machine_memory() == int(total.split()[0]) * 1024  # kB
  monkeypatch.delattr(os, "sysconf")
  assert runs.machine_memory() is None
  runs.check_memory(10 ** 30, "--num_samples=1", "anything")  # no check where it is unknown


def test_samples_depend_on_the_seed_only_and_need_no_data(logdir, made, tmp_path):
  # The data dir in hparams.json is gone, and no --data_dir is given.
  logdir = moved_logdir(logdir, tmp_path, data_dir=str(tmp_path / "gone"))
  paths = gif.make_samples(config(logdir, None))
  assert sorted(paths) == [str(logdir / "gif" / "samples.gif"),
                           str(logdir / "gif" / "samples.png")]
  again = gif.make_samples(config(logdir, tmp_path / "again"))
  other = gif.make_samples(config(logdir, tmp_path / "other", seed=1))

  def read(paths):
    return [iio.imread(p, index=None) for p in paths]

  for same, want in zip(read(again), read(paths)):
    np.testing.assert_array_equal(same, want)
  # make_gifs draws the same samples for the same seed.
  np.testing.assert_array_equal(read(paths)[1], iio.imread(made[0] / "samples.png"))
  assert all(not np.array_equal(a, b) for a, b in zip(read(other), read(paths)))


def test_missing_checkpoint_is_a_user_error_naming_the_logdir(tmp_path):
  for logdir, found in [(tmp_path, "it is empty"), (tmp_path / "nowhere", "does not exist")]:
    for make in (gif.make_gifs, gif.make_samples):
      with pytest.raises(UserError, match=re.escape(str(logdir))) as error:
        make(config(logdir, tmp_path / "out"))
      assert found in str(error.value) and "--mode=train" in str(error.value)
  assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("make", [gif.make_gifs, gif.make_samples])
def test_a_checkpoint_without_its_hparams_is_one_line_saying_how_to_get_them(
    logdir, tmp_path, make):
  copy = tmp_path / "run"
  shutil.copytree(logdir, copy)
  os.remove(copy / runs.HPARAMS)
  with pytest.raises(UserError, match=r"^%s has a checkpoint but no hparams\.json, the model "
                     r"settings to build it with: copy it from the folder the checkpoint came "
                     r"from, or resume the training that wrote it with the same flags"
                     % re.escape(str(copy))):
    make(config(copy, tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")


def test_checkpoint_not_matching_hparams_is_a_user_error(logdir, tmp_path):
  copy = moved_logdir(logdir, tmp_path)
  with open(copy / runs.HPARAMS) as f:
    hparams = json.load(f)
  hparams["model"]["hidden_size"] = 16
  with open(copy / runs.HPARAMS, "w") as f:
    json.dump(hparams, f)
  with pytest.raises(UserError, match="does not match .*hparams.json"):
    gif.make_samples(config(copy, tmp_path / "out"))


def coloured(picture):
  """[H, W] bool: the pixels of a [H, W, 3] picture that are not black."""
  return picture.any(axis=-1)


def box_and_dots(size, xs, ys, radius):
  """The [size, size] mask of a box from the first to the last of xs, ys, dots at each."""
  mask = np.zeros((size, size), bool)
  mask[ys[0], xs[0]:xs[-1] + 1] = mask[ys[-1], xs[0]:xs[-1] + 1] = True
  mask[ys[0]:ys[-1] + 1, xs[0]] = mask[ys[0]:ys[-1] + 1, xs[-1]] = True
  for y in ys:
    for x in xs:
      mask[max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1] = True
  return mask


def test_window_is_drawn_at_its_filter_centres():
  gx, gy, delta = np.array([4.0]), np.array([3.0]), np.array([2.0])
  mu_x = model.filter_centres(gx, delta, 3, "paper")  # [[2, 4, 6]]
  mu_y = model.filter_centres(gy, delta, 3, "paper")  # [[1, 3, 5]]
  black = np.zeros([1, 8, 8, 3], np.uint8)
  cell = pictures.window_cells(black, [(mu_x, mu_y, pictures.READ)], scale=1)[0]
  np.testing.assert_array_equal(coloured(cell), box_and_dots(8, [2, 4, 6], [1, 3, 5], 0))
  assert (cell[1, 2] == pictures.READ).all()
  # Upscaled by 2, position u is on pixel 2u + 1, and the dots grow to 3 x 3.
  cell = pictures.window_cells(black, [(mu_x, mu_y, pictures.WRITE)], scale=2)[0]
  np.testing.assert_array_equal(coloured(cell), box_and_dots(16, [5, 9, 13], [3, 7, 11], 1))
  assert not black.any()


def test_windows_of_more_than_8_filters_are_drawn_as_their_box_alone():
  # A 16 x 16 write window's dots would cover a 64 x 64 face; its box still shows the spacing.
  black = np.zeros([1, 32, 32, 3], np.uint8)
  for n, dots in [(8, True), (9, False)]:
    centres = 2.0 + 3.0 * np.arange(n)[None]  # [1, N] pixels 2, 5, ...
    cell = pictures.window_cells(black, [(centres, centres, pictures.WRITE)], scale=1)[0]
    xs = [2 + 3 * i for i in range(n)] if dots else [2, 2 + 3 * (n - 1)]
    np.testing.assert_array_equal(coloured(cell), box_and_dots(32, xs, xs, 0), err_msg=str(n))


def test_windows_outside_the_image_are_clipped():
  black = np.zeros([10, 10, 3], np.uint8)
  box = pictures.draw_box(black, -3, 2, 4, 20, (255, 0, 0))
  want = np.zeros((10, 10), bool)
  want[2, :5] = True  # the top edge from the image's left side; the bottom one is outside
  want[2:, 4] = True  # the right edge down to the image's bottom; the left one is outside
  np.testing.assert_array_equal(coloured(box), want)
  for corners in [(12, 12, 20, 20), (-5, -5, -1, -1), (-5, 3, -1, 30)]:
    assert not pictures.draw_box(black, *corners, (255, 0, 0)).any()
  dots = pictures.draw_dots(black, [-1, -5, 11, 10, 9], [-1, 3, 3, 5, 9], (255, 0, 0),
                            radius=1)
  want = np.zeros((10, 10), bool)
  want[0, 0] = True  # the corner of the dot at (-1, -1)
  want[4:7, 9] = True  # the left side of the dot at (10, 5)
  want[8:, 8:] = True  # the dot at (9, 9)
  np.testing.assert_array_equal(coloured(dots), want)
  assert not black.any()
  far = np.array([[-50.0, -40, -30], [1e30, np.inf, np.nan]])  # [B, N]
  cells = pictures.window_cells(np.zeros([2, 8, 8, 3], np.uint8),
                                [(far, far, pictures.READ)], scale=2)
  assert not cells.any()


@pytest.mark.parametrize("compat, log_delta", [("paper", np.log(0.5)), ("original", np.log(4))])
def test_filter_centres_are_where_the_filterbank_peaks(compat, log_delta):
  a, n = 40, 3
  raw = np.array([[0.1, -0.2, np.log(0.5), log_delta, 0.0]], np.float32)  # [B, 5]
  with tf.Graph().as_default(), tf1.Session() as sess:
    win = model.window_params(tf.constant(raw), a, n, compat)
    (fx, fy), win = sess.run([model.filterbank(win, a, n, compat), win])
  for f, g in [(fx, win.gx), (fy, win.gy)]:
    centres = model.filter_centres(g, win.delta, n, compat)  # [B, N]
    assert ((0 < centres) & (centres < a - 1)).all()
    np.testing.assert_array_equal(f.argmax(axis=2), np.round(centres))


def test_cli_sample_writes_only_the_samples(logdir, tmp_path):
  done = run_main("--mode=sample", "--logdir=%s" % logdir, "--output_dir=%s" % tmp_path,
                  "--num_samples=4", "--gif_scale=1", "--seed=7", "--device=cpu")
  assert done.returncode == 0, done.stderr
  assert sorted(os.listdir(tmp_path)) == ["samples.gif", "samples.png"]
  assert iio.imread(tmp_path / "samples.png").shape == (17, 17, 3)  # 2 x 2 cells, 1 apart


def test_cli_without_checkpoint_says_one_line_and_exits_1(tmp_path):
  done = run_main("--mode=gif", "--logdir=%s" % tmp_path)
  assert done.returncode == 1
  assert "Traceback" not in done.stderr
  errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and str(tmp_path) in errors[0], done.stderr


def test_mnist_pictures_take_digits_spread_over_the_test_split(tmp_path):
  data_dir = make_mnist(tmp_path / "mnist", counts=(8, 4, 130))  # 130 test digits: every 2nd
  logdir = str(tmp_path / "run")
  grey = model.ModelConfig(image_size=28, channels=1, timesteps=2, latent_size=2, hidden_size=8,
                           read_n=2, write_n=3, loss="bernoulli")
  train.train(train.RunConfig(
      model=grey, dataset="mnist", data_dir=data_dir, split="train", crop_size=None,
      cache_dir=None, epochs=1, batch_size=4, max_steps=1, seed=0, logdir=logdir,
      checkpoint_every=1, keep_checkpoints=1, image_every=100, eval_every=0, progress_secs=0.0,
      device="cpu"))
  gif.make_gifs(config(logdir, tmp_path / "pictures", gif_scale=1))
  originals = iio.imread(tmp_path / "pictures" / "originals.png")  # grey: [H, W]
  spaced = mnist.load(data_dir, "test")[::2][:64, :, :, 0]  # [64, 28, 28]
  # Each row of the 8x8 grid, as the first 8 (steps.png's rows), spans the (sorted) split:
  # row r holds the evenly spaced digits r, r + 8, ..., r + 56.
  for row, column in [(0, 1), (1, 0), (0, 7), (7, 7), (2, 5)]:
    cell = originals[29 * row:29 * row + 28, 29 * column:29 * column + 28]
    np.testing.assert_array_equal(cell, spaced[row + 8 * column])
  steps = iio.imread(tmp_path / "pictures" / "steps.png")
  np.testing.assert_array_equal(steps[29 * 7:29 * 7 + 28, :28], spaced[56])  # row 8
  assert len(iio.imread(tmp_path / "pictures" / "reconstruction.gif", index=None)) == 2


def test_num_faces_draws_the_first_faces_only(logdir, made, tmp_path):
  out, _ = made
  gif.make_gifs(config(logdir, tmp_path, num_faces=4))
  assert iio.imread(tmp_path / "originals.png").shape == grid_shape(2, 2) + (3,)
  first = iio.imread(out / "originals.png")[:grid_shape(1, 4)[0]]  # the first row of 4
  np.testing.assert_array_equal(iio.imread(tmp_path / "originals.png")[:first.shape[0]],
                                first[:, :grid_shape(2, 2)[1]])
  assert iio.imread(tmp_path / "reconstruction.gif", index=None).shape[:2] == (
      TINY.timesteps, grid_shape(2, 2)[0])
  assert iio.imread(tmp_path / "steps.png").shape == grid_shape(4, 1 + TINY.timesteps) + (3,)


def randomised_copy(logdir, copy, seed):
  """A copy of logdir whose checkpoint's weights are N(0, 0.5^2), so that the canvases vary
  widely from face to face and step to step (2 training steps leave them all near grey);
  returns {variable name: value} as saved."""
  shutil.copytree(logdir, copy)
  prefix = tf.train.latest_checkpoint(str(copy))
  reader = tf.train.load_checkpoint(prefix)
  rng = np.random.default_rng(seed)
  values = {}
  with tf.Graph().as_default():
    for name in sorted(reader.get_variable_to_shape_map()):
      value = reader.get_tensor(name)
      if name.endswith(("/w", "/b", "/kernel", "/bias")):
        value = rng.normal(0, 0.5, value.shape).astype(value.dtype)
      values[name] = value
      tf1.Variable(value, name=name)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      tf1.train.Saver().save(sess, prefix, write_meta_graph=False)
  return values


def sample_noise(seed, samples):
  """[T, S, Z]: the prior samples' eps as runs.build_graph draws it, stateless normal keyed
  by fold_in((seed, 0), 2)."""
  with tf.Graph().as_default(), tf1.Session() as sess:
    return sess.run(tf.random.stateless_normal(
        [TINY.timesteps, samples, TINY.latent_size],
        seed=tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), 2)))


def test_temperature_scales_the_samples_noise_not_the_learned_priors_mean(tmp_path):
  """samples.png at --temperature=0.4 is numpy_draw's sampler given 0.4 eps: z_t = mu_p +
  0.4 sigma_p eps, the learned prior's mean unscaled."""
  learned = TINY._replace(prior="learned")
  weights = randomised_copy(train_tiny(tmp_path, learned), tmp_path / "copy", seed=3)
  samples, seed, temperature = 3, 2, 0.4
  out = tmp_path / "pictures"
  gif.make_samples(config(tmp_path / "copy", out, num_samples=samples, seed=seed,
                          temperature=temperature))
  prior = sample_noise(seed, samples)
  drawn = numpy_draw.sample(weights, learned, temperature * prior)[-1]  # [S, A, A, 3]
  assert np.abs(np.round(drawn * 255) - np.round(numpy_draw.sample(weights, learned, prior)[-1]
                                                 * 255)).max() > 5  # the test can fail
  assert_rounds(grid_cells(iio.imread(out / "samples.png"), samples, cols=2), drawn,
                "samples.png at temperature %g" % temperature)


def test_samples_from_the_posteriors_draw_eps_from_the_train_faces_gaussian(tmp_path):
  """samples.png with sample_from="posteriors" is numpy_draw's sampler given eps_t = m_t +
  0.7 L_t u: m_t and L_t L_t^T the mean and covariance of the mixture of the train faces'
  posteriors in the prior's units (each face encoded with eps keyed (seed, -1), one batch),
  L_t lower triangular, u the prior samples' noise."""
  learned = TINY._replace(prior="learned")
  weights = randomised_copy(train_tiny(tmp_path, learned), tmp_path / "copy", seed=3)
  seed, temperature = 2, 0.7
  out = tmp_path / "pictures"
  gif.make_samples(config(tmp_path / "copy", out, seed=seed, temperature=temperature,
                          sample_from="posteriors"))
  # No partition file: the train split is every face.
  paths = sorted(glob.glob(str(tmp_path / "celeba" / "img_align_celeba" / "*.jpg")))
  faces = np.stack([celeba.preprocess(p, 24, TINY.image_size) for p in paths]) / 255.0
  t, z = TINY.timesteps, TINY.latent_size
  with tf.Graph().as_default(), tf1.Session() as sess:
    eps = sess.run(tf.random.stateless_normal([t, len(faces), z],
                                              seed=tf.constant([seed, -1], tf.int64)))
  d = numpy_draw.draw(weights, learned, faces, eps)
  a = (d["mus"] - d["prior_mus"]) / np.exp(d["prior_log_sigmas"])  # [T, F, Z]
  s2 = np.exp(2 * (d["log_sigmas"] - d["prior_log_sigmas"]))  # [T, F, Z]
  factors = np.stack([np.linalg.cholesky(np.cov(a[i], rowvar=False, bias=True)
                                         + np.diag(s2[i].mean(axis=0)))
                      for i in range(t)])  # [T, Z, Z]
  u = sample_noise(seed, SAMPLES)  # [T, S, Z]
  fitted = a.mean(axis=1)[:, None] + temperature * np.einsum("tsz,tyz->tsy", u, factors)
  drawn = numpy_draw.sample(weights, learned, fitted)[-1]  # [S, A, A, 3]
  prior = numpy_draw.sample(weights, learned, temperature * u)[-1]
  assert np.abs(np.round(drawn * 255) - np.round(prior * 255)).max() > 5  # the test can fail
  assert_rounds(grid_cells(iio.imread(out / "samples.png"), SAMPLES, cols=3), drawn,
                "samples.png from the posteriors")


def test_cli_samples_from_the_posteriors_without_the_data_say_one_line(logdir, tmp_path):
  """The prior's samples need no data; the posteriors' need the train faces, and say where
  they looked."""
  moved = moved_logdir(logdir, tmp_path, data_dir=str(tmp_path / "gone"))
  done = run_main("--mode=sample", "--logdir=%s" % moved, "--output_dir=%s" % tmp_path,
                  "--sample_from=posteriors", "--device=cpu")
  assert done.returncode == 1 and "Traceback" not in done.stderr
  errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1 and str(tmp_path / "gone") in errors[0], done.stderr
  assert not (tmp_path / "samples.png").exists()


def grid_cells(picture, count, cols):
  """The `count` upscaled cells [count, 8*SCALE, 8*SCALE, C] of a grid of `cols` columns."""
  step = (TINY.image_size + 1) * SCALE
  size = TINY.image_size * SCALE
  return np.stack([picture[r * step:r * step + size, c * step:c * step + size]
                   for r, c in (divmod(i, cols) for i in range(count))])


def assert_rounds(got, want, what):
  """got: uint8 cells [..., A*SCALE, A*SCALE, C]; want: float [..., A, A, C] in [0, 1]: each
  block of SCALE x SCALE pixels is its pixel of want rounded (to within float32's error)."""
  want = np.repeat(np.repeat(np.asarray(want) * 255, SCALE, -3), SCALE, -2)
  assert got.shape == want.shape, what
  np.testing.assert_array_less(np.abs(got.astype(np.float64) - want), 0.5 + 1e-3, err_msg=what)


def test_frames_are_the_canvases_of_draw_in_numpy_from_the_checkpoint(logdir, tmp_path):
  """reconstruction.gif's frames and steps.png's rows are sigma(c_t) of the first faces, and
  samples.png is the sampler's last canvas, each computed again by numpy_draw from the
  checkpoint's weights, with eps drawn as runs.build_graph documents: stateless normal keyed
  by (seed, -1) for the faces, by fold_in((seed, 0), 2) for the samples."""
  weights = randomised_copy(logdir, tmp_path / "run", seed=7)
  faces, samples, seed = 4, 3, 5  # <= 256 colours a frame: a GIF keeps them exactly
  out = tmp_path / "pictures"
  gif.make_gifs(config(tmp_path / "run", out, num_faces=faces, num_samples=samples, seed=seed))
  with open(tmp_path / "run" / runs.HPARAMS) as f:
    data_dir = json.load(f)["data"]["data_dir"]
  # No partition file: the fixed batch is the first faces of all, by name.
  paths = sorted(glob.glob(os.path.join(data_dir, "img_align_celeba", "*.jpg")))[:faces]
  batch = np.stack([celeba.preprocess(p, 24, TINY.image_size) for p in paths]) / 255.0
  t, z = TINY.timesteps, TINY.latent_size
  with tf.Graph().as_default(), tf1.Session() as sess:
    eps = sess.run(tf.random.stateless_normal([t, faces, z],
                                              seed=tf.constant([seed, -1], tf.int64)))
  prior = sample_noise(seed, samples)
  canvases = numpy_draw.draw(weights, TINY, batch, eps)["canvases"]  # [T, F, A, A, 3]
  rounded = np.round(canvases * 255)
  assert np.abs(np.diff(rounded, axis=0)).max() > 20  # the steps differ: the test can fail
  assert np.abs(rounded[-1, 1:] - rounded[-1, :1]).max() > 20  # and so do the faces

  frames = iio.imread(out / "reconstruction.gif", index=None)
  assert len(frames) == t
  for step, frame in enumerate(frames):
    assert_rounds(grid_cells(frame, faces, cols=2), canvases[step], "frame %d" % step)
  rows = grid_cells(iio.imread(out / "steps.png"), faces * (1 + t), cols=1 + t)
  rows = rows.reshape((faces, 1 + t) + rows.shape[1:])  # a face: its original, its canvases
  assert_rounds(rows[:, 0], batch, "steps.png originals")
  for step in range(t):
    assert_rounds(rows[:, 1 + step], canvases[step], "steps.png step %d" % step)
  np.testing.assert_array_equal(rows[:, -1], grid_cells(frames[-1], faces, cols=2))

  drawn = numpy_draw.sample(weights, TINY, prior)  # [T, S, A, A, 3]
  assert_rounds(grid_cells(iio.imread(out / "samples.png"), samples, cols=2), drawn[-1],
                "samples.png")


@pytest.mark.parametrize("count,channels", [(1, 3), (3, 3), (3, 1)])
def test_a_gif_is_written_from_an_iterator_frame_by_frame_the_last_held_longer(
    tmp_path, count, channels):
  """save_gif takes its frames one at a time (the pictures' GIFs are generators, so that no
  list of every frame is held): each frame back exactly (four colours, no palette loss),
  200 ms each and 1 s the last, looping."""
  rng = np.random.default_rng(count)
  colours = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255], [255, 255, 255]], np.uint8)
  frames = colours[rng.integers(0, 4, (count, 6, 5))][..., :channels]  # [F, 6, 5, C]
  path = tmp_path / "x.gif"
  imaging.save_gif(str(path), (f for f in frames))
  with Image.open(path) as gif:
    durations, back = [], []
    for i in range(gif.n_frames):
      gif.seek(i)
      durations.append(gif.info["duration"])
      back.append(np.asarray(gif.convert("RGB")))
    assert gif.info.get("loop") == 0
  assert durations == [200] * (count - 1) + [1000]
  np.testing.assert_array_equal(np.stack(back), np.broadcast_to(frames, (count, 6, 5, 3)))
  assert os.listdir(tmp_path) == ["x.gif"]
