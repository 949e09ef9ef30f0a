"""What every mode shares: the graph on an images placeholder, devices, and restoring a run."""

import collections
import csv
import json
import os

from absl import logging
import tensorflow as tf

from draw_color import cluster as clustering
from draw_color import fileio
from draw_color import model
from draw_color import objectives
from draw_color import towers
from draw_color import vaegan

tf1 = tf.compat.v1

HPARAMS = "hparams.json"
# Beside a best checkpoint (a run's best/ folder, or an export of it): {"bound": its valid
# bound, "step": its step}.
BEST_JSON = "valid.json"
# Every valid evaluation of the line of weights that led to a folder's checkpoint, oldest
# first: its run's and, through --init_from, those of the runs and exports it went on from,
# whose machines and event files may be long gone. Training keeps it beside its checkpoints
# and in best/; --mode=export takes it along; --mode=plot draws it.
HISTORY = "valid_history.csv"
# What evaluate.evaluate measured of the valid split, as it names them.
HISTORY_RESULTS = ("bound", "kl", "generation")
# learning_rate: the step's (after lr_decay_*); a field not known is left empty.
HISTORY_FIELDS = ("step", "learning_rate") + HISTORY_RESULTS


Graph = collections.namedtuple(
    "Graph",
    [
        "images",  # placeholder [None, A, A, C] in [0, 1]
        "noise_step",  # [] int64 keying eps; the global step unless fed
        "draw",  # model.DrawGraph; for VAE/GAN training its train_op is vaegan's.
        "final_canvas",  # [B, A, A, C] sigma(c_T), built once: sessions finalize the graph.
        "num_samples",  # [] int32 placeholder, SAMPLES unless fed: S of `samples`.
        "temperature",  # [] float32 placeholder, 1 unless fed: the samples' noise is scaled by it.
        "fit_mean",  # [T, Z] float32 placeholder, 0 unless fed, and
        "fit_scale",  # [T, Z, Z], I unless fed: the samples' eps_t = fit_mean_t + fit_scale_t u.
        "samples",  # [S, A, A, C] final canvases of S draws from the prior, the same every run.
        "sampler",  # model.SampleGraph of those draws: every step's canvas and write window.
        "vaegan",  # vaegan.VaeGan when training with --loss=vaegan, else None.
        "sync",  # cluster.Sync when training as a task of a cluster, else None.
    ],
    defaults=(None,))

SAMPLES = 64  # prior samples an evaluation draws unless told otherwise (an 8x8 grid)


