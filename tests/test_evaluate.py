"""--mode=eval: the bound's arithmetic against numpy, on tiny models of both datasets."""

import itertools
import json
import os

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

import numpy_draw
from draw_color import datasets
from draw_color import evaluate
from draw_color import model
from draw_color import train
from fakes import checkpoint_weights
from fakes import make_celeba
from fakes import make_mnist
from fakes import run_main

tf1 = tf.compat.v1

MNIST = model.ModelConfig(image_size=28, channels=1, timesteps=2, latent_size=3, hidden_size=8,
                          read_n=2, write_n=3, loss="bernoulli")
CELEBA = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                           write_n=3)


def trained(root, dataset, config):
  data_dir = (make_mnist(root / "mnist") if dataset == "mnist"
              else make_celeba(root / "celeba", 10))
  logdir = str(root / "run")
  train.train(train.RunConfig(
      model=config, dataset=dataset, data_dir=data_dir,
      split="train" if dataset == "mnist" else "all", crop_size=24,
      cache_dir=str(root / "cache"), epochs=1, batch_size=4, max_steps=3, seed=0,
      logdir=logdir, checkpoint_every=100, keep_checkpoints=1, image_every=100,
      eval_every=2, progress_secs=0.0, device="cpu"))
  return data_dir, logdir


def eval_config(logdir, split, batch_size=64):
  return evaluate.EvalConfig(logdir=logdir, data_dir=None, split=split, crop_size=None,
                             cache_dir=None, batch_size=batch_size, seed=3, progress_secs=0.0,
                             device="cpu")


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
  return trained(tmp_path_factory.mktemp("m"), "mnist", MNIST)


def numpy_eval(logdir, images, config, seed):
  """numpy_draw.draw of `images` with the checkpoint's weights and the eps that evaluation
  draws for its first batch."""
  eps = tf.random.stateless_normal(model.noise_shape(config, len(images)),
                                   seed=tf.constant([seed, -1], tf.int64))  # (seed, batch 0)
  return numpy_draw.draw(checkpoint_weights(logdir), config, images, eps.numpy())


def numpy_bound(logdir, images, config, seed):
  """The paper's bound in numpy (numpy_eval): cross-entropy of sigma(c_T) plus every KL; and
  the prior gap of every step."""
  d = numpy_eval(logdir, images, config, seed)
  gaps = numpy_draw.prior_gaps(*[d[k] for k in ("mus", "log_sigmas", "prior_mus",
                                                "prior_log_sigmas")])
  return d["gen_loss_per_image"].mean(), d["latent_loss_per_image"].mean(), gaps


def test_bound_matches_numpy_and_is_written_with_the_step(mnist_run):
  data_dir, logdir = mnist_run
  results = evaluate.run(eval_config(logdir, "test"))
  images = datasets.load("mnist", data_dir, "test", 28) / np.float32(255)
  xent, kl, gaps = numpy_bound(logdir, images, MNIST, seed=3)
  assert results["images"] == 6 and results["step"] == 3
  assert results["generation"] == pytest.approx(xent, rel=1e-4)
  assert results["kl"] == pytest.approx(kl, rel=1e-4, abs=1e-5)
  assert results["bound"] == pytest.approx(xent + kl, rel=1e-4)
  assert results["bits_per_dim"] == pytest.approx((xent + kl) / (784 * np.log(2)), rel=1e-4)
  assert sum(results["kl_per_step"]) == pytest.approx(results["kl"], rel=1e-5, abs=1e-6)
  np.testing.assert_allclose(results["prior_gap_per_step"], gaps, rtol=1e-3, atol=1e-5)
  assert "mse" not in results  # grey MNIST: the bound is the number
  with open(os.path.join(logdir, "eval_test.json")) as f:
    saved = json.load(f)
  assert saved["results"]["bound"] == pytest.approx(results["bound"])
  assert saved["hparams"]["model"] == MNIST._asdict()


