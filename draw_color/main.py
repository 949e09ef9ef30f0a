"""Colour DRAW: `python -m draw_color.main --mode=MODE [--flags]` (train, eval, gif, sample,
data, subset, bench, plot or export), or `draw-color` once installed.

The only place flags live: each mode turns them into one immutable config (train.RunConfig,
evaluate.EvalConfig, gif.GifConfig, bench.BenchConfig, plot.PlotConfig) and hands it to the
library, which never reads FLAGS. So is $TF_CONFIG, which cluster tools set for every task:
--mode=train then runs this process as one task of the cluster (train.RunConfig.cluster).
"""

import logging as std_logging
import math
import os
import re
import sys

# Before TensorFlow is imported (by the modules below): keep its C++ start-up chatter out of
# the progress lines; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from draw_color import bench
from draw_color import celeba
from draw_color import cluster
from draw_color import datasets
from draw_color import download
from draw_color import evaluate
from draw_color import export
from draw_color import fileio
from draw_color import gif
from draw_color import mnist
from draw_color import model
from draw_color import objectives
from draw_color import plot
from draw_color import train
from draw_color import vaegan

FLAGS = flags.FLAGS

# What to do.
flags.DEFINE_enum("mode", "train",
                  ["train", "eval", "gif", "sample", "data", "subset", "bench", "plot", "export"],
                  "What to run: train (or resume) the model; eval: the logdir's latest "
                  "checkpoint on --eval_split; gif: pictures of how it draws and samples; "
                  "sample: only its samples; data: download CelebA into --data_dir; subset: link "
                  "the README's 6,000-face subset of it into --subset_dir; bench: "
                  "measure the speed; plot: the training and valid curves as PNG; export: the "
                  "logdir's weights without optimiser slots into --export_dir.")

# Model: the DRAW graph (docs/reference.md; defaults are the original's sizes).
flags.DEFINE_integer("timesteps", 10, "T, the number of glimpses and canvas updates.",
                     lower_bound=1)
flags.DEFINE_integer("latent_size", 10, "Size of the latent z_t of each step.", lower_bound=1)
flags.DEFINE_integer("hidden_size", 256, "Units of each of the encoder and decoder LSTMs.",
                     lower_bound=1)
flags.DEFINE_integer("read_n", 5, "N of the N x N read attention window.", lower_bound=2)
flags.DEFINE_integer("write_n", 5, "N of the N x N write attention window.", lower_bound=2)
flags.DEFINE_boolean("read_attn", True, "Read with attention (else the whole image and error).")
flags.DEFINE_boolean("write_attn", True, "Write with attention (else a dense canvas update).")
flags.DEFINE_float("read_sigma_init", 1.0, "Sigma, in pixels, of the read filters before "
                   "training; 1 is the paper's (a departure otherwise: larger reads more of the "
                   "image at first).", lower_bound=0.01)
flags.DEFINE_float("write_sigma_floor", 0.0, "Keep the write filters' sigma at least this "
                   "fraction of their spacing (0: none, the paper's; a departure otherwise: 0.5 "
                   "makes every write a smooth stroke).", lower_bound=0.0)
flags.DEFINE_enum("compat", "paper", list(model.COMPATS),
                  "paper: the DRAW paper's maths; original: the original code's, bug for bug.")
flags.DEFINE_enum("loss", "l2", list(model.LOSSES),
                  "l2: the blog's squared error summed over the batch; gaussian: a per-image "
                  "Gaussian likelihood of --pixel_sigma; bernoulli: the paper's cross-entropy; "
                  "vaegan: errors in a discriminator's features plus a GAN loss.")
flags.DEFINE_enum("prior", "standard", list(model.PRIORS),
                  "standard: z_t ~ N(0, I), the paper's; learned: a Gaussian of the decoder's "
                  "state, so samples come from where the posteriors are.")
flags.DEFINE_float("pixel_sigma", 1.0, "--loss=gaussian: sigma of each pixel's Gaussian "
                   "likelihood on [0, 1] intensities; smaller weighs the pixels more against "
                   "the KL.", lower_bound=0.0)

# VAE/GAN (--loss=vaegan; Larsen et al. 2015): the defaults are the authors' CelebA settings.
flags.DEFINE_float("vaegan_gamma", 1e-6, "Weight of the feature loss against the GAN loss in "
                   "the decoder's update (gamma); the encoder always gets it in full.",
                   lower_bound=0.0)