def build_graph(config, seed, training=True, devices=(), cluster=None):
  """Builds DRAW on an images placeholder, eps drawn without state from (seed, noise_step).

  noise_step defaults to the global step, so a resumed run draws the same noise as an
  uninterrupted one; evaluation feeds its own values. The global step exists either way,
  so that restoring a checkpoint gives its step. The prior samples' z_t depend on the seed
  alone, so evaluations at different steps draw from the same z. Training adds the objective
  and the optimiser's step (objectives.py); with the VAE/GAN loss, the discriminator
  (vaegan.py) and its three optimisers, the z_t of its prior samples and the draws of its
  augmentation and instance noise from (seed, noise_step).

  Training on two or more `devices` (tf device names, tower_devices) splits each batch across
  them (towers.py); the rest of the graph goes where the caller's device scope puts it,
  which should be the first of them.

  Training as a task of a `cluster` (cluster.Cluster, under cluster.device_setter's scope)
  builds its part of each batch (cluster.build): `images` is the part, and sync.whole_batch
  is fed the whole batch's size.
  """
  a, c = config.image_size, config.channels
  images = tf1.placeholder(tf.float32, [None, a, a, c], name="images")
  batch = tf.shape(images)[0]
  global_step = tf1.train.get_or_create_global_step()
  noise_step = tf1.placeholder_with_default(global_step, [], name="noise_step")
  key = tf.stack([tf.constant(seed, tf.int64), noise_step])
  sync = adversarial = None
  if training and cluster:
    draw, sync = clustering.build(images, config, key, cluster)
  else:
    noise = tf.random.stateless_normal(model.noise_shape(config, batch), seed=key)
    if training and len(devices) > 1:
      draw = towers.build(images, config, noise, devices)
    else:
      draw = model.build_draw(images, config, noise)
      if training and config.loss == "vaegan":
        prior = None  # the samples' z_t, only where Dis sees samples
        if config.vaegan_samples:
          # A key of its own, so the samples' z_t are not the reconstructions' eps.
          prior = tf.random.stateless_normal(
              [config.timesteps, batch, config.latent_size],
              seed=tf.random.experimental.stateless_fold_in(key, 1))
        augment = None  # DiffAugment's draws, only where it is used
        if config.vaegan_augment:
          augment = tf.random.stateless_uniform(
              [2 * batch, vaegan.AUGMENT_DRAWS],
              seed=tf.random.experimental.stateless_fold_in(key, 3))
        noise = None  # the instance noise, only where it is used
        if config.vaegan_noise:
          noise = vaegan.noise_scale(config, global_step) * tf.random.stateless_normal(
              [2 * batch, a, a, c], seed=tf.random.experimental.stateless_fold_in(key, 4))
        draw, adversarial = objectives.minimize_vaegan(
            draw, vaegan.build(images, draw, config, prior, augment, noise), config)
      elif training:
        draw = objectives.minimize(draw, config)
  num_samples = tf1.placeholder_with_default(SAMPLES, [], name="num_samples")
  prior = tf.random.stateless_normal(
      [config.timesteps, num_samples, config.latent_size],
      seed=tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), 2))
  # z_t = mu_p + tau sigma_p eps: below 1, draws nearer the prior's mean (Kingma & Dhariwal
  # 2018's reduced temperature), more typical faces and less varied ones; 1 is the paper's.
  temperature = tf1.placeholder_with_default(1.0, [], name="temperature")
  # eps_t = m_t + L_t (tau u): N(0, I) as the paper's unless a fit is fed, N(m_t, L_t L_t^T)
  # with evaluate.posterior_fit's (where the posteriors put z, in the prior's units).
  t, z = config.timesteps, config.latent_size
  fit_mean = tf1.placeholder_with_default(tf.zeros([t, z]), [t, z], name="fit_mean")
  fit_scale = tf1.placeholder_with_default(tf.eye(z, batch_shape=[t]), [t, z, z],
                                           name="fit_scale")
  eps = fit_mean[:, None] + tf.einsum("tsz,tyz->tsy", temperature * prior,
                                      fit_scale)  # [T, S, Z]: row u -> (L u)^T
  sampler = model.build_sampler(num_samples, config, noise=eps)
  return Graph(images=images, noise_step=noise_step, draw=draw,
               final_canvas=draw.canvases[-1], num_samples=num_samples, temperature=temperature,
               fit_mean=fit_mean, fit_scale=fit_scale,
               samples=sampler.canvases[-1], sampler=sampler, vaegan=adversarial, sync=sync)


def checkpoints(logdir):
  """The checkpoints that `logdir`'s `checkpoint` file lists, newest first, as paths in logdir.

  Each is looked up by its file name in `logdir` itself, so that a copied or moved logdir
  uses its own files even where its `checkpoint` file holds another folder's absolute paths
  (as runs before relative paths wrote it).
  """
  state = tf1.train.get_checkpoint_state(logdir) if os.path.isdir(logdir) else None
  if not state or not state.model_checkpoint_path:
    return []
  names = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
  latest = os.path.basename(state.model_checkpoint_path)
  ordered = [latest] + [n for n in reversed(names) if n != latest]
  return [os.path.join(logdir, name) for name in ordered]


def readable_checkpoint(logdir, log=logging.warning):
  """The newest checkpoint of `logdir` whose every tensor reads back; None if none is listed.

  A damaged one (truncated or missing .index or .data, as after a full disk) is named
  through `log` and the next older one tried; UserError when none of them reads.
  """
  damaged = []
  for path in checkpoints(logdir):
    try:
      reader = tf.train.load_checkpoint(path)
      for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    # The reader reports a short read as IndexError, other damage as an OpError.
    except (tf.errors.OpError, IndexError, ValueError) as e:
      reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      damaged.append("%s (%s)" % (os.path.basename(path), reason))
      log("checkpoint %s is damaged (%s); trying the one before it" % (path, reason))
      continue
    return path
  if damaged:
    raise fileio.UserError("no checkpoint in %s restores: %s; train into a fresh --logdir"
                           % (logdir, "; ".join(damaged)))
  return None


