"""Evaluation on a whole split: per-image losses, the KL of every step, the bound, MSE/PSNR,
and what a person sees in the prior's samples: how many are blank, how diverse they are,
whether they are one picture many times over, and how far their local patches are from real
pictures' at each scale (swd.py).

For --loss=bernoulli the generation loss is the paper's reconstruction cross-entropy (eq. 9)
and generation + KL (eq. 10, 11) is the negative log-likelihood bound in nats that the DRAW
paper reports, computed per image and averaged over the split. For --loss=gaussian and l2 the
generation loss stays the pixel L2 term, 1/2 sum (x - x_hat)^2, comparable with the other losses,
and the bound is what training minimises with its constant: the negative log-density of the
pixel values in [0, 1] under N(x_hat, sigma^2) (likelihood_sigma) plus the KL, in nats (below
0 where sigma is small: a density, not a probability). For --loss=vaegan it is the
pixel L2 term, which VAE/GAN does not optimise, so that its numbers compare with L2's. One
sample of z per image, as the paper; the eps are drawn from (seed, batch index), so a rerun
gives the same numbers.
"""

import collections
import math
import os

from absl import logging
import numpy as np
import scipy.spatial
import tensorflow as tf

from draw_color import datasets
from draw_color import fileio
from draw_color import progress
from draw_color import runs
from draw_color import swd

tf1 = tf.compat.v1

EvalConfig = collections.namedtuple(
    "EvalConfig",
    [
        "logdir",  # Holds the checkpoint and its hparams.json.
        "data_dir",  # None for the one hparams.json names.
        "split",  # The split evaluated.
        "crop_size",  # CelebA's centre crop; None for hparams.json's.
        "cache_dir",  # CelebA's cache; None for the default.
        "batch_size",  # Images per session run.
        "seed",  # Keys the eps of the evaluation.
        "progress_secs",  # Seconds between progress lines.
        "device",  # "auto", "cpu" or "gpu:N".
        "num_samples",  # Prior samples for the blank fraction, diversity, distinctness, SWD.
        "temperature",  # Scale of their noise (runs.Graph.temperature); 1 is the paper's.
        "output_dir",  # Where eval_<split>.json goes; None for the logdir.
        "sample_from",  # "prior", the model's; "posteriors", a Gaussian fitted to them
        #                 (posterior_fit).
    ],
    defaults=(runs.SAMPLES, 1.0, None, "prior"))

# --sample_from=posteriors fits its Gaussian to the posteriors of this many train images,
# spread through the split (datasets.spread), FIT_BATCH a session run: enough for the
# covariance of a z of 100 (MNIST's) to be well determined, and a few seconds' work on a CPU.
FIT_IMAGES = 1000
FIT_BATCH = 100

# The per-split scalars that go to TensorBoard and the summary line.
SCALARS = ("generation", "kl", "bound", "bits_per_dim", "prior_gap", "mse", "psnr", "sharpness",
           "blank_fraction", "diversity", "distinctness", "swd")
# A picture is blank when fewer than BLANK_SHARE of its pixels differ from its median colour
# by more than BLANK_TOLERANCE in some channel: a nearly uniform canvas. Of the 780 faces of
# the subset's valid split, none is blank: the fewest such pixels is 36%, the median 86%.
# A thin digit inks less than that (a quarter of binarized MNIST's valid digits under 10%,
# the fewest 2.9%), so sample_measures lowers the share to half the fewest of its real
# reference pictures where that is smaller: faces (the fewest of the subset 29%) keep 10%.
BLANK_TOLERANCE = 0.08
BLANK_SHARE = 0.10
# Distinctness compares pictures averaged down to about COARSE_SIDE x COARSE_SIDE blocks, the
# scale of a face's hair, skin and background, where a fine pattern of dots averages out.
COARSE_SIDE = 8


def gradient_magnitude(images):
  """The mean gradient magnitude of each image: [N, H, W, C] -> [N].

  Forward differences along both axes, sqrt(dx^2 + dy^2) per channel at the (H-1) x (W-1)
  pixels that have both, averaged over them and the channels. Blur lowers it.
  """
  images = np.asarray(images, np.float64)
  dx = images[:, :-1, 1:] - images[:, :-1, :-1]  # [N, H-1, W-1, C]
  dy = images[:, 1:, :-1] - images[:, :-1, :-1]  # [N, H-1, W-1, C]
  return np.sqrt(np.square(dx) + np.square(dy)).mean(axis=(1, 2, 3))


