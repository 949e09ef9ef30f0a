"""evaluate.evaluate's arithmetic over a split, against numpy: a stand-in session hands it
known per-image losses, canvases and samples, so no model is trained or run."""

import itertools
import types

import numpy as np
import pytest
import scipy.stats

import numpy_draw
from draw_color import evaluate
from draw_color import fileio
from draw_color import model
from draw_color import swd

N, A, T, BATCH, SAMPLES = 7, 4, 2, 3, 4
TRAIN_BATCH = 5  # the batch the run trained with: not the evaluation's
Z = model.ModelConfig().latent_size  # the latent size of the configs below
POSTERIOR_FIELDS = ["mus", "log_sigmas", "prior_mus", "prior_log_sigmas"]


def posteriors(n):
  """Stand-ins for the posterior's and the prior's mus and log sigmas, each [T, n, Z]."""
  rng = np.random.default_rng(1)
  return [rng.normal(0.3, 0.5, (T, n, Z)) for _ in POSTERIOR_FIELDS]


class Session:
  """Answers evaluate's runs from fixed arrays, checking what it is fed."""

  def __init__(self, images, gen, kl, canvases, samples, num_samples=SAMPLES):
    self.images, self.gen, self.kl, self.canvases, self.samples = (images, gen, kl, canvases,
                                                                    samples)
    self.num_samples = num_samples
    self.posteriors = posteriors(len(gen))

  def run(self, fetches, feed):
    if fetches == "samples":
      assert feed == {"num_samples": self.num_samples, "temperature": 1.0}
      return self.samples[:self.num_samples]
    assert fetches == ["gen", "kl", "canvas"] + POSTERIOR_FIELDS
    i = -1 - feed["noise_step"]  # batch i: keyed by -1 - i, never a training step
    part = slice(i * BATCH, i * BATCH + len(feed["images"]))
    np.testing.assert_array_equal(feed["images"], self.images[part] / np.float32(255))
    return [self.gen[part], self.kl[:, part], self.canvases[part]] + [
        field[:, part] for field in self.posteriors]


GRAPH = types.SimpleNamespace(
    draw=types.SimpleNamespace(gen_loss_per_image="gen", kl_per_step="kl",
                               **{field: field for field in POSTERIOR_FIELDS}),
    final_canvas="canvas", images="images", noise_step="noise_step", samples="samples",
    num_samples="num_samples", temperature="temperature")


def fixtures(channels):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (N, A, A, channels), dtype=np.uint8)
  canvases = rng.random((N, A, A, channels)).astype(np.float32)
  canvases[2] = images[2] / np.float32(255)  # a perfect reconstruction: PSNR's 100 dB cap
  samples = rng.random((SAMPLES + 2, A, A, channels)).astype(np.float32)
  samples[1] = 0.3  # a blank one of the four
  return (images, rng.random(N) * 50, rng.random((T, N)) * 3, canvases, samples)


def gradient(images):
  """sqrt(dx^2 + dy^2) at the pixels that have both differences, averaged per image."""
  images = np.asarray(images, np.float64)
  out = []
  for image in images:
    h, w, _ = image.shape
    total = sum(np.sqrt((image[y, x + 1] - image[y, x])**2 + (image[y + 1, x] - image[y, x])**2)
                .sum() for y in range(h - 1) for x in range(w - 1))
    out.append(total / ((h - 1) * (w - 1) * image.shape[2]))
  return np.array(out)


def mean_distance(pictures):
  return np.mean([np.linalg.norm(np.asarray(a, np.float64) - b)
                  for a, b in itertools.combinations(pictures, 2)])


def median_nearest(pictures):
  """The median distance from each picture to its nearest other (A = 4: no block averaging)."""
  return np.median([min(np.linalg.norm(np.asarray(a, np.float64) - b)
                        for j, b in enumerate(pictures) if j != i)
                    for i, a in enumerate(pictures)])