def test_batches_do_not_change_the_numbers_beyond_their_noise(mnist_run):
  _, logdir = mnist_run
  whole = evaluate.run(eval_config(logdir, "valid"))
  again = evaluate.run(eval_config(logdir, "valid"))
  assert whole == again  # the eps are keyed, so a rerun repeats
  batched = evaluate.run(eval_config(logdir, "valid", batch_size=4))
  assert batched["images"] == whole["images"] == 6
  assert batched["bound"] == pytest.approx(whole["bound"], rel=0.05)


def test_training_logs_the_valid_split(mnist_run):
  _, logdir = mnist_run
  events = [f for f in os.listdir(logdir) if f.startswith("events")]
  tags = set()
  for e in tf1.train.summary_iterator(os.path.join(logdir, events[0])):
    tags.update(v.tag for v in e.summary.value)
  assert {"valid/bound", "valid/bits_per_dim", "valid/prior_gap", "loss/latent"} <= tags


def test_colour_eval_reports_mse_and_psnr(tmp_path):
  _, logdir = trained(tmp_path, "celeba", CELEBA)
  results = evaluate.run(eval_config(logdir, "all"))
  assert results["loss"] == "l2" and "bits_per_dim" not in results
  assert 0 < results["mse"] < 1
  # The mean of per-image PSNRs is at least the PSNR of the mean MSE (Jensen).
  assert results["psnr"] >= 10 * np.log10(1 / results["mse"]) - 1e-6
  assert results["generation"] == pytest.approx(0.5 * results["mse"] * 8 * 8 * 3, rel=1e-4)
  assert "PSNR (dB)" in evaluate.table(results)


@pytest.mark.parametrize("loss,sigma", [("gaussian", 0.2), ("l2", 0.5)])
def test_gaussian_bound_is_the_likelihood_that_training_minimises(tmp_path, loss, sigma):
  """Under --loss=gaussian the bound is -log N(x; sigma(c_T), s^2) over the pixels plus the KL
  (scipy's density, numpy_draw's canvas and KL), and under the blog's l2 likewise with
  s^2 = 1 / the batch it trained with (4: not evaluation's 64); the generation loss stays the
  L2 term."""
  config = CELEBA._replace(loss=loss, pixel_sigma=0.2)
  data_dir, logdir = trained(tmp_path, "celeba", config)
  results = evaluate.run(eval_config(logdir, "all"))
  images = datasets.load("celeba", data_dir, "all", 8, 24, str(tmp_path / "cache"))
  images = images / np.float32(255)
  d = numpy_eval(logdir, images, config, seed=3)
  nll = -scipy.stats.norm.logpdf(images, d["canvases"][-1], sigma).sum((1, 2, 3))  # [B]
  kl = d["latent_loss_per_image"]
  assert results["bound"] == pytest.approx(np.mean(nll + kl), rel=1e-4)
  assert results["generation"] == pytest.approx(
      np.mean(0.5 * np.sum((images - d["canvases"][-1])**2, (1, 2, 3))), rel=1e-4)
  assert "negative log-likelihood bound (nats; a density" in evaluate.table(results)


def test_a_uniform_canvas_is_blank_and_a_face_like_picture_is_not():
  grey = np.full((8, 8, 3), 0.4)
  dotted = grey.copy()
  dotted[2, 3], dotted[5, 5], dotted[6, 1] = 1.0, 0.0, 0.9  # 3 of 64 pixels: under 10%
  ramp = np.broadcast_to(np.linspace(0, 1, 8)[None, :, None], (8, 8, 3))  # a smooth gradient
  halves = np.concatenate([np.zeros((8, 4, 3)), np.ones((8, 4, 3))], 1)
  faint = grey + np.linspace(-0.07, 0.07, 8)[:, None, None]  # within the tolerance
  red = grey.copy()
  red[:, :4, 0] = 0.9  # one channel alone tells half the pixels apart
  assert evaluate.blank(np.stack([grey, dotted, ramp, halves, faint, red])).tolist() == [
      True, True, False, False, True, False]