def differing_share(images):
  """The share of each picture's pixels [N, H, W, C] in [0, 1] that differ from its median
  colour by more than BLANK_TOLERANCE in some channel: [N]."""
  images = np.asarray(images, np.float64)
  median = np.median(images, axis=(1, 2), keepdims=True)  # [N, 1, 1, C]
  differs = np.abs(images - median).max(axis=3) > BLANK_TOLERANCE  # [N, H, W]
  return differs.mean(axis=(1, 2))


def blank(images, share=BLANK_SHARE):
  """Which of the pictures [N, H, W, C] in [0, 1] are blank (nearly uniform): those with a
  differing_share under `share`: [N] bool."""
  return differing_share(images) < share


def blank_share(reference):
  """The differing share under which a sample counts as blank beside the real pictures
  `reference` [N, H, W, C]: BLANK_SHARE, or half the smallest share of `reference` where that
  is less, so that no real picture of the kind counts as blank."""
  return min(BLANK_SHARE, 0.5 * float(differing_share(reference).min()))


def mean_pairwise_distance(images):
  """The mean Euclidean distance between two different pictures of [N, ...] (N >= 2)."""
  # From the differences themselves, so that equal pictures are exactly 0 apart: the Gram
  # form |a|^2 + |b|^2 - 2ab left ~4e-8 between equal ones on one machine's BLAS.
  return float(scipy.spatial.distance.pdist(
      np.asarray(images, np.float64).reshape(len(images), -1)).mean())  # [N, D] -> N(N-1)/2


def coarse(images):
  """[N, H, W, C] -> [N, H/f, W/f, C], the means of f x f blocks, f = max(1, H // COARSE_SIDE);
  rows and columns beyond the last whole block are left out."""
  images = np.asarray(images, np.float64)
  n, h, w, c = images.shape
  f = max(1, h // COARSE_SIDE)
  cropped = images[:, :h // f * f, :w // f * f]  # [N, H', W', C], whole blocks only
  return cropped.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))  # [N, H'/f, W'/f, C]


def median_nearest_distance(images):
  """The median over pictures [N, ...] (N >= 2) of the Euclidean distance to the nearest other
  one, of the coarse pictures."""
  small = coarse(images).reshape(len(images), -1)  # [N, D]
  distances = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(small))  # [N, N]
  np.fill_diagonal(distances, np.inf)
  return float(np.median(distances.min(axis=1)))


def sample_measures(samples, reference):
  """blank_fraction of `samples`, under blank_share of `reference`; their diversity: their
  mean pairwise distance over that of `reference` (as many real pictures), 1 when they spread
  as the real ones do; and their distinctness: median_nearest_distance over that of
  `reference`, 1 when each sample is as far from its nearest other sample as real faces are,
  0 when each has a twin. A collapse to one pattern keeps a high diversity when its dots land
  in different places; it has next to no distinctness. Where the pictures are at least
  swd.PATCH pixels on a side, also swd_per_level, swd.distance of as many of each (the first
  of the larger set), and swd, its mean over the levels: 0 when the samples' patches are
  distributed as the real ones', and it grows with blur, collapse and colour casts."""
  measures = {"blank_fraction": float(blank(samples, blank_share(reference)).mean()),
              "diversity": mean_pairwise_distance(samples) /
                           max(mean_pairwise_distance(reference), 1e-12),
              "distinctness": median_nearest_distance(samples) /
                              max(median_nearest_distance(reference), 1e-12)}
  if swd.fits(samples):
    m = min(len(samples), len(reference))
    per_level = swd.distance(samples[:m], reference[:m])
    measures.update(swd_per_level=per_level, swd=float(np.mean(per_level)))
  return measures


def gaussian_gap(mean, cov):
  """KL(N(mean, cov) || N(0, I)) in nats, for mean [Z] and a positive definite cov [Z, Z]."""
  _, log_det = np.linalg.slogdet(cov)
  return 0.5 * float(np.trace(cov) + mean @ mean - len(mean) - log_det)