@pytest.mark.parametrize("channels,loss", [(3, "bernoulli"), (1, "l2"), (3, "gaussian")])
def test_split_measures_match_numpy(channels, loss):
  config = model.ModelConfig(image_size=A, channels=channels, timesteps=T, loss=loss,
                             pixel_sigma=0.3)
  images, gen, kl, canvases, samples = fixtures(channels)
  x = (images / np.float32(255)).astype(np.float64)  # as fed
  bound = gen.mean() + kl.sum(0).mean()
  if loss != "bernoulli":  # the L2 term of these canvases, and the likelihood it stands for
    gen = 0.5 * ((x - canvases)**2).sum((1, 2, 3))
    # l2: the trained batch of TRAIN_BATCH sums the L2 term, sigma^2 = 1/TRAIN_BATCH
    sigma = 0.3 if loss == "gaussian" else 1 / np.sqrt(TRAIN_BATCH)
    bound = (-scipy.stats.norm.logpdf(x, canvases, sigma).sum((1, 2, 3)) + kl.sum(0)).mean()
  results = evaluate.evaluate(Session(images, gen, kl, canvases, samples), GRAPH, images,
                              config, BATCH, progress_secs=0.0, num_samples=SAMPLES,
                              train_batch_size=TRAIN_BATCH)
  assert results["loss"] == loss and results["images"] == N
  assert results["generation"] == pytest.approx(gen.mean())
  assert results["kl"] == pytest.approx(kl.sum(0).mean())
  np.testing.assert_allclose(results["kl_per_step"], kl.mean(1))
  gaps = numpy_draw.prior_gaps(*posteriors(N))
  np.testing.assert_allclose(results["prior_gap_per_step"], gaps, rtol=1e-6)
  assert results["prior_gap"] == pytest.approx(sum(gaps))
  assert results["bound"] == pytest.approx(bound)
  if loss == "bernoulli":
    assert results["bits_per_dim"] == pytest.approx(bound / (A * A * channels * np.log(2)))
  else:
    assert "bits_per_dim" not in results
  if channels == 3:
    mse = ((canvases - x)**2).mean((1, 2, 3))
    assert mse[2] == 0
    psnr = [100.0 if m == 0 else 10 * np.log10(1 / m) for m in mse]
    assert results["mse"] == pytest.approx(mse.mean(), rel=1e-5)
    assert results["psnr"] == pytest.approx(np.mean(psnr), rel=1e-5)
    assert results["sharpness"] == pytest.approx(gradient(canvases).sum() / gradient(x).sum(),
                                                 rel=1e-5)
  else:
    assert not {"mse", "psnr", "sharpness"} & set(results)
  assert not {"swd", "swd_real"} & set(results)  # 4 x 4 pictures: no 7 x 7 patch
  assert results["samples"] == SAMPLES
  assert results["blank_fraction"] == 0.25
  assert results["diversity"] == pytest.approx(
      mean_distance(samples[:SAMPLES]) / mean_distance(x[:SAMPLES]), rel=1e-5)
  assert results["distinctness"] == pytest.approx(
      median_nearest(samples[:SAMPLES]) / median_nearest(x[:SAMPLES]), rel=1e-5)


def test_one_image_or_one_sample_measures_no_diversity():
  config = model.ModelConfig(image_size=A, timesteps=T)
  images, gen, kl, canvases, samples = fixtures(3)
  for n, num_samples in ((1, SAMPLES), (N, 1)):
    results = evaluate.evaluate(Session(images[:n], gen, kl, canvases, samples), GRAPH,
                                images[:n], config, BATCH, progress_secs=0.0,
                                num_samples=num_samples, train_batch_size=TRAIN_BATCH)
    assert results["images"] == n and "diversity" not in results
    assert results["generation"] == pytest.approx(gen[:n].mean())


def test_two_images_and_two_samples_measure_diversity():
  config = model.ModelConfig(image_size=A, timesteps=T)
  images, gen, kl, canvases, samples = fixtures(3)
  results = evaluate.evaluate(Session(images[:2], gen, kl, canvases, samples, num_samples=2),
                              GRAPH, images[:2], config, BATCH, progress_secs=0.0,
                              num_samples=2, train_batch_size=TRAIN_BATCH)
  x = (images[:2] / np.float32(255)).astype(np.float64)
  assert results["samples"] == 2
  assert results["diversity"] == pytest.approx(
      np.linalg.norm(samples[0] - samples[1]) / np.linalg.norm(x[0] - x[1]), rel=1e-5)
  assert results["distinctness"] == pytest.approx(results["diversity"], rel=1e-6)