def _read_json(path, convert, what, advice):
  """convert(the JSON in `path`, a file training writes); None where there is no such file, a
  UserError "cannot read WHAT PATH (...); training writes it ADVICE" where it does not read."""
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return convert(json.load(f))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise fileio.UserError("cannot read %s%s (%s: %s); training writes it%s"
                           % (what, path, type(e).__name__, e, advice))


def read_hparams(logdir):
  """(the hparams dict, its ModelConfig) of `logdir`'s hparams.json, which training writes; a
  model field newer than the run takes its default. None when there is no such file;
  UserError when it does not read."""
  return _read_json(os.path.join(logdir, HPARAMS),
                    lambda hparams: (hparams, model.ModelConfig(**hparams["model"])),
                    "the run's settings from ", ", so train into a fresh --logdir")


def read_best(folder):
  """BEST_JSON of `folder` as {"bound", "step"}; None where there is none, UserError where it
  does not read."""
  return _read_json(os.path.join(folder, BEST_JSON),
                    lambda best: {"bound": float(best["bound"]), "step": int(best["step"])},
                    "", " with the best checkpoint beside it: remove the folder %s to start "
                    "the best anew" % folder)


def read_history(folder, until=None):
  """HISTORY of `folder` as [{field: number, or None where empty}], oldest first; only the
  steps up to `until` where given. [] where there is none; UserError where it does not read."""
  path = os.path.join(folder, HISTORY)
  if not os.path.exists(path):
    return []
  try:
    with open(path, newline="") as f:
      rows = [{k: None if r[k] in ("", None) else int(r[k]) if k == "step" else float(r[k])
               for k in HISTORY_FIELDS} for r in csv.DictReader(f)]
  except (OSError, ValueError, KeyError) as e:
    raise fileio.UserError("cannot read %s (%s: %s); training writes it: remove it to start "
                           "the history anew" % (path, type(e).__name__, e))
  return [r for r in rows if r["step"] is not None and (until is None or r["step"] <= until)]


def write_history(folder, rows):
  """Writes `rows` (read_history's) as `folder`'s HISTORY, atomically."""
  lines = [",".join(HISTORY_FIELDS)] + [",".join(_history_cell(k, row.get(k))
                                                  for k in HISTORY_FIELDS) for row in rows]
  fileio.write_text(os.path.join(folder, HISTORY), "".join(line + "\n" for line in lines))


def _history_cell(field, value):
  """`value` of `field` as HISTORY writes it: empty where unknown, the step an integer, the
  learning rate to 6 digits (it is float32 in the graph: 1e-5 reads 9.99999975e-06), the
  rest as Python reads them back exactly."""
  if value is None:
    return ""
  if field == "step":
    return str(int(value))
  return "%.6g" % value if field == "learning_rate" else repr(float(value))


def latest_run(logdir):
  """(newest checkpoint that reads, ModelConfig, hparams dict) of `logdir`; UserError if
  there is none."""
  latest = readable_checkpoint(logdir)
  if not latest:
    names = sorted(os.listdir(logdir)) if os.path.isdir(logdir) else None
    if names is None:
      found = "it does not exist"
    elif not names:
      found = "it is empty"
    else:
      found = "it holds only " + ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise fileio.UserError(
        "no checkpoint in %s (%s); train one with `make train` or `python -m draw_color.main "
        "--mode=train --logdir=%s`" % (logdir, found, logdir))
  run = read_hparams(logdir)
  if run is None:
    raise fileio.UserError("%s has a checkpoint but no %s, the model settings to build it "
                           "with: copy it from the folder the checkpoint came from, or resume "
                           "the training that wrote it with the same flags, which writes it "
                           "anew" % (logdir, HPARAMS))
  hparams, config = run
  return latest, config, hparams


def model_variables():
  """The variables of the default graph that evaluation and the pictures use and that
  --mode=export ships: the model's trainable ones and the global step; not the optimisers'
  slots, nor a VAE/GAN discriminator."""
  return [v for v in tf1.trainable_variables()
          if v.op.name.split("/")[0] != vaegan.DISCRIMINATOR_SCOPE] + [
              tf1.train.get_global_step()]