class PosteriorMoments:
  """The aggregate posterior of each z_t in the prior's units, summed batch by batch.

  In the prior's units (z_t - mu_p) / sigma_p, each image's posterior of z_t is N(a, diag s^2)
  with a = (mu - mu_p) / sigma_p and s = sigma / sigma_p, and the prior is N(0, I). The n
  posteriors together, the aggregate posterior, have mean E[a] and covariance Cov(a) +
  E[diag s^2]; the sums of a [T, Z], of a a^T [T, Z, Z] and of s^2 [T, Z] over the images
  give them.
  """

  def __init__(self, timesteps, latent_size):
    self.n = 0
    self.sums = np.zeros([timesteps, latent_size])
    self.outers = np.zeros([timesteps, latent_size, latent_size])
    self.variances = np.zeros([timesteps, latent_size])

  def add(self, mus, log_sigmas, prior_mus, prior_log_sigmas):
    """Adds a batch's posteriors and the prior each was measured against, [T, B, Z] each."""
    scale = np.exp(np.asarray(prior_log_sigmas, np.float64))  # [T, B, Z]
    a = (mus - np.asarray(prior_mus, np.float64)) / scale  # [T, B, Z], prior's units
    self.n += a.shape[1]
    self.sums += a.sum(axis=1)
    self.outers += np.matmul(a.transpose(0, 2, 1), a)  # [T, Z, Z]
    self.variances += np.square(np.exp(np.asarray(log_sigmas, np.float64)) / scale).sum(axis=1)

  def gaussians(self):
    """The aggregate posterior's mean [T, Z] and covariance [T, Z, Z], step by step."""
    means = self.sums / self.n  # [T, Z]
    covariances = (self.outers / self.n - means[:, :, None] * means[:, None, :]
                   + (self.variances / self.n)[:, :, None] * np.eye(means.shape[1]))
    return means, covariances

  def gaps(self):
    """How far the prior is from where the posteriors put z, step by step: [T] nats.

    gaussian_gap of the aggregate posterior's moments at each step: 0 when it has the prior's
    mean and covariance, large when the prior draws z where no posterior puts it (the
    standard prior's blank samples, the collapsed VAE/GANs'). A learned prior matches the
    moments up to what a linear function of h^dec can follow, and only their diagonal.
    """
    return [gaussian_gap(m, c) for m, c in zip(*self.gaussians())]

  def fit(self):
    """What --sample_from=posteriors draws eps from: the aggregate posterior's mean [T, Z]
    and the lower-triangular factor L [T, Z, Z] of its covariance (L L^T), float32, so that
    eps_t = mean_t + L_t u with u ~ N(0, I) has the aggregate's moments (runs.Graph)."""
    means, covariances = self.gaussians()
    # numpy's Cholesky factor of a NaN covariance is NaN, silently: NaN samples, black pictures.
    if not np.isfinite(covariances).all():
      raise fileio.UserError(
          "the run's posteriors of the train images are not finite (its encoder overflows on "
          "them): --sample_from=posteriors has nothing to fit; use --sample_from=prior")
    return means.astype(np.float32), np.linalg.cholesky(covariances).astype(np.float32)


def _batches(sess, graph, images, batch_size, fetches, progress_secs, done_verb):
  """Runs `fetches` over uint8 `images` [N, A, A, C] in order, batch by batch, saying "<done_verb>
  n/N images" at most every `progress_secs` seconds; yields each batch [B, A, A, C] in [0, 1]
  with its fetches' values. The noise steps are negative: never one that training used."""
  shown = progress.Progress(progress_secs, total=len(images))
  for i, first in enumerate(range(0, len(images), batch_size)):
    batch = np.divide(images[first:first + batch_size], np.float32(255), dtype=np.float32)
    yield batch, sess.run(fetches, {graph.images: batch, graph.noise_step: -1 - i})
    done = first + len(batch)
    tick = shown.update(done)
    if tick:
      logging.info("%s %d/%d images, %.0f images/s, ETA %.0f s", done_verb, done, len(images),
                   tick.rate, tick.eta)