def test_progress_says_how_many_images_are_done(monkeypatch):
  """With progress_secs 0, one line after every batch but the last (7 images in 3s)."""
  lines = []
  monkeypatch.setattr(evaluate.logging, "info", lambda fmt, *args: lines.append(fmt % args))
  config = model.ModelConfig(image_size=A, timesteps=T)
  images, gen, kl, canvases, samples = fixtures(3)
  evaluate.evaluate(Session(images, gen, kl, canvases, samples), GRAPH, images, config, BATCH,
                    progress_secs=0.0, num_samples=SAMPLES, train_batch_size=TRAIN_BATCH)
  done = [line.split(" images")[0] for line in lines if line.startswith("evaluated")]
  assert done == ["evaluated 3/7", "evaluated 6/7"]


def test_blank_means_fewer_than_a_tenth_differing_by_more_than_the_tolerance():
  # 10 x 10 pictures on a 0 background (the median), pixels set to exactly the tolerance or
  # just above it: a pixel differs when it is further than 0.08, a picture is blank when
  # fewer than 10% of its pixels differ.
  at_tolerance = np.zeros((10, 10, 3))
  at_tolerance[:4] = evaluate.BLANK_TOLERANCE  # 40% of the pixels, none further than 0.08
  tenth = np.zeros((10, 10, 3))
  tenth[0, :, 1] = 0.5  # exactly 10 of 100 pixels differ, in one channel
  under_a_tenth = tenth.copy()
  under_a_tenth[0, 0] = 0.0
  assert evaluate.blank(np.stack([at_tolerance, tenth, under_a_tenth])).tolist() == [
      True, False, True]


def _inked(count):
  """A 10 x 10 grey-level picture with `count` of its 100 pixels at 1 on a 0 background."""
  picture = np.zeros((10, 10, 1))
  picture.flat[:count] = 1.0
  return picture


def test_the_blank_share_is_half_the_least_inked_real_picture_and_at_most_a_tenth():
  digits = np.stack([_inked(6), _inked(12), _inked(30)])  # the fewest inks 6%: half is 3%
  faces = np.stack([_inked(40), _inked(45)])  # the fewest 40%: half is over a tenth
  assert evaluate.blank_share(digits) == pytest.approx(0.03)
  assert evaluate.blank_share(faces) == pytest.approx(0.10)
  thin, dot = _inked(4), _inked(2)  # a thin stroke beside digits; a speck
  samples = np.stack([thin, dot])
  assert evaluate.sample_measures(samples, digits)["blank_fraction"] == 0.5
  assert evaluate.sample_measures(samples, faces)["blank_fraction"] == 1.0
  assert evaluate.blank(samples, 0.03).tolist() == [False, True]



def test_swd_of_samples_that_are_the_reference_is_zero():
  """16 x 16 pictures (a 7 x 7 patch fits): samples equal to the split's first four images
  are at distance 0 from them; 4 x 4 pictures (above) have no SWD at all."""
  side, n, s = 16, 7, 4
  config = model.ModelConfig(image_size=side, timesteps=T)
  rng = np.random.default_rng(5)
  images = rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)
  x = images / np.float32(255)  # as evaluate divides them
  gen, kl = rng.random(n), rng.random((T, n))
  canvases = rng.random((n, side, side, 3)).astype(np.float32)
  results = evaluate.evaluate(Session(images, gen, kl, canvases, x[:s], num_samples=s), GRAPH,
                              images, config, BATCH, progress_secs=0.0, num_samples=s,
                              train_batch_size=TRAIN_BATCH)
  assert results["swd_per_level"] == [0.0] and results["swd"] == 0.0
  assert "sample SWD x 1000" in evaluate.table(dict(results, split="valid"))


def test_the_real_floor_compares_the_next_images_with_the_first():
  rng = np.random.default_rng(6)
  images = rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8)
  x = images / np.float32(255)
  floor = evaluate.real_swd(images, 4)
  assert floor == pytest.approx(swd.distance(x[4:8], x[:4])) and floor[0] > 0
  assert evaluate.real_swd(images[:7], 4) is None  # fewer than twice the samples
  assert evaluate.real_swd(images[:, :6, :6], 4) is None  # smaller than a patch