def test_mean_pairwise_distance_against_every_pair():
  points = np.array([[0, 0], [3, 4], [6, 8], [0, 4]], np.float64)  # distances 5 10 4 5 3 ...
  expected = np.mean([np.linalg.norm(points[i] - points[j])
                      for i in range(4) for j in range(i + 1, 4)])
  images = points.reshape(4, 1, 2, 1)  # [N, H, W, C]
  assert evaluate.mean_pairwise_distance(images) == pytest.approx(expected)
  rng = np.random.default_rng(0)
  faces = rng.random((6, 4, 4, 3))
  same = np.repeat(faces[:1], 6, axis=0)
  assert evaluate.sample_measures(same, faces) == {"blank_fraction": 0.0, "diversity": 0.0,
                                                   "distinctness": 0.0}
  assert evaluate.sample_measures(faces, faces)["diversity"] == pytest.approx(1.0)
  assert evaluate.sample_measures(faces, faces)["distinctness"] == pytest.approx(1.0)
  assert evaluate.sample_measures(np.full((4, 4, 4, 3), 0.5), faces)["blank_fraction"] == 1.0


@pytest.mark.parametrize("side,block", [(16, 2), (28, 3), (7, 1)])
def test_distinctness_against_block_means_and_nearest_neighbours_by_loops(side, block):
  """Blocks of side // 8 pixels (28: 3, the 28th row and column left out; below 8: none)."""
  rng = np.random.default_rng(side)
  pictures = rng.random((5, side, side, 2))
  n = side // block
  small = np.zeros((5, n, n, 2))
  for k, y, x in itertools.product(range(5), range(n), range(n)):
    small[k, y, x] = pictures[k, y * block:(y + 1) * block, x * block:(x + 1) * block].mean((0, 1))
  nearest = [min(np.linalg.norm(small[i] - small[j]) for j in range(5) if j != i)
             for i in range(5)]
  assert evaluate.median_nearest_distance(pictures) == pytest.approx(sorted(nearest)[2])


def test_distinctness_sees_one_pattern_whose_dots_move():
  """64 copies of one picture, each with its own +-0.3 checkerboard on a random half of its
  2 x 2 blocks: far apart pixel by pixel, one picture at the scale of 8 x 8 blocks."""
  rng = np.random.default_rng(1)
  faces = rng.random((64, 64, 64, 3))
  checker = 0.3 * (np.indices((64, 64)).sum(0) % 2 * 2 - 1)  # [64, 64] +-0.3
  where = np.kron(rng.random((64, 32, 32)) < 0.5, np.ones((2, 2)))  # [64, 64, 64]
  collapsed = 0.5 + (where * checker)[..., None] * np.ones(3)  # [64, 64, 64, 3]
  measures = evaluate.sample_measures(collapsed, faces)
  assert measures["diversity"] > 0.4 and measures["distinctness"] < 0.05


def test_eval_measures_the_prior_samples(tmp_path):
  _, logdir = trained(tmp_path, "celeba", CELEBA)
  results = evaluate.run(eval_config(logdir, "all")._replace(num_samples=5))
  assert results["samples"] == 5 and 0 <= results["blank_fraction"] <= 1
  assert results["diversity"] > 0
  # The same z each run: a rerun and another batch size give the same samples.
  again = evaluate.run(eval_config(logdir, "all", batch_size=3)._replace(num_samples=5))
  assert again["diversity"] == pytest.approx(results["diversity"], rel=1e-5)
  assert "blank samples of 5" in evaluate.table(results)
  # At temperature 0 every sample's z_t is the prior's mean: one picture, five times.
  cold = evaluate.run(eval_config(logdir, "all")._replace(num_samples=5, temperature=0.0))
  assert cold["diversity"] == 0 and cold["distinctness"] == 0
  events = [f for f in os.listdir(logdir) if f.startswith("events")]
  tags = set()
  for e in tf1.train.summary_iterator(os.path.join(logdir, events[0])):
    tags.update(v.tag for v in e.summary.value)
  assert {"valid/blank_fraction", "valid/diversity", "valid/distinctness",
          "schedule/kl_weight"} <= tags