def posterior_fit(sess, graph, images, batch_size=FIT_BATCH, progress_secs=60.0):
  """Ex-post density estimation (Ghosh et al. 2020) of a trained DRAW: runs its encoder over
  uint8 `images` [N, A, A, C] (one posterior path each, eps keyed by negative noise steps as
  evaluate's) and fits a Gaussian per step to their posteriors (PosteriorMoments.fit).

  Returns the feed {graph.fit_mean, graph.fit_scale} under which graph.samples draw their
  eps from that Gaussian instead of N(0, I): z where the posteriors put it, in the
  correlated directions a diagonal prior cannot follow (README, Pictures: "Samples from where
  the posteriors are").
  """
  draw = graph.draw
  moments = PosteriorMoments(*graph.fit_mean.shape.as_list())  # [T, Z]
  fetches = [draw.mus, draw.log_sigmas, draw.prior_mus, draw.prior_log_sigmas]
  for _, posteriors in _batches(sess, graph, images, batch_size, fetches, progress_secs,
                                "fitted the posteriors of"):
    moments.add(*posteriors)  # [T, B, Z] each
  logging.info("fitted a Gaussian per step to the posteriors of %d train images; the prior "
               "is %.1f nats from it", moments.n, sum(moments.gaps()))
  mean, scale = moments.fit()
  return {graph.fit_mean: mean, graph.fit_scale: scale}


def fit_images(config, hparams, image_size):
  """The images posterior_fit takes for an EvalConfig or gif.GifConfig `config`: None for
  --sample_from=prior; for posteriors, uint8 [N, A, A, C], FIT_IMAGES images spread through
  the train split of the run whose hparams.json is `hparams` (from config.data_dir and
  crop_size where given)."""
  if config.sample_from != "posteriors":
    return None
  data = hparams["data"]
  return datasets.spread(data.get("dataset", "celeba"), config.data_dir or data["data_dir"],
                         "train", FIT_IMAGES, image_size, config.crop_size or data["crop_size"],
                         log=logging.info)


def evaluate(sess, graph, images, config, batch_size, progress_secs, num_samples=runs.SAMPLES,
             temperature=1.0, train_batch_size=None, sample_feed=None):
  """Runs `graph` (a runs.Graph of `config`) over uint8 `images` [N, A, A, C], in order,
  saying how far it got at most every `progress_secs` seconds.

  Returns a dict: loss (the config's); images; generation, kl and bound per image (means over
  the split); kl_per_step [T]; prior_gap_per_step [T] (PosteriorMoments.gaps) and prior_gap,
  its sum; for the Bernoulli loss bits_per_dim; for colour images mse and psnr of the final
  canvas (the mean over images of each image's PSNR, in dB, of pixels in [0, 1]) and its
  sharpness: the split's mean gradient_magnitude of the final canvases over that of the
  originals (1: as sharp as the faces, below 1: blurrier; noise raises it too); and, for
  `num_samples` draws from the prior (the graph's seeded z, its noise scaled by
  `temperature`), sample_measures against the split's first `num_samples` images;
  `sample_feed` (posterior_fit's) draws that noise from the posteriors' Gaussian instead.
  `train_batch_size` is the batch the run trained with, which --loss=l2's likelihood needs
  (likelihood_sigma).
  """
  draw = graph.draw
  n = len(images)
  totals = collections.defaultdict(float)
  kl_per_step = np.zeros(config.timesteps)
  moments = PosteriorMoments(config.timesteps, config.latent_size)
  fetches = [draw.gen_loss_per_image, draw.kl_per_step, graph.final_canvas, draw.mus,
             draw.log_sigmas, draw.prior_mus, draw.prior_log_sigmas]
  for batch, values in _batches(sess, graph, images, batch_size, fetches, progress_secs,
                                "evaluated"):
    gen, kl, canvas = values[:3]  # [B], [T, B], [B, A, A, C]
    moments.add(*values[3:])  # [T, B, Z] each
    totals["generation"] += float(gen.sum())
    totals["kl"] += float(kl.sum())
    kl_per_step += kl.sum(1)
    mse = np.mean(np.square(canvas - batch), axis=(1, 2, 3))  # [B]
    totals["mse"] += float(mse.sum())
    totals["psnr"] += float(np.sum(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))
    totals["canvas_gradient"] += float(gradient_magnitude(canvas).sum())
    totals["image_gradient"] += float(gradient_magnitude(batch).sum())
  results = {"loss": config.loss, "images": n, "generation": totals["generation"] / n,
             "kl": totals["kl"] / n, "kl_per_step": (kl_per_step / n).tolist()}
  results["prior_gap_per_step"] = moments.gaps()
  results["prior_gap"] = float(sum(results["prior_gap_per_step"]))
  dims = config.image_size**2 * config.channels
  sigma = likelihood_sigma(config, train_batch_size)
  if sigma:
    # -log N(x; x_hat, s^2) summed over the D pixel values: L2 / s^2 + D log(s sqrt(2 pi)).
    # L2 + KL alone weighs the KL 1/s^2 times more than training does, so it rises as the
    # model puts more into z while the objective falls (README, Evaluation).
    results["bound"] = (results["generation"] / sigma**2
                        + dims * math.log(sigma * math.sqrt(2 * math.pi)) + results["kl"])
  else:
    results["bound"] = results["generation"] + results["kl"]
  if config.loss == "bernoulli":
    results["bits_per_dim"] = results["bound"] / (dims * math.log(2))
  if config.channels == 3:
    results["mse"] = totals["mse"] / n
    results["psnr"] = totals["psnr"] / n
    results["sharpness"] = totals["canvas_gradient"] / max(totals["image_gradient"], 1e-12)
  if num_samples >= 2 and n >= 2:
    feed = {graph.num_samples: num_samples, graph.temperature: temperature}
    samples = sess.run(graph.samples, {**feed, **(sample_feed or {})})  # [S, A, A, C]
    reference = np.divide(images[:num_samples], np.float32(255), dtype=np.float32)
    results.update(sample_measures(samples, reference), samples=num_samples)
  return results