def test_swd_from_a_7_by_7_picture_and_a_floor_from_twice_the_samples():
  """The bounds: pictures of exactly swd.PATCH pixels have an SWD and a floor, one pixel less
  neither; exactly twice the samples (here two, the fewest that have a diversity) a floor."""
  images = np.random.default_rng(9).integers(0, 256, (4, 7, 7, 3), dtype=np.uint8)
  pictures = images / 255.0
  assert "swd" in evaluate.sample_measures(pictures[:2], pictures[2:])
  assert "swd" not in evaluate.sample_measures(pictures[:2, :6, :6], pictures[2:, :6, :6])
  assert len(evaluate.real_swd(images, 2)) == 1
  assert evaluate.real_swd(images[:, :6, :6], 2) is None


def moments_of(a, s2):
  """PosteriorMoments of posteriors N(a, diag s2) measured against N(0, I), [T, N, Z] each."""
  a = np.asarray(a, np.float64)
  moments = evaluate.PosteriorMoments(a.shape[0], a.shape[2])
  moments.add(a, 0.5 * np.log(s2), np.zeros_like(a), np.zeros_like(a))
  return moments


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_fit_to_posteriors_that_are_not_finite_is_refused_in_one_line(bad):
  a = np.array([[[1.0, 0.0], [bad, 2.0]]])  # [T=1, N=2, Z=2]
  with np.errstate(invalid="ignore"):
    moments = moments_of(a, np.ones_like(a))
    with pytest.raises(fileio.UserError) as e:
      moments.fit()
  assert str(e.value) == (
      "the run's posteriors of the train images are not finite (its encoder overflows on them): "
      "--sample_from=posteriors has nothing to fit; use --sample_from=prior")


def test_the_prior_gap_is_zero_where_the_posteriors_make_up_the_prior():
  """Two posteriors at +1 and -1 with no spread of their own have the prior's mean and
  variance (gap 0); with a variance of 1/2 each, the mixture's is 3/2: 1/2 (3/2 - 1 - log 3/2);
  two N(1, 1) posteriors are the prior moved by one sigma: 1/2."""
  a = np.array([[[1.0], [-1.0]]])  # [T=1, N=2, Z=1]
  with np.errstate(divide="ignore"):  # log 0: no spread
    assert moments_of(a, np.zeros_like(a)).gaps() == [pytest.approx(0.0)]
  assert moments_of(a, np.full_like(a, 0.5)).gaps() == [pytest.approx(0.5 * (0.5 - np.log(1.5)))]
  assert moments_of(np.ones_like(a), np.ones_like(a)).gaps() == [pytest.approx(0.5)]


def test_the_fit_is_the_mixtures_moments_in_the_priors_units_however_the_batches_fall():
  """PosteriorMoments.fit against numpy: the mean of a = (mu - mu_p) / sigma_p and a
  lower-triangular L with L L^T = Cov(a) + mean diag (sigma / sigma_p)^2, step by step, the
  same whether the images come in one batch or several."""
  mus, log_sigmas, prior_mus, prior_log_sigmas = posteriors(N)  # [T, N, Z] each
  a = (mus - prior_mus) / np.exp(prior_log_sigmas)
  s2 = np.exp(2 * (log_sigmas - prior_log_sigmas))
  one, split = evaluate.PosteriorMoments(T, Z), evaluate.PosteriorMoments(T, Z)
  one.add(mus, log_sigmas, prior_mus, prior_log_sigmas)
  for part in (slice(0, 3), slice(3, N)):
    split.add(mus[:, part], log_sigmas[:, part], prior_mus[:, part], prior_log_sigmas[:, part])
  for moments in (one, split):
    mean, scale = moments.fit()
    assert mean.dtype == scale.dtype == np.float32
    assert mean.shape == (T, Z) and scale.shape == (T, Z, Z)
    np.testing.assert_allclose(mean, a.mean(axis=1), rtol=1e-5, atol=1e-6)
    for t in range(T):
      cov = np.cov(a[t], rowvar=False, bias=True) + np.diag(s2[t].mean(axis=0))  # [Z, Z]
      np.testing.assert_allclose(scale[t] @ scale[t].T, cov, rtol=1e-4, atol=1e-5)
      np.testing.assert_array_equal(np.triu(scale[t], 1), 0)
      assert (np.diag(scale[t]) > 0).all()