@pytest.mark.parametrize("samples, needed", [
    (64, 64 * 64 * 8),  # the distances: 32,768 bytes against the noise's 4,608
    (2, 3 * 2 * 2 * 3 * 4),  # the noise: 144 bytes against the distances' 32
])
def test_sample_measures_beyond_the_machines_memory_are_one_line_before_any_data(
    mnist_run, tmp_path, monkeypatch, samples, needed):
  """At least the [T, S, Z] noise three times in float32 (3 T S Z 4 bytes) or, after the graph, the
  float64 distances between every two samples (S^2 8): a machine of a byte less refuses,
  naming the flag, before it reads a split that is not there; one of that many evaluates."""
  _, logdir = mnist_run
  monkeypatch.setattr(evaluate.runs, "machine_memory", lambda: needed - 1)
  nowhere = eval_config(logdir, "valid")._replace(
      data_dir=str(tmp_path / "nothing"), output_dir=str(tmp_path / "out"),
      num_samples=samples)
  with pytest.raises(evaluate.fileio.UserError, match=r"^--num_samples=%d needs at least "
                     r"0\.0 GB of memory for the prior's noise of each sample and the "
                     r"distances between every two, more than this machine's 0\.0 GB"
                     % samples):
    evaluate.run(nowhere)
  monkeypatch.setattr(evaluate.runs, "machine_memory", lambda: needed)
  assert evaluate.run(nowhere._replace(data_dir=None))["samples"] == samples


def test_cli_eval_prints_the_table(mnist_run):
  _, logdir = mnist_run
  result = run_main("--mode=eval", "--logdir=" + logdir, "--eval_split=valid", "--device=cpu")
  assert result.returncode == 0, result.stderr
  assert "negative log-likelihood bound (nats)" in result.stdout
  assert "bits per dimension" in result.stdout
  assert "sample SWD x 1000" in result.stdout  # 28 x 28 digits: one scale
  assert os.path.exists(os.path.join(logdir, "eval_valid.json"))


def test_eval_from_the_posteriors_measures_other_samples_and_says_so(mnist_run, tmp_path):
  """--sample_from=posteriors changes the samples alone: the bound is the prior's, the
  samples' measures are not, and eval_SPLIT.json records where they came from."""
  _, logdir = mnist_run
  prior = evaluate.run(eval_config(logdir, "test")._replace(num_samples=5,
                                                             output_dir=str(tmp_path / "p")))
  fitted = evaluate.run(eval_config(logdir, "test")._replace(
      num_samples=5, output_dir=str(tmp_path / "f"), sample_from="posteriors"))
  assert fitted["bound"] == prior["bound"] and fitted["prior_gap"] == prior["prior_gap"]
  assert fitted["diversity"] != prior["diversity"]  # the same seed: only the fit moves them
  with open(tmp_path / "f" / "eval_test.json") as f:
    assert json.load(f)["eval"]["sample_from"] == "posteriors"


def test_cli_eval_writes_into_output_dir_and_logs_the_numbers_first(mnist_run, tmp_path):
  """--output_dir leaves the run's folder (a shipped export, say) as it was; a folder that
  cannot be written is one line of error, the numbers already in the log."""
  _, logdir = mnist_run
  before = sorted(os.listdir(logdir))
  out = tmp_path / "numbers"
  result = run_main("--mode=eval", "--logdir=" + logdir, "--eval_split=train", "--device=cpu",
                    "--output_dir=%s" % out)
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(logdir)) == before
  with open(out / "eval_train.json") as f:
    bound = json.load(f)["results"]["bound"]
  (tmp_path / "a_file").write_text("")
  result = run_main("--mode=eval", "--logdir=" + logdir, "--eval_split=train", "--device=cpu",
                    "--output_dir=%s" % (tmp_path / "a_file" / "sub"))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      "error: cannot write %s" % (tmp_path / "a_file" / "sub" / "eval_train.json"))
  assert "Traceback" not in result.stderr
  assert "bound %.4g" % bound in result.stderr