flags.DEFINE_integer("vaegan_layer", 4, "Which of the discriminator's 4 convolutions gives the "
                     "features whose squared error is the reconstruction loss.", lower_bound=1,
                     upper_bound=4)
flags.DEFINE_enum("vaegan_optimizer", "adam", list(objectives.VAEGAN_OPTIMIZERS),
                  "Optimiser of the encoder, decoder and discriminator: adam (beta1 from "
                  "--beta1) or rmsprop (the authors' code).")
flags.DEFINE_boolean("vaegan_balance", False, "Skip the discriminator's update when it is far "
                     "ahead and the decoder's when it is far behind (the authors' rule).")
flags.DEFINE_boolean("vaegan_pixel", False, "Add the Gaussian pixel likelihood of "
                     "--pixel_sigma to the feature loss, so the encoder learns from the start.")
flags.DEFINE_list("vaegan_augment", [], "DiffAugment policies (color, translation, cutout) "
                  "applied to every image the discriminator sees, so it cannot learn few faces "
                  "by heart; none is the paper's.")
flags.DEFINE_float("vaegan_r1", 0.0, "Weight r of the R1 penalty, r/2 times the squared "
                   "gradient of the discriminator's logit on the faces; 0 (none) is the paper's.",
                   lower_bound=0.0)
flags.DEFINE_boolean("vaegan_samples", True, "Show the discriminator samples from the prior "
                     "as well as reconstructions, and train the decoder to fool it with both "
                     "(the paper's); without, samples take no part in training.")
flags.DEFINE_boolean("vaegan_mbstd", False, "Give the discriminator the spread of each batch "
                     "of faces, reconstructions and samples (ProGAN's minibatch standard "
                     "deviation), so samples that are all alike give themselves away.")
flags.DEFINE_float("vaegan_noise", 0.0, "Standard deviation of Gaussian instance noise added "
                   "to every image the discriminator sees (pixels in [0, 1]); 0 (none) is the "
                   "paper's.", lower_bound=0.0)
flags.DEFINE_integer("vaegan_noise_steps", 0, "The instance noise falls linearly to 0 at this "
                     "global step; 0: it stays.", lower_bound=0)
flags.DEFINE_boolean("vaegan_spectral", False, "Divide each of the discriminator's weights by "
                     "its largest singular value, in place of batch norm (spectral "
                     "normalisation), so its logit cannot grow steeper without bound.")
flags.DEFINE_float("vaegan_prior_rate", 1.0, "The learned prior's learning rate as a "
                   "multiple of the others', so that it keeps up with the posteriors; 1 trains "
                   "it with the encoder.", lower_bound=0.0)
flags.DEFINE_boolean("vaegan_fit_samples", False, "Draw the discriminator's samples from a "
                     "Gaussian fitted to the batch's own posteriors (each step's mean and full "
                     "covariance, in the prior's units), so the decoder learns from it where "
                     "the posteriors put z; the paper draws them from the prior.")
flags.DEFINE_integer("vaegan_channels", 32, "Channels of the discriminator's first convolution "
                     "(then 4x, 8x, 8x, and 16x units); 32 is the paper's 32/128/256/256/512.",
                     lower_bound=1)

# Data: CelebA aligned faces, centre-cropped and resized; or binarized MNIST.
flags.DEFINE_enum("dataset", "celeba", list(datasets.DATASETS),
                  "celeba: colour faces; mnist: binarized MNIST, 28x28 grey.")
flags.DEFINE_string("data_dir", "data/celeba",
                    "Folder of img_align_celeba/ and list_eval_partition.txt, or of "
                    "binarized_mnist_{train,valid,test}.amat.")
flags.DEFINE_enum("split", "train", list(celeba.SPLITS), "Split to train on.")
flags.DEFINE_integer("image_size", None, "Side of the square images the model sees (default: "
                     "the dataset's, 64 for celeba, 28 for mnist).", lower_bound=2)
flags.DEFINE_integer("crop_size", None, "Side of CelebA's centre crop taken before resizing "
                     "(default: 108).", lower_bound=1)
flags.DEFINE_string("subset_list", "data/celeba_subset.txt", "--mode=subset: the file that "
                    "names the subset's images, one a line.")
flags.DEFINE_string("subset_dir", "data/celeba_subset", "--mode=subset: the folder that gets "
                    "links to the subset's images and to --data_dir's split file.")
flags.DEFINE_string("cache_dir", None,
                    "Where the decoded uint8 cache goes (default: DATA_DIR/cache or ~/.cache).")