def likelihood_sigma(config, train_batch_size):
  """The sigma of the per-pixel Gaussian whose likelihood, with the KL, is the objective
  that ModelConfig `config` trains; None where the loss is no such Gaussian's.

  --loss=gaussian: pixel_sigma. --loss=l2, the blog's, sums 1/2 (x - x_hat)^2 over the batch
  of B = `train_batch_size` images but averages the KL over it: per image that is
  B L2 + KL, the Gaussian of sigma = 1/sqrt(B) (at B = 64 the same objective as
  --loss=gaussian --pixel_sigma=0.125)."""
  if config.loss == "gaussian":
    return config.pixel_sigma
  if config.loss == "l2":
    if not train_batch_size:
      raise ValueError("--loss=l2's likelihood needs the batch size it trained with")
    return 1 / math.sqrt(train_batch_size)
  return None


def real_swd(images, num_samples):
  """swd.distance of uint8 `images` [N, A, A, C] num_samples to 2 num_samples - 1 from the
  first num_samples, the reference evaluate compares the samples with: the distance that
  drawing a finite set alone leaves between real pictures, the floor of the samples'. None
  where there are fewer than 2 num_samples images or they are smaller than swd.PATCH."""
  if len(images) < 2 * num_samples or num_samples < 2 or not swd.fits(images):
    return None
  pictures = np.divide(images[:2 * num_samples], np.float32(255), dtype=np.float32)
  return swd.distance(pictures[num_samples:], pictures[:num_samples])


def summary_line(results):
  """The scalars of `results` on one line."""
  return "  ".join("%s %.4g" % (k, results[k]) for k in SCALARS if k in results)