def restore(sess, checkpoint, logdir, saver=None, variables=None):
  """Restores `variables` (default: every variable of the graph) from `checkpoint`; UserError
  if any is missing or shaped otherwise (the Adam slots of a checkpoint may stay behind).
  `saver` (default: a new one of `variables`) is for a graph that is already finalized."""
  variables = tf1.global_variables() if variables is None else variables
  try:
    saved = dict(tf.train.list_variables(checkpoint))
  except tf.errors.OpError as e:
    raise fileio.UserError("cannot read checkpoint %s (%s); train into a fresh --logdir"
                           % (checkpoint, e.message.splitlines()[0]))
  for v in variables:
    name, shape = v.op.name, v.shape.as_list()
    if saved.get(name) != shape:
      there = "missing" if name not in saved else "%s" % saved[name]
      hparams = os.path.join(logdir, HPARAMS)
      settings = hparams if os.path.exists(hparams) else "the flags (there is no %s)" % hparams
      raise fileio.UserError(
          "checkpoint %s does not match %s: variable %s is %s there but %s for those settings; "
          "train into a fresh --logdir" % (checkpoint, settings, name, there, shape))
  try:
    (saver or tf1.train.Saver(var_list=variables)).restore(sess, checkpoint)
  except tf.errors.OpError as e:
    raise fileio.UserError("cannot restore %s (%s); train into a fresh --logdir"
                           % (checkpoint, e.message.splitlines()[0]))


def device_scope(device):
  """--device -> a tf.device name, or None for TensorFlow's own choice."""
  if device == "auto":
    return None
  if device == "cpu":
    return "/cpu:0"
  index = int(device.split(":")[1])
  gpus = tf.config.list_physical_devices("GPU")
  if index >= len(gpus):
    raise fileio.UserError(
        "--device=%s but TensorFlow sees %d GPU(s); install tensorflow[and-cuda] and check "
        "nvidia-smi, or use --device=cpu" % (device, len(gpus)))
  return "/gpu:%d" % index


def tower_devices(devices):
  """--devices (["cpu:0", "cpu:1"] or ["gpu:0", "gpu:1"]) -> tf device names; UserError
  naming an entry for a GPU that TensorFlow does not see."""
  gpus = len(tf.config.list_physical_devices("GPU"))
  names = []
  for device in devices:
    kind, index = device.split(":")
    if kind == "gpu" and int(index) >= gpus:
      raise fileio.UserError(
          "--devices=%s names %s but TensorFlow sees %d GPU(s); install tensorflow[and-cuda] "
          "and check nvidia-smi, or use cpu:0,cpu:1" % (",".join(devices), device, gpus))
    names.append("/%s:%d" % (kind, int(index)))
  return names


def on_host(device, devices=()):
  """Whether --device (and the towers' tf `devices`) put the graph on this machine's CPU, in
  its physical memory, where an allocation beyond it is a silent kill, not an error."""
  if devices:
    return all(d.startswith("/cpu:") for d in devices)
  return device == "cpu" or (device == "auto" and not tf.config.list_physical_devices("GPU"))


def session_config(devices=()):
  """The session's options; `devices` (tf device names) that name /cpu:N with N > 0 split
  the machine's CPU into N + 1 devices, so that towers can run on them (they share its
  cores and thread pools)."""
  cpus = max([int(d.split(":")[1]) + 1 for d in devices if d.startswith("/cpu:")], default=1)
  if cpus > 1:
    return tf1.ConfigProto(allow_soft_placement=True, device_count={"CPU": cpus})
  return tf1.ConfigProto(allow_soft_placement=True)


def machine_memory():
  """This machine's physical memory in bytes; None where the system does not say."""
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
    return None


def check_memory(needed, request, what):
  """UserError where `needed` bytes, a lower bound of what `request` (its flags, as the user
  gave them) takes for `what`, exceed the machine's memory: the kernel would kill the process
  part way, without a word (--num_samples=200000 for --mode=eval did on a 24 GB machine)."""
  total = machine_memory()
  if total is not None and needed > total:
    raise fileio.UserError("%s needs at least %.1f GB of memory for %s, more than this "
                           "machine's %.1f GB: ask for less" % (request, needed / 1e9, what,
                                                                 total / 1e9))