# Training: Adam with each gradient clipped on its own, as the original (or --clip_by=global).
flags.DEFINE_integer("epochs", 10, "Passes over the split.", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "Images per step (the last partial batch is kept).",
                     lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_float("beta1", 0.5, "Adam beta1.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("clip", 5.0, "Each gradient tensor is clipped to this norm (see "
                   "--clip_by).", lower_bound=0.0)
flags.DEFINE_enum("clip_by", "tensor", ["tensor", "global"], "tensor: each gradient clipped to "
                  "--clip on its own, as the original; global: all scaled together to a norm "
                  "of at most --clip, as the reproductions of the MNIST bounds (a departure).")
flags.DEFINE_integer("lr_decay_steps", 0, "The learning rate falls by --lr_decay_rate every "
                     "this many steps, smoothly (0: constant).", lower_bound=0)
flags.DEFINE_float("lr_decay_rate", 0.5, "Factor of the learning rate's decay per "
                   "--lr_decay_steps.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_list("lr_schedule", [], "STEP:RATE pairs, steps increasing: from each global "
                  "STEP on (--init_from carries the step on), the learning rate is RATE; before "
                  "the first, --learning_rate (e.g. a warm restart and its decay, unattended).")
flags.DEFINE_integer("kl_warmup", 0, "Steps over which the KL's weight in the objective rises "
                     "linearly from 0 to 1 (0: always 1).", lower_bound=0)
flags.DEFINE_boolean("flip", False, "Mirror each training image left-right in a random half "
                     "of the epochs (data augmentation).")
flags.DEFINE_integer("max_steps", 0, "Stop at this global step (0: no limit).", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of shuffling, initialisation and noise.", lower_bound=0)
flags.DEFINE_string("init_from", None, "A new run starts from the model weights and step of this "
                    "folder (pretrained/..., an --mode=export folder or a run), with a fresh "
                    "optimiser; a --logdir that has a checkpoint resumes from it instead.")

# Output: checkpoints, pictures and summaries in the logdir.
flags.DEFINE_string("logdir", "runs/celeba", "Folder of checkpoints, summaries and pictures.")
flags.DEFINE_integer("checkpoint_every", 800,
                     "Steps between checkpoints (each evaluation has one too).", lower_bound=1)
flags.DEFINE_integer("keep_checkpoints", 2, "Checkpoints kept on disk.", lower_bound=1)
flags.DEFINE_integer("image_every", 800, "Steps between canvas grids of the fixed batch.",
                     lower_bound=1)
flags.DEFINE_float("progress_secs", 5.0, "Seconds between progress lines.", lower_bound=0.0)

# Evaluation: --mode=eval, and the valid split during training.
flags.DEFINE_enum("eval_split", "test", ["train", "valid", "test", "all"],
                  "Split that --mode=eval evaluates.")
flags.DEFINE_integer("eval_every", 0, "Steps between evaluations on the valid split while "
                     "training (0: none).", lower_bound=0)
flags.DEFINE_integer("patience", 0, "Stop training when the valid bound has not improved for "
                     "this many evaluations (--eval_every), counted from the last --lr_schedule "
                     "change too; the best is kept in LOGDIR/best (0: never stop early, keep no "
                     "best).", lower_bound=0)

# Pictures: --mode=gif and --mode=sample take the model settings from LOGDIR/hparams.json.
flags.DEFINE_string("output_dir", None, "Where the pictures (default: LOGDIR/gif) and "
                    "--mode=eval's eval_SPLIT.json (default: LOGDIR) go.")
flags.DEFINE_integer("num_samples", 64, "Faces drawn from the prior (--seed picks them), for "
                     "the pictures and --mode=eval's sample measures (blank, diversity, SWD).",
                     lower_bound=1)
flags.DEFINE_float("temperature", 1.0, "Scale of the prior's noise for the samples, "
                   "z_t = mu_p + temperature * sigma_p * eps: below 1 draws more typical, less "
                   "varied faces; 1 is the paper's.", lower_bound=0.0)
flags.DEFINE_enum("sample_from", "prior", ["prior", "posteriors"], "Where the samples' eps "
                  "come from: prior, N(0, I) as the paper's; posteriors, a Gaussian per step "
                  "fitted to the posteriors of {:,} train images, in the prior's units "
                  "(ex-post density estimation, a departure; needs the run's data)."
                  .format(evaluate.FIT_IMAGES))
flags.DEFINE_integer("num_faces", 64, "How many of the 64 fixed test faces --mode=gif draws "
                     "(the first ones; fewer make smaller files).", lower_bound=1,
                     upper_bound=64)
flags.DEFINE_integer("gif_scale", 2, "Integer upscaling of the pictures, so windows show.",
                     lower_bound=1)

# Export (--mode=export): weights to ship, read by eval, gif and sample like a run.
flags.DEFINE_string("export_dir", None, "Where --mode=export writes the weights and "
                    "hparams.json of --logdir's newest checkpoint (a new folder); --data_dir, "
                    "where given, replaces the run's data folder in that hparams.json.")

# Benchmark (--mode=bench): the model flags give the configuration, the reference by default.
flags.DEFINE_integer("bench_steps", 10, "Training steps in each timed run.", lower_bound=1)
flags.DEFINE_integer("bench_repeats", 5, "Timed runs of each measurement (median reported).",
                     lower_bound=1)
flags.DEFINE_string("bench_json", "bench.json", "Where the benchmark results go as JSON.")

# Plots (--mode=plot): curves from the event files and valid histories of one or more runs.
flags.DEFINE_list("plot_logdirs", None, "Comma-separated run folders whose curves --mode=plot "
                  "draws, one colour each (default: --logdir).")
flags.DEFINE_string("plot_file", "curves.png", "Where --mode=plot writes the PNG.")
flags.DEFINE_list("plot_references", [], "Bounds in nats (e.g. a paper's) that --mode=plot "
                  "draws as lines beside the curves of runs with --loss=bernoulli.")
flags.DEFINE_list("plot_reference_points", [], "X:NATS bounds (e.g. reproductions' after some "
                  "epochs) that --mode=plot marks beside the bound curves, X a step, or an "
                  "epoch with --plot_epoch_steps.")
flags.DEFINE_integer("plot_epoch_steps", 0, "Steps in an epoch, for --mode=plot's x axis in "
                     "epochs (0: in steps).", lower_bound=0)
flags.DEFINE_integer("plot_smooth", 20, "Steps in the moving average of the training curves "
                     "(1: none).", lower_bound=1)

# Devices: one, or towers over several that split each training batch.
flags.DEFINE_string("device", "auto", "Where the graph runs: auto, cpu or gpu:N.")
flags.DEFINE_list("devices", None, "Split each training batch across these devices, one tower "
                  "each (train, and a row of bench), e.g. cpu:0,cpu:1 or gpu:0,gpu:1; one "
                  "entry is the same as --device.")

# Cluster: with $TF_CONFIG set, this process is one task of a cluster (README, "On a cluster").
flags.DEFINE_float("cluster_timeout", 600.0, "Seconds a task of a cluster waits for the others "
                   "(to start, to finish their part of a step) before it stops with an error.")

flags.register_validator(
    "device", lambda d: d in ("auto", "cpu") or (d.startswith("gpu:") and d[4:].isdigit()),
    message="--device must be auto, cpu or gpu:N (N a GPU index, e.g. gpu:0)")
flags.register_validator(
    "devices", lambda ds: ds is None or (
        all(d[:4] in ("cpu:", "gpu:") and d[4:].isdigit() for d in ds)
        and len(set(ds)) == len(ds) and len({d[:3] for d in ds}) <= 1),
    message="--devices must be distinct entries of one kind, cpu:N or gpu:N (e.g. cpu:0,cpu:1 "
            "or gpu:0,gpu:1)")
flags.register_multi_flags_validator(
    ["devices", "device", "loss", "mode"],
    lambda f: not f["devices"] or (
        f["device"] == "auto" and f["mode"] in ("train", "bench")
        and (len(f["devices"]) == 1 or f["loss"] != "vaegan")),
    message="--devices is for --mode=train and bench, instead of --device (leave it at auto), "
            "and --loss=vaegan trains on one device only (its three optimisers are not split "
            "into towers): use --device=gpu:N with it")
flags.register_multi_flags_validator(
    ["dataset", "image_size", "crop_size", "split", "eval_split"],
    lambda f: f["dataset"] != "mnist" or (
        f["image_size"] in (None, mnist.SIZE) and f["crop_size"] is None
        and f["split"] in mnist.SPLITS and f["eval_split"] in mnist.SPLITS),
    message="--dataset=mnist needs --image_size=28 (its default), no --crop_size and a split "
            "(--split, --eval_split) of train, valid or test")
flags.register_multi_flags_validator(
    ["loss", "image_size", "mode", "dataset"],
    lambda f: f["loss"] != "vaegan" or (
        (f["image_size"] or datasets.DEFAULTS[f["dataset"]]["image_size"]) % 8 == 0
        and f["mode"] != "bench"),
    message="--loss=vaegan needs an --image_size divisible by 8 (the discriminator halves it 3 "
            "times) and is not benchmarked by --mode=bench")
flags.register_validator(
    "vaegan_augment", lambda v: set(v) <= set(vaegan.AUGMENTATIONS) and len(set(v)) == len(v),
    message="--vaegan_augment takes distinct names from %s" % ",".join(vaegan.AUGMENTATIONS))
flags.register_multi_flags_validator(
    ["vaegan_augment", "loss"], lambda f: not f["vaegan_augment"] or f["loss"] == "vaegan",
    message="--vaegan_augment transforms what the discriminator sees: it needs --loss=vaegan")
flags.register_multi_flags_validator(
    ["vaegan_r1", "loss"], lambda f: not f["vaegan_r1"] or f["loss"] == "vaegan",
    message="--vaegan_r1 penalises the discriminator: it needs --loss=vaegan")
flags.register_multi_flags_validator(
    ["vaegan_noise", "loss"], lambda f: f["loss"] == "vaegan" or not f["vaegan_noise"],
    message="--vaegan_noise is added to what the discriminator sees: it needs --loss=vaegan")
flags.register_multi_flags_validator(
    ["vaegan_noise", "vaegan_noise_steps"],
    lambda f: f["vaegan_noise"] or not f["vaegan_noise_steps"],
    message="--vaegan_noise_steps is when the instance noise has faded: it needs --vaegan_noise")
flags.register_multi_flags_validator(
    ["vaegan_prior_rate", "loss", "prior"],
    lambda f: f["vaegan_prior_rate"] == 1 or (f["loss"] == "vaegan" and f["prior"] == "learned"),
    message="--vaegan_prior_rate trains the learned prior apart: it needs --loss=vaegan and "
            "--prior=learned")
flags.register_multi_flags_validator(
    ["vaegan_samples", "vaegan_mbstd", "vaegan_spectral", "loss"],
    lambda f: f["loss"] == "vaegan" or (f["vaegan_samples"] and not f["vaegan_mbstd"]
                                        and not f["vaegan_spectral"]),
    message="--novaegan_samples, --vaegan_mbstd and --vaegan_spectral change the "
            "discriminator: they need --loss=vaegan")
flags.register_multi_flags_validator(
    ["vaegan_fit_samples", "vaegan_samples", "loss"],
    lambda f: not f["vaegan_fit_samples"] or (f["loss"] == "vaegan" and f["vaegan_samples"]),
    message="--vaegan_fit_samples draws the discriminator's samples: it needs --loss=vaegan "
            "and --vaegan_samples")
flags.register_multi_flags_validator(
    ["write_sigma_floor", "write_attn"], lambda f: not f["write_sigma_floor"] or f["write_attn"],
    message="--write_sigma_floor bounds the write filters: it needs --write_attn")
flags.register_multi_flags_validator(
    ["mode", "export_dir"], lambda f: f["mode"] != "export" or f["export_dir"],
    message="--mode=export needs --export_dir, the folder the weights go to")
flags.register_multi_flags_validator(
    ["patience", "eval_every"], lambda f: not f["patience"] or f["eval_every"],
    message="--patience counts evaluations: it needs --eval_every")
flags.register_multi_flags_validator(
    ["patience", "loss"], lambda f: not f["patience"] or f["loss"] != "vaegan",
    message="--patience keeps the lowest valid bound, which --loss=vaegan does not minimise "
            "(its pixel L2 term + KL)")


def _finite_numbers(values):
  """Whether each string is a finite number as float() reads it (80.97, 1e2, -3)."""
  try:
    return all(math.isfinite(float(v)) for v in values)
  except ValueError:
    return False


flags.register_validator(
    "plot_references", _finite_numbers,
    message="--plot_references takes numbers, e.g. 80.97,87.40")


def _lr_schedule_parses(values):
  """Whether objectives.parse_lr_schedule takes the STEP:RATE strings."""
  try:
    objectives.parse_lr_schedule(",".join(values))
  except ValueError:
    return False
  return True


def _x_bound_pairs(values):
  """Whether each string is X:NATS, two finite numbers, X (a step or an epoch) not negative."""
  pairs = [v.split(":") for v in values]
  return all(len(p) == 2 and _finite_numbers(p) and float(p[0]) >= 0 for p in pairs)


flags.register_validator(
    "plot_reference_points", _x_bound_pairs,
    message="--plot_reference_points takes X:NATS pairs (X a step, or an epoch with "
    "--plot_epoch_steps), e.g. 100:90,300:82")
flags.register_validator("learning_rate", lambda v: v > 0,
                         message="--learning_rate must be positive")
flags.register_validator("clip", lambda v: v > 0, message="--clip must be positive")
flags.register_validator("pixel_sigma", lambda v: v > 0,
                         message="--pixel_sigma must be positive")
flags.register_validator("lr_decay_rate", lambda v: v > 0,
                         message="--lr_decay_rate must be positive")
flags.register_validator("lr_schedule", lambda v: not v or _lr_schedule_parses(v),
                         message="--lr_schedule takes STEP:RATE pairs, steps whole and "
                         "increasing (below 2**63), rates positive numbers float32 holds "
                         "(1.2e-38 to 3.4e38), e.g. 112608:1e-4,114954:3e-5")
flags.register_multi_flags_validator(
    ["lr_schedule", "lr_decay_steps"], lambda f: not (f["lr_schedule"] and f["lr_decay_steps"]),
    message="--lr_schedule and --lr_decay_steps are two schedules of the learning rate: pass one")
flags.register_validator("beta1", lambda v: v < 1, message="--beta1 must be below 1")
flags.register_validator("cluster_timeout", lambda v: v > 0,
                         message="--cluster_timeout must be a positive number of seconds")

INT32_MAX = 2**31 - 1

# Every float flag becomes a float32 of a graph, or a number of seconds: NaN, inf and the numbers
# float32 turns into inf or 0 would run as other numbers, silently (NaN passes absl's bounds, and
# --temperature=nan drew blank samples).
FLOAT_FLAGS = ("read_sigma_init", "write_sigma_floor", "pixel_sigma", "vaegan_gamma", "vaegan_r1",
               "vaegan_noise", "vaegan_prior_rate", "learning_rate", "beta1", "clip",
               "lr_decay_rate", "progress_secs", "temperature", "cluster_timeout")
for _name in FLOAT_FLAGS:
  flags.register_validator(
      _name, objectives.float32_number,
      message="--%s must be a number float32 holds: 0 or of a magnitude from 1.2e-38 to 3.4e38, "
      "not nan or inf" % _name)
# Every integer flag likewise becomes an int32 (a placeholder, a shape) or a seed: past int32's
# 2,147,483,647 it stopped with a traceback (OverflowError, TypeError) rather than a line.
INTEGER_FLAGS = ("timesteps", "latent_size", "hidden_size", "read_n", "write_n", "vaegan_layer",
                 "vaegan_channels", "image_size", "crop_size", "epochs", "batch_size",
                 "lr_decay_steps", "kl_warmup", "vaegan_noise_steps", "max_steps", "seed",
                 "checkpoint_every", "keep_checkpoints", "image_every", "eval_every", "patience",
                 "num_samples", "num_faces", "gif_scale", "bench_steps", "bench_repeats",
                 "plot_epoch_steps", "plot_smooth")
for _name in INTEGER_FLAGS:
  flags.register_validator(_name, lambda v: v is None or v <= INT32_MAX,
                           message="--%s must be at most 2147483647 (int32's largest)" % _name)


def data_flag(name):
  """--image_size or --crop_size as given, else the --dataset's own (datasets.DEFAULTS)."""
  value = FLAGS[name].value
  return datasets.DEFAULTS[FLAGS.dataset][name] if value is None else value


def devices_from_flags():
  """(--device, towers) as training takes them: --devices of one entry is that --device."""
  devices = FLAGS.devices or []
  if len(devices) == 1:
    return ("cpu" if devices[0].startswith("cpu") else devices[0]), ()
  return FLAGS.device, tuple(devices)


def cluster_from_environment():
  """The cluster.Cluster of $TF_CONFIG, or None where it is unset; UserError where the flags
  ask for what a cluster task cannot do."""
  text = os.environ.get("TF_CONFIG")
  if not text:
    return None
  if FLAGS.loss == "vaegan":
    raise fileio.UserError(
        "TF_CONFIG is set but --loss=vaegan trains in one process: its three optimisers (of the "
        "encoder, the decoder and the discriminator) are not replicated across tasks; unset "
        "TF_CONFIG to train it on one device, or train the cluster with --loss=l2, gaussian "
        "or bernoulli")
  if FLAGS.patience:
    raise fileio.UserError(
        "TF_CONFIG is set but --patience stops the chief alone, and the other tasks would wait "
        "for it; drop --patience (stop the cluster by hand), or unset TF_CONFIG")
  if FLAGS.devices and len(FLAGS.devices) > 1:
    raise fileio.UserError(
        "TF_CONFIG is set but --devices=%s splits each batch inside one process; a task of a "
        "cluster trains its part on one device of its machine: drop --devices, or unset "
        "TF_CONFIG to train on towers" % ",".join(FLAGS.devices))
  return cluster.parse(text, FLAGS.cluster_timeout)


def train_config_from_flags():
  """FLAGS and $TF_CONFIG -> one immutable train.RunConfig."""
  device, devices = devices_from_flags()
  return train.RunConfig(
      model=model_config_from_flags(), dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
      split=FLAGS.split, crop_size=data_flag("crop_size"), cache_dir=FLAGS.cache_dir,
      epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
      max_steps=FLAGS.max_steps, seed=FLAGS.seed, logdir=FLAGS.logdir,
      checkpoint_every=FLAGS.checkpoint_every, keep_checkpoints=FLAGS.keep_checkpoints,
      image_every=FLAGS.image_every, eval_every=FLAGS.eval_every, patience=FLAGS.patience,
      init_from=FLAGS.init_from,
      progress_secs=FLAGS.progress_secs, device=device, flip=FLAGS.flip, devices=devices,
      cluster=cluster_from_environment())


def model_config_from_flags():
  """The model flags -> a model.ModelConfig."""
  return model.ModelConfig(
      image_size=data_flag("image_size"), channels=datasets.CHANNELS[FLAGS.dataset],
      timesteps=FLAGS.timesteps,
      latent_size=FLAGS.latent_size, hidden_size=FLAGS.hidden_size, read_n=FLAGS.read_n,
      write_n=FLAGS.write_n, read_attn=FLAGS.read_attn, write_attn=FLAGS.write_attn,
      compat=FLAGS.compat, loss=FLAGS.loss, learning_rate=FLAGS.learning_rate,
      beta1=FLAGS.beta1, clip=FLAGS.clip, clip_by=FLAGS.clip_by, vaegan_gamma=FLAGS.vaegan_gamma,
      vaegan_layer=FLAGS.vaegan_layer, vaegan_channels=FLAGS.vaegan_channels,
      pixel_sigma=FLAGS.pixel_sigma, kl_warmup=FLAGS.kl_warmup,
      lr_decay_steps=FLAGS.lr_decay_steps, lr_decay_rate=FLAGS.lr_decay_rate,
      lr_schedule=",".join(FLAGS.lr_schedule),
      prior=FLAGS.prior, vaegan_optimizer=FLAGS.vaegan_optimizer,
      vaegan_balance=FLAGS.vaegan_balance, vaegan_pixel=FLAGS.vaegan_pixel,
      read_sigma_init=FLAGS.read_sigma_init,
      vaegan_augment=",".join(p for p in vaegan.AUGMENTATIONS if p in FLAGS.vaegan_augment),
      vaegan_r1=FLAGS.vaegan_r1, vaegan_samples=FLAGS.vaegan_samples,
      vaegan_mbstd=FLAGS.vaegan_mbstd, write_sigma_floor=FLAGS.write_sigma_floor,
      vaegan_noise=FLAGS.vaegan_noise, vaegan_noise_steps=FLAGS.vaegan_noise_steps,
      vaegan_spectral=FLAGS.vaegan_spectral, vaegan_prior_rate=FLAGS.vaegan_prior_rate,
      vaegan_fit_samples=FLAGS.vaegan_fit_samples)


def bench_config_from_flags():
  """FLAGS -> one immutable bench.BenchConfig."""
  device, devices = devices_from_flags()
  return bench.BenchConfig(
      model=model_config_from_flags(), batch_size=FLAGS.batch_size, steps=FLAGS.bench_steps,
      repeats=FLAGS.bench_repeats, data_dir=FLAGS.data_dir,
      crop_size=FLAGS.crop_size or datasets.DEFAULTS["celeba"]["crop_size"],  # CelebA always
      json_path=FLAGS.bench_json, device=device, devices=devices)


def eval_config_from_flags():
  """FLAGS -> one immutable evaluate.EvalConfig; unset data flags defer to hparams.json."""
  return evaluate.EvalConfig(
      logdir=FLAGS.logdir, data_dir=FLAGS.data_dir if FLAGS["data_dir"].present else None,
      split=FLAGS.eval_split, crop_size=FLAGS.crop_size if FLAGS["crop_size"].present else None,
      cache_dir=FLAGS.cache_dir, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
      progress_secs=FLAGS.progress_secs, device=FLAGS.device, num_samples=FLAGS.num_samples,
      temperature=FLAGS.temperature, output_dir=FLAGS.output_dir, sample_from=FLAGS.sample_from)


def gif_config_from_flags():
  """FLAGS -> one immutable gif.GifConfig; unset data flags defer to LOGDIR/hparams.json."""
  return gif.GifConfig(
      logdir=FLAGS.logdir, output_dir=FLAGS.output_dir,
      data_dir=FLAGS.data_dir if FLAGS["data_dir"].present else None,
      crop_size=FLAGS.crop_size if FLAGS["crop_size"].present else None,
      num_samples=FLAGS.num_samples, seed=FLAGS.seed, gif_scale=FLAGS.gif_scale,
      device=FLAGS.device, num_faces=FLAGS.num_faces, temperature=FLAGS.temperature,
      sample_from=FLAGS.sample_from)


def plot_config_from_flags():
  """FLAGS -> one immutable plot.PlotConfig."""
  return plot.PlotConfig(logdirs=FLAGS.plot_logdirs or [FLAGS.logdir], path=FLAGS.plot_file,
                         smooth=FLAGS.plot_smooth,
                         references=tuple(float(v) for v in FLAGS.plot_references),
                         reference_points=tuple(tuple(float(x) for x in v.split(":"))
                                                for v in FLAGS.plot_reference_points),
                         epoch_steps=FLAGS.plot_epoch_steps)


def quiet_tensorflow():
  """TensorFlow's logger printed each line twice, through its own handler and through absl's
  (it propagates): only absl's is kept. Its deprecation notices are about its own calls (the
  Saver's use of checkpoint mtimes), which no user can act on."""
  tf_logger = std_logging.getLogger("tensorflow")
  tf_logger.handlers.clear()
  tf_logger.addFilter(lambda record: not record.pathname.endswith("deprecation.py"))


def out_of_memory(error):
  """The one line of a tf.errors.ResourceExhaustedError: the tensor TensorFlow could not
  allocate, and where (its message, a page long, says so on one of its lines)."""
  found = re.search(r"OOM when allocating tensor with shape\[([^\]]*)\] and type (\w+) on "
                    r"(\S+)", error.message)
  what = "a %s tensor of shape [%s] on %s" % (found[2], found[1], found[3]) if found else "memory"
  return ("out of memory: TensorFlow could not allocate %s; ask for less (a smaller "
          "--batch_size, --num_samples or model); checkpoints and earlier outputs are as they "
          "were" % what)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("unexpected arguments: %s" % " ".join(argv[1:]))
  logging.get_absl_handler().use_absl_log_file = False
  quiet_tensorflow()
  try:
    if FLAGS.mode == "train":
      train.train(train_config_from_flags())
    elif FLAGS.mode == "eval":
      print(evaluate.table(evaluate.run(eval_config_from_flags())))
    elif FLAGS.mode == "gif":
      gif.make_gifs(gif_config_from_flags())
    elif FLAGS.mode == "sample":
      gif.make_samples(gif_config_from_flags())
    elif FLAGS.mode == "data":
      download.download(FLAGS.data_dir, log=logging.info)
    elif FLAGS.mode == "subset":
      celeba.link_subset(FLAGS.subset_list, FLAGS.data_dir, FLAGS.subset_dir, log=logging.info)
    elif FLAGS.mode == "export":
      path, step = export.export(
          FLAGS.logdir, FLAGS.export_dir,
          data_dir=FLAGS.data_dir if FLAGS["data_dir"].present else None)
      logging.info("wrote step %d of %s as %s", step, FLAGS.logdir, path)
    elif FLAGS.mode == "plot":
      logging.info("wrote %s", plot.plot(plot_config_from_flags()))
    else:
      print(bench.table(bench.run(bench_config_from_flags())))
  except fileio.UserError as e:
    sys.stderr.write("error: %s\n" % e)
    return 1
  except tf.errors.ResourceExhaustedError as e:
    # On a GPU a batch too large for its memory; the same where a CPU's allocation fails.
    sys.stderr.write("error: %s\n" % out_of_memory(e))
    return 1
  except KeyboardInterrupt:
    return 130
  return 0


def run():
  """The `draw-color` console command (setup.py): the same as `python -m draw_color.main`."""
  app.run(main)


if __name__ == "__main__":
  run()