def table(results):
  """The results as a Markdown table, each row labelled with what it means for their loss."""
  loss = results["loss"]
  if loss == "bernoulli":
    generation, bound = ("generation loss per image (nats)",
                         "negative log-likelihood bound (nats)")
  elif loss == "vaegan":
    generation, bound = (
        "pixel L2 term per image (1/2 sum of squares; VAE/GAN optimised feature errors, and "
        "pixels too only with --vaegan_pixel)",
        "pixel L2 term + KL per image (not what VAE/GAN optimised)")
  else:  # gaussian and l2: likelihood_sigma's Gaussian
    generation = "generation loss per image (1/2 sum of squares)"
    bound = ("negative log-likelihood bound (nats; a density of pixels in [0, 1], so it can be "
             "< 0%s)" % ("; the Gaussian of sigma^2 = 1/batch that the L2 loss is"
                         if loss == "l2" else ""))
  rows = [(generation, results["generation"]), ("KL per image (nats)", results["kl"]),
          (bound, results["bound"])]
  if "bits_per_dim" in results:
    rows.append(("bits per dimension", results["bits_per_dim"]))
  if "mse" in results:
    rows += [("MSE of the final canvas", results["mse"]), ("PSNR (dB)", results["psnr"]),
             ("sharpness (mean gradient magnitude, final canvas / originals)",
              results["sharpness"])]
  if "diversity" in results:
    rows += [("blank samples of %d (fraction)" % results["samples"], results["blank_fraction"]),
             ("sample diversity (mean pairwise distance, samples / real)",
              results["diversity"]),
             ("sample distinctness (median distance to the nearest other, %dx%d blocks, "
              "samples / real)" % (COARSE_SIDE, COARSE_SIDE), results["distinctness"])]
  if "swd" in results:
    rows.append(("sample SWD x 1000 (patches against real ones', mean of %d scales; "
                 "per scale, finest first: %s)"
                 % (len(results["swd_per_level"]),
                    " ".join("%.1f" % d for d in results["swd_per_level"])), results["swd"]))
  if "swd_real" in results:
    rows.append(("SWD x 1000 of as many other real pictures (per scale: %s)"
                 % " ".join("%.1f" % d for d in results["swd_real_per_level"]),
                 results["swd_real"]))
  rows.append(("KL per step", " ".join("%.2f" % k for k in results["kl_per_step"])))
  rows.append(("prior gap (nats; a Gaussian of the posteriors' moments in the prior's units "
               "against N(0, I); per step: %s)"
               % " ".join("%.2f" % g for g in results["prior_gap_per_step"]),
               results["prior_gap"]))
  lines = ["| %s, %d images | value |" % (results["split"], results["images"]),
           "| --- | ---: |"]
  lines += ["| %s | %s |" % (k, v if isinstance(v, str) else "%.4f" % v) for k, v in rows]
  return "\n".join(lines)


def _check_memory(config, mcfg):
  """UserError where the prior samples' measures cannot fit in the machine's memory."""
  s, t, z = config.num_samples, mcfg.timesteps, mcfg.latent_size
  # At least the prior's noise, its scaled copy and eps (runs.Graph's fit applied), float32
  # [T, S, Z] each; then, the graph done, median_nearest_distance's float64 [S, S] distances.
  needed = max(3 * t * s * z * 4, s * s * 8)
  runs.check_memory(needed, "--num_samples=%d" % s,
                    "the prior's noise of each sample and the distances between every two")


def run(config):
  """--mode=eval: evaluates the latest checkpoint on a split; writes eval_<split>.json into
  the output_dir (the logdir by default), after logging the numbers, so a folder that cannot
  be written loses none of them.

  Returns the results dict (with split, step and checkpoint added).
  """
  checkpoint, mcfg, hparams = runs.latest_run(config.logdir)
  _check_memory(config, mcfg)
  data = hparams["data"]
  dataset = data.get("dataset", "celeba")
  images = datasets.load(dataset, config.data_dir or data["data_dir"], config.split,
                         mcfg.image_size, config.crop_size or data["crop_size"],
                         config.cache_dir, log=logging.info)
  fitted = fit_images(config, hparams, mcfg.image_size)
  with tf.Graph().as_default():
    with tf.device(runs.device_scope(config.device)):
      graph = runs.build_graph(mcfg, config.seed, training=False)
    with tf1.Session(config=runs.session_config()) as sess:
      runs.restore(sess, checkpoint, config.logdir)
      step = int(sess.run(tf1.train.get_global_step()))
      tf1.get_default_graph().finalize()
      sample_feed = None
      if fitted is not None:
        sample_feed = posterior_fit(sess, graph, fitted, progress_secs=config.progress_secs)
      logging.info("evaluating %s (step %d) on %d %s images of %s", checkpoint, step,
                   len(images), config.split, dataset)
      results = evaluate(sess, graph, images, mcfg, config.batch_size, config.progress_secs,
                         config.num_samples, config.temperature,
                         train_batch_size=hparams["training"]["batch_size"],
                         sample_feed=sample_feed)
  # Once per evaluation here, not at every one of training's: it depends on the split alone.
  floor = real_swd(images, config.num_samples)
  if floor and "swd" in results:
    results.update(swd_real_per_level=floor, swd_real=float(np.mean(floor)))
  results.update(split=config.split, step=step, checkpoint=checkpoint)
  logging.info("%s split at step %d: %s", config.split, step, summary_line(results))
  folder = config.output_dir or config.logdir
  fileio.write_json(os.path.join(folder, "eval_%s.json" % config.split),
                    {"results": results, "hparams": hparams, "eval": config._asdict()})
  return results
