"""The training loop: data, graph, session, progress, summaries, pictures, checkpoints, resume."""

import collections
import contextlib
import os
import signal

from absl import logging
import numpy as np
import tensorflow as tf

from draw_color import cluster
from draw_color import datasets
from draw_color import evaluate
from draw_color import fileio
from draw_color import images as imaging
from draw_color import objectives
from draw_color import progress
from draw_color import runs

tf1 = tf.compat.v1

RunConfig = collections.namedtuple(
    "RunConfig",
    [
        "model",  # model.ModelConfig
        "dataset",  # One of datasets.DATASETS.
        "data_dir",  # CelebA root (img_align_celeba/, list_eval_partition.txt) or MNIST's.
        "split",  # The split trained on.
        "crop_size",  # CelebA's centre crop before resizing to model.image_size.
        "cache_dir",  # Where the uint8 cache goes; None for the default.
        "epochs",  # Passes over the split.
        "batch_size",  # Images per step; the last partial batch is kept.
        "max_steps",  # Stop at this global step; 0 for no limit.
        "seed",  # Shuffling, initialisation and noise.
        "logdir",  # Checkpoints, hparams.json, summaries and pictures.
        "checkpoint_every",  # Steps between checkpoints (each evaluation has one too).
        "keep_checkpoints",  # Checkpoints kept on disk.
        "image_every",  # Steps between canvas grids of the fixed batch.
        "eval_every",  # Steps between evaluations on the valid split; 0 for none.
        "progress_secs",  # Seconds between progress lines.
        "device",  # "auto", "cpu" or "gpu:N".
        "flip",  # Mirror each training image left-right in a random half of the epochs.
        "devices",  # Towers: "cpu:N" or "gpu:N" each, the batch split across them
        #             (towers.py); fewer than two: one graph on `device`.
        "cluster",  # cluster.Cluster of TF_CONFIG: this process is one task of a cluster
        #             (cluster.py); None: it trains alone.
        "patience",  # Stop when the valid bound has not improved for this many evaluations,
        #              nor the --lr_schedule rate changed; the best checkpoint is kept in
        #              logdir/BEST. 0: never (and no BEST).
        "init_from",  # A folder (an export, or a run) whose model weights and step a new run
        #               starts from, its optimiser afresh; None: a new run starts from scratch.
    ],
    defaults=(False, (), None, 0, None))

BEST = "best"  # With --patience: the checkpoint of the best valid bound, as a run of its own.

# The ModelConfig fields a checkpoint cannot be resumed with different values of.
ARCHITECTURE = ("image_size", "channels", "timesteps", "latent_size", "hidden_size", "read_n",
                "write_n", "read_attn", "write_attn", "compat", "loss", "vaegan_channels", "prior",
                "vaegan_optimizer", "vaegan_mbstd", "vaegan_spectral", "vaegan_prior_rate")
# What a checkpoint holds of those fields where it is not the value: of vaegan_prior_rate only
# whether the learned prior has its own optimiser (and so its slots); the rate itself may
# change on resume, as the learning rate may.
HELD = {"vaegan_prior_rate": lambda rate: rate != 1}
# The RunConfig fields, (hparams.json section, name), that fix which images a run sees in which
# order (or mirrored): a resumed run may not change them (the crop only matters to CelebA).
DATA_ORDER = (("data", "dataset"), ("data", "split"), ("data", "crop_size"),
              ("training", "batch_size"), ("training", "seed"), ("training", "flip"))
# VAE/GAN: the steps over which a discriminator that wins or loses outright is warned of.
COLLAPSE_STEPS = 200
# VAE/GAN: the scalars logged every step, {TensorBoard tag: (VaeGan field, progress label)}.
VAEGAN_SCALARS = {
    "vaegan/feature_loss": ("feature_loss", "feature"),
    "vaegan/gan_loss": ("gan_loss", None),
    "vaegan/discriminator_loss": ("discriminator_loss", "D loss"),
    "vaegan/gradient_penalty": ("gradient_penalty", None),
    "vaegan/real_accuracy": ("real_accuracy", "D acc real"),
    "vaegan/fake_accuracy": ("fake_accuracy", "fake"),
    "vaegan/discriminator_updated": ("discriminator_updated", None),
    "vaegan/decoder_updated": ("decoder_updated", None),
}


def check_hparams(logdir, config):
  """Stops with one message naming every flag that differs from the logdir's run where the
  checkpoint cannot take it (the architecture) or the run would change silently (which
  images it sees in which order); `config` is a RunConfig."""
  run = runs.read_hparams(logdir)
  if run is None:
    return
  hparams, saved = run
  mismatches = _architecture_mismatches(saved, config.model)
  for section, key in DATA_ORDER:
    was = hparams.get(section, {}).get(key, getattr(config, key))
    if was != getattr(config, key) and (key != "crop_size" or config.dataset == "celeba"):
      mismatches.append("--%s=%s (the checkpoint has %s)" % (key, getattr(config, key), was))
  if mismatches:
    raise fileio.UserError("%s was trained with other flags: %s; pass the checkpoint's values "
                           "or use another --logdir" % (logdir, ", ".join(mismatches)))


def _architecture_mismatches(saved, config):
  """The flags, as "--flag=value (the checkpoint has value)", of the ARCHITECTURE fields in
  which ModelConfig `config` differs from the checkpoint's `saved`."""
  def held(name, values):
    return HELD.get(name, lambda value: value)(getattr(values, name))
  return ["--%s=%s (the checkpoint has %s)" % (k, getattr(config, k), getattr(saved, k))
          for k in ARCHITECTURE if held(k, saved) != held(k, config)]


def check_data(logdir, config, identity):
  """Stops with one message when the images a resumed run would train on are not those it
  was trained on (identity: {"images": count, "fingerprint": datasets.fingerprint}), e.g. a
  resume that forgot its --data_dir and found another CelebA. --data_dir itself may change
  (data moved); what hparams.json lacks (a run older than the check) is not checked."""
  run = runs.read_hparams(logdir)
  was = run[0].get("data", {}) if run else {}
  if all(was.get(key, value) == value for key, value in identity.items()):
    return
  if was["images"] == identity["images"]:
    gives = "as many images but other ones"
    hint = (" (if they are the same images, decoded anew, remove \"fingerprint\" from %s)"
            % os.path.join(logdir, runs.HPARAMS))
  else:
    gives, hint = "%s images" % format(identity["images"], ","), ""
  raise fileio.UserError(
      "%s was trained on %s images of the %s split of %s; --data_dir=%s gives %s: pass the "
      "--data_dir it was trained on, or use another --logdir%s"
      % (logdir, format(was["images"], ","), config.split, was["data_dir"], config.data_dir,
         gives, hint))


def write_hparams(config, identity):
  """LOGDIR/hparams.json of RunConfig `config`, with `identity`, the check_data of the images
  it trains on."""
  fileio.write_json(os.path.join(config.logdir, runs.HPARAMS), {
      "model": config.model._asdict(),
      "data": {"dataset": config.dataset, "data_dir": config.data_dir,
               "split": config.split, "crop_size": config.crop_size, **identity},
      "training": {"batch_size": config.batch_size, "epochs": config.epochs,
                   "seed": config.seed, "flip": config.flip, "init_from": config.init_from},
      # Where this session trains; a resume may change it (the run stays the same).
      "placement": {"devices": list(config.devices) or [config.device],
                    "cluster": cluster.shape(config.cluster) if config.cluster else None},
  })


class _Progress:
  """Prints a progress line every `every` seconds: position, losses, images/s, ETA; after
  `prefix` (a cluster task's name). Rates are of the time since the previous line."""

  def __init__(self, every, first_step, last_step, steps_per_epoch, epochs, prefix=""):
    self.last_step, self.prefix = last_step, prefix
    self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
    self.steps = progress.Progress(every, total=last_step, done=first_step, recent=True)
    self.first = True
    self.images = 0

  def update(self, step, batch, values, force=False):
    """`values`: (label, number) pairs shown after the position, e.g. the losses."""
    if self.first and not force:
      # The first run of a session includes TensorFlow's graph optimisation: time it apart.
      logging.info("%sstep %d took %.1f s (the first step also optimises the graph)",
                   self.prefix, step, self.steps.update(step, force=True).seconds)
      self.steps.restart(step)
      self.first = False
      return
    self.images += batch
    tick = self.steps.update(step, force)
    if tick is None:
      return
    epoch, in_epoch = divmod(step - 1, self.steps_per_epoch)
    fields = (["%sepoch %d/%d" % (self.prefix, epoch + 1, self.epochs),
               "step %d/%d (%d/%d in epoch)" % (step, self.last_step, in_epoch + 1,
                                                self.steps_per_epoch)]
              + ["%s %.2f" % v for v in values]
              + ["%.0f img/s" % (self.images / tick.seconds),
                 "ETA %s" % progress.duration(tick.eta)])
    logging.info("%s", "  ".join(fields))
    self.images = 0


def _save_canvases(sess, graph, fixed, config, step, writer):
  """The original's pictures: the 8x8 grid of each step's canvas for the fixed batch."""
  canvases = sess.run(graph.draw.canvases, {graph.images: fixed})  # [T, B, A, A, C]
  folder = os.path.join(config.logdir, "images")
  for t, canvas in enumerate(canvases):
    picture = imaging.grid(imaging.to_uint8(canvas))
    imaging.save_png(os.path.join(folder, "step%07d_t%02d.png" % (step, t + 1)), picture)
  writer.add_summary(imaging.image_summary("canvas/final", picture), step)
  strip = imaging.grid(imaging.to_uint8(canvases[:, :8].transpose(1, 0, 2, 3, 4).reshape(
      (-1,) + canvases.shape[2:])), cols=len(canvases))  # [8 faces x T steps]
  writer.add_summary(imaging.image_summary("canvas/steps", strip), step)


class _Collapse:
  """Warns when the discriminator has won or lost outright, judged by its mean accuracies
  over the last COLLAPSE_STEPS steps: its GAN loss then teaches the decoder little, and a
  GAN rarely recovers. Once a spell; again only after it has recovered."""

  def __init__(self):
    self.recent = collections.deque(maxlen=COLLAPSE_STEPS)  # (real, fake) accuracies
    self.warned = False

  def update(self, step, real_accuracy, fake_accuracy):
    self.recent.append((real_accuracy, fake_accuracy))
    real, fake = np.mean(self.recent, axis=0)
    if len(self.recent) < COLLAPSE_STEPS:
      verdict = None
    elif real >= 0.99 and fake >= 0.99:
      verdict = "told the real and generated faces apart (accuracy >= 0.99)"
    elif fake <= 0.01:
      verdict = "took the generated faces for real (accuracy <= 0.01 on them)"
    elif real <= 0.01:
      verdict = "took the real faces for generated (accuracy <= 0.01 on them)"
    else:
      verdict = None
    if verdict and not self.warned:
      logging.warning("step %d: the discriminator has collapsed: over the last %d steps it %s; "
                      "try a lower --learning_rate or another --vaegan_gamma", step,
                      COLLAPSE_STEPS, verdict)
    self.warned = verdict is not None


class _Interrupt:
  """SIGTERM (what a scheduler sends) and SIGINT (Ctrl-C) while training: the first stops the
  run before its next step, where it checkpoints (KeyboardInterrupt from `check`); a second
  stops it at once.

  A KeyboardInterrupt raised wherever the signal lands can leave a queue or lock half-updated:
  one that landed inside the summary writer's queue made writer.close() wait forever, with the
  checkpoint saved. So the handler only records the signal, and the loop raises it at a safe
  point. `immediate` marks the long sections that hold no such state (evaluation), which a
  signal cuts short. A SIGINT this process ignores (a background job's) stays ignored.
  """

  def __enter__(self):
    self.requested = self.at_once = False
    self.previous = {signum: signal.getsignal(signum)
                     for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum, handler in self.previous.items():
      if handler is not signal.SIG_IGN:
        signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self.previous.items():
      signal.signal(signum, handler)

  def _handle(self, signum, frame):
    if self.requested or self.at_once:
      raise KeyboardInterrupt
    self.requested = True

  def check(self):
    """Raises KeyboardInterrupt if a signal came."""
    if self.requested:
      raise KeyboardInterrupt

  @contextlib.contextmanager
  def immediate(self):
    """A section that a signal stops at once."""
    self.check()
    self.at_once = True
    try:
      yield
    finally:
      self.at_once = False


def _save(sess, saver, save_path, global_step, best=False):
  """Writes a checkpoint and returns its path. A write that fails (a full disk, a read-only
  logdir) stops the run with one line naming it; the checkpoints before it stay as they were.
  `best`: the checkpoint is BEST's, not one a resume goes on from."""
  try:
    return saver.save(sess, save_path, global_step=global_step)
  except tf.errors.OpError as e:
    path = "%s-%d" % (save_path, sess.run(global_step))
    reason = fileio.error_reason(e).rsplit("; ", 1)[-1]
    if best:
      raise fileio.UserError("cannot write the best checkpoint %s (%s); the run's own "
                             "checkpoints are as they were: a resume goes on from the last "
                             "and evaluates this step again" % (path, reason))
    kept = runs.checkpoints(os.path.dirname(save_path))
    if kept and kept[0] == path:
      # The Saver lists a checkpoint once its weights are written, before its graph (.meta).
      raise fileio.UserError("cannot write checkpoint %s's graph file, %s.meta (%s); its "
                             "weights are written, and a resume goes on from them"
                             % (path, path, reason))
    raise fileio.UserError("cannot write checkpoint %s (%s); %s" % (
        path, reason,
        "the last good one, %s, is kept" % kept[0] if kept else "no checkpoint was kept"))


def _log_evaluation(results, step, writer):
  """Logs evaluate.evaluate's results on the valid split and puts them in TensorBoard beside
  the losses."""
  logging.info("valid at step %d: %s", step, evaluate.summary_line(results))
  writer.add_summary(imaging.scalar_summary(
      {"valid/" + k: results[k] for k in evaluate.SCALARS if k in results}), step)


# What this task trains on: its datasets.Batches, the fixed batch of the pictures (float32
# [F, A, A, C]), the valid split's uint8 images (the chief's, with --eval_every; else None)
# and the step training stops at.
# identity: {"images", "fingerprint"} of the training split, as check_data takes it.
_Data = collections.namedtuple("_Data", ["batches", "fixed", "valid", "last_step", "identity"])
# What a step gives besides its update: generation per image, latent and total loss,
# {schedule tag: value}, {VAE/GAN tag: value}.
_Values = collections.namedtuple("_Values", ["gen", "lat", "loss", "schedule", "extra"])
# What the chief alone writes with: summaries, checkpoints, the collapse warning, the
# Saver of BEST (None without --patience) and the [] bool tensor of _all_finite.
_Chief = collections.namedtuple("_Chief", ["writer", "saver", "save_path", "collapse",
                                           "best_saver", "finite"])


def train(config):
  """Trains (or resumes) DRAW as `config` says; returns the final step. A ps task of a
  cluster serves its variables instead and never returns."""
  cfg = config
  if cfg.cluster and cfg.cluster.job == "ps":
    cluster.serve(cfg.cluster)
  part = cluster.replica(cfg.cluster) if cfg.cluster else (0, 1)  # (this task's, tasks)
  chief = part[0] == 0
  # Only the chief touches the logdir: the other tasks may not even see it.
  with fileio.exclusive(cfg.logdir, log=logging.info) if chief else contextlib.nullcontext():
    return _train(cfg, part, chief)


def _train(cfg, part, chief):
  """train() of this task's `part` of each batch, (index, tasks); the chief holds the logdir."""
  latest = _prepare_logdir(cfg) if chief else None
  warm = _warm_checkpoint(cfg) if chief and not latest and cfg.init_from else None
  data = _load_data(cfg, part, chief)
  if latest:
    check_data(cfg.logdir, cfg, data.identity)
  devices = runs.tower_devices(cfg.devices) if len(cfg.devices) > 1 else []
  target, session_config, device = _placement(cfg, part, chief, devices)
  with tf.Graph().as_default():
    tf1.set_random_seed(cfg.seed)
    graph, gen_per_image, saver, init, warm_saver = _build(cfg, device, devices, warm)
    _check_memory(cfg, devices)
    best_saver = tf1.train.Saver(max_to_keep=1, save_relative_paths=True) if (
        chief and cfg.patience) else None
    writer = tf1.summary.FileWriter(cfg.logdir) if chief else None
    finite = _all_finite() if chief else None
    # No op may be added from here on: a graph that grows is re-optimised at every sess.run
    # (evaluating T = 64 MNIST took 20 s a batch while each batch indexed a tensor anew).
    tf1.get_default_graph().finalize()
    # A cluster's errors of a task lost or waited for past its timeout become one line.
    with tf1.Session(target, config=session_config) as sess, _Interrupt() as interrupt, \
        cluster.guard(cfg.cluster):
      step = _start(sess, graph, saver, init, writer, latest, cfg, warm, warm_saver,
                    data.identity)
      if chief:
        _start_history(cfg, latest, warm, step)
      outputs = _Chief(writer, saver, os.path.join(cfg.logdir, "model.ckpt"),
                       _Collapse(), best_saver, finite) if chief else None
      if best_saver:
        # Its older files too, so that it keeps one across sessions.
        best_saver.recover_last_checkpoints(runs.checkpoints(os.path.join(cfg.logdir,
                                                                           BEST))[::-1])
        if warm:
          _carry_best(sess, graph, best_saver, step, cfg)
      try:
        step = _loop(sess, graph, gen_per_image, data, step, cfg, outputs, interrupt)
      except KeyboardInterrupt:
        if chief:
          # The global step, not `step`: an interrupted sess.run may or may not have applied.
          _check_finite(sess, outputs.finite, sess.run(graph.draw.global_step), cfg)
          path = _save(sess, saver, outputs.save_path, graph.draw.global_step)
          logging.info("interrupted; saved %s; run the same command to resume", path)
        raise
      finally:
        if writer:
          writer.close()
  best = _best(cfg) if chief and cfg.patience else None
  if _patience_spent(cfg, step, best):
    start = _patience_start(cfg, step, best)
    since = "it" if start == best["step"] else "the rate change at step %d" % start
    logging.info("stopped early at step %d: the valid bound has not improved on %.4f (step %d) "
                 "in %d evaluations since %s; the best checkpoint is in %s", step,
                 best["bound"], best["step"], cfg.patience, since, os.path.join(cfg.logdir, BEST))
  elif chief:
    logging.info("done: step %d, checkpoints in %s", step, cfg.logdir)
  else:
    logging.info("%s: done at step %d; the chief wrote the checkpoints",
                 cluster.name(cfg.cluster), step)
  return step


def _check_memory(cfg, devices):
  """UserError where the default graph, training on the CPU (or its towers on `devices`),
  cannot fit in the machine's memory: the kernel would kill the run at its first step,
  without a word (Linux grants each allocation and kills a process that outgrows the memory,
  as it did --mode=eval --num_samples=200000). A GPU's allocator refuses in one line
  (main.out_of_memory), and a cluster's task holds only its part of the batch and none of
  the variables, so neither is checked."""
  if cfg.cluster or not runs.on_host(cfg.device, devices):
    return
  mcfg = cfg.model
  # The variables with the optimiser's slots, exactly, and of each step and image at least
  # what the backward pass needs of the forward one, float32: the error image x_hat (eq. 3,
  # an input of the read's products), each LSTM's previous h and its four gates' activations
  # (eq. 5, 7), and z (the decoder's input). The canvas's sigmoid, the LSTMs' cells and the
  # write's products come on top.
  variables = sum(v.shape.num_elements() * v.dtype.size for v in tf1.global_variables())
  per_image = mcfg.image_size ** 2 * mcfg.channels + 10 * mcfg.hidden_size + mcfg.latent_size
  needed = variables + mcfg.timesteps * cfg.batch_size * per_image * 4
  runs.check_memory(needed, "--batch_size=%d at --hidden_size=%d and --timesteps=%d" % (
      cfg.batch_size, mcfg.hidden_size, mcfg.timesteps), "training")


def _prepare_logdir(cfg):
  """The chief's checks of its logdir: the flags against hparams.json, the newest checkpoint
  that reads (None for a new run); it removes what killed writers left."""
  check_hparams(cfg.logdir, cfg)
  latest = runs.readable_checkpoint(cfg.logdir)
  # A run killed mid-write (SIGKILL, power) leaves temporaries; the lock (fileio.exclusive)
  # says that no other process is writing them now.
  for folder in (cfg.logdir, os.path.join(cfg.logdir, "images")):
    for path in fileio.remove_temporaries(folder):
      logging.info("removed %s, left by a run killed while writing it", path)
  return latest


def _warm_checkpoint(cfg):
  """The newest checkpoint of the --init_from folder that a new run starts from; UserError
  if it has none or another architecture."""
  try:
    checkpoint, saved, _ = runs.latest_run(cfg.init_from)
  except fileio.UserError as e:
    raise fileio.UserError("--init_from: %s" % e)
  mismatches = _architecture_mismatches(saved, cfg.model)
  if mismatches:
    raise fileio.UserError("--init_from=%s was trained with other flags: %s; pass its values"
                           % (cfg.init_from, ", ".join(mismatches)))
  return checkpoint


def _load_data(cfg, part, chief):
  """The _Data of this task's `part` of each batch."""
  mcfg = cfg.model
  data = datasets.load(cfg.dataset, cfg.data_dir, cfg.split, mcfg.image_size, cfg.crop_size,
                       cfg.cache_dir, log=logging.info)
  valid = None
  if cfg.eval_every and chief:
    valid = datasets.load(cfg.dataset, cfg.data_dir, "valid", mcfg.image_size, cfg.crop_size,
                          cfg.cache_dir, log=logging.info)
    if cfg.split in ("valid", "all"):
      logging.warning("--split=%s trains on the valid split that --eval_every "
                      "evaluates: its bound is not held out (nor is --patience's best); train "
                      "on --split=train for one that is", cfg.split)
  batches = datasets.Batches(data, cfg.batch_size, cfg.seed, flip=cfg.flip, part=part)
  last_step = cfg.epochs * batches.steps_per_epoch
  if cfg.max_steps:
    last_step = min(last_step, cfg.max_steps)
  logging.info("%d images of the %s split, %d steps per epoch, training to step %d",
               len(data), cfg.split, batches.steps_per_epoch, last_step)
  fixed = datasets.fixed_batch(data, min(datasets.FIXED_BATCH, len(data)))
  return _Data(batches=batches, fixed=fixed, valid=valid, last_step=last_step,
               identity={"images": len(data), "fingerprint": datasets.fingerprint(data)})


def _placement(cfg, part, chief, devices):
  """(session target, session config, device scope) for one device, towers on `devices`, or
  a task of a cluster, whose server it starts."""
  if devices:
    logging.info("each batch split across %d towers on %s", len(devices), ", ".join(devices))
  if not cfg.cluster:
    device = devices[0] if devices else runs.device_scope(cfg.device)
    return "", runs.session_config(devices), device
  server = cluster.start_server(cfg.cluster)
  logging.info("%s: training part %d of %d of each batch%s", cluster.name(cfg.cluster),
               part[0] + 1, part[1], "; the chief" if chief else
               "; the chief writes the checkpoints, summaries and pictures")
  return server.target, cluster.session_config(cfg.cluster), cluster.device_setter(cfg.cluster)


def _build(cfg, device, devices, warm):
  """The training graph: (runs.Graph, [] generation loss per image, Saver, initialiser, and
  with a `warm` checkpoint the Saver of the model's variables that restores them, else None)."""
  with tf1.device(device):  # tf1's: a cluster's device setter is a function
    graph = runs.build_graph(cfg.model, cfg.seed, devices=devices, cluster=cfg.cluster)
    # Per image, so that the progress line does not jump at a smaller last batch.
    gen_per_image = tf.reduce_mean(graph.draw.gen_loss_per_image)
  # Relative paths in `checkpoint`, so that a copied or moved logdir resumes from its own files.
  # In a cluster the device setter puts its ops, and so the files, on this task.
  with tf1.device(device if cfg.cluster else None):
    saver = tf1.train.Saver(max_to_keep=cfg.keep_checkpoints, save_relative_paths=True)
    warm_saver = tf1.train.Saver(var_list=runs.model_variables()) if warm else None
  return graph, gen_per_image, saver, tf1.global_variables_initializer(), warm_saver


def _start(sess, graph, saver, init, writer, latest, cfg, warm, warm_saver, identity):
  """Restores checkpoint `latest` or, on the chief (`writer` given), initialises the
  variables, then restores the model's and the step from a `warm` checkpoint (--init_from)
  with `warm_saver`; the chief then writes hparams.json, with the data's `identity`. Returns
  the step training goes on from.
  A cluster task first connects to the cluster (cluster.connect bounds its waits)."""
  if graph.sync:
    cluster.connect(sess, graph.sync, cfg.cluster)
  if latest:
    runs.restore(sess, latest, cfg.logdir, saver)
    # Oldest first, so that --keep_checkpoints also counts those of earlier sessions; not
    # the damaged ones after `latest`, which the next checkpoints overwrite.
    listed = runs.checkpoints(cfg.logdir)
    saver.recover_last_checkpoints(listed[listed.index(latest):][::-1])
    logging.info("resumed from %s", latest)
  elif writer:
    sess.run(init)
    if warm:
      # The optimisers' slots (and a VAE/GAN discriminator) keep their initial values: an
      # export has none. Adam's are rebuilt from the gradients: at step 1,000 of MNIST the
      # training bound was level with the resumed run's again after ~25 steps (README).
      runs.restore(sess, warm, cfg.init_from, warm_saver, runs.model_variables())
      logging.info("a new run from the weights of %s (step %d); the optimiser starts afresh",
                   warm, sess.run(graph.draw.global_step))
    writer.add_graph(tf1.get_default_graph())
  if writer:
    # Again on resume: the settings a resumed run may change (epochs, data_dir, the
    # optimiser's) are recorded as they now are; where the run started from stays as it was
    # (unknown where checkpoints were copied without their hparams.json).
    origin = cfg.init_from
    if latest:
      run = runs.read_hparams(cfg.logdir)
      origin = run[0].get("training", {}).get("init_from") if run else None
    write_hparams(cfg._replace(init_from=origin), identity)
  # A cluster task starts where the chief is (a restarted worker rejoins there).
  return int(sess.run(graph.sync.start if graph.sync else graph.draw.global_step))


def _start_history(cfg, latest, warm, step):
  """The logdir's runs.HISTORY from `step` on: a resumed run's own up to its checkpoint (a
  resume from an older one evaluates the later steps again), a new run's from --init_from
  (`warm`), where the line of weights it goes on with was evaluated."""
  source = cfg.init_from if warm else cfg.logdir if latest else None
  rows = runs.read_history(source, until=step) if source else []
  if rows or os.path.exists(os.path.join(cfg.logdir, runs.HISTORY)):
    runs.write_history(cfg.logdir, rows)


def _record_evaluation(cfg, step, learning_rate, results):
  """Adds an evaluation of the valid split to the logdir's runs.HISTORY."""
  rows = runs.read_history(cfg.logdir)
  rows.append(dict({k: results.get(k) for k in runs.HISTORY_RESULTS}, step=step,
                   learning_rate=learning_rate))
  runs.write_history(cfg.logdir, rows)


def _loop(sess, graph, gen_per_image, data, step, cfg, chief, interrupt):
  """Trains from `step` to data.last_step; returns the step reached. `chief`: a _Chief on the
  chief, which writes what is due after each step; None on the other tasks. `interrupt`: the
  _Interrupt, which may stop it before a step."""
  draw, batches, last_step = graph.draw, data.batches, data.last_step
  progress = _Progress(cfg.progress_secs, step, last_step, batches.steps_per_epoch,
                       cfg.epochs, "" if chief else cluster.name(cfg.cluster) + ": ")
  fetches = [draw.train_op, gen_per_image, draw.latent_loss, draw.loss,
             {"schedule/kl_weight": draw.kl_weight,
              "schedule/learning_rate": draw.learning_rate}]
  # VAE/GAN: its losses and the discriminator's accuracies; its pixel term is only reported.
  adversarial = {tag: getattr(graph.vaegan, field)
                 for tag, (field, _) in VAEGAN_SCALARS.items()} if graph.vaegan else {}
  gen_label = "pixel L2/image" if graph.vaegan else "gen/image"
  if chief and cfg.patience and _patience_spent(cfg, step, _best(cfg)):
    return step  # an earlier session stopped early here
  while step < last_step:
    epoch, start = divmod(step, batches.steps_per_epoch)
    for batch in batches.epoch(epoch, start):
      interrupt.check()
      feed = {graph.images: batch}
      if graph.sync:
        feed[graph.sync.whole_batch] = batches.whole_size(step % batches.steps_per_epoch)
        feed[graph.sync.step] = step
      values = _Values(*sess.run(fetches + [adversarial], feed)[1:])
      step += 1
      # An empty part (a last batch smaller than the tasks) reports NaN means.
      bad = [v for v in [values.loss] + list(values.extra.values()) if not np.isfinite(v)]
      if bad and len(batch):
        raise fileio.UserError(
            "loss became %s at step %d; the last good checkpoint is kept in %s; try a "
            "lower --learning_rate or --clip" % (bad[0], step, cfg.logdir))
      # The other tasks' losses are of their parts: only the chief shows its own.
      shown = [(gen_label, values.gen), ("latent", values.lat)] + [
          (label, values.extra[tag]) for tag, (_, label) in VAEGAN_SCALARS.items()
          if label and tag in values.extra] if chief else []
      progress.update(step, len(batch), shown, force=step == last_step)
      if chief and _chief_outputs(sess, graph, step, data, cfg, chief, values, interrupt):
        return step  # stopped early (--patience)
      if step == last_step:
        break
  return step


def _chief_outputs(sess, graph, step, data, cfg, chief, values, interrupt):
  """After step `step`: its summaries, the collapse warning (VAE/GAN), and the pictures,
  evaluation and checkpoint when they are due. `chief`: a _Chief; `values`: the step's
  _Values; `interrupt`: the _Interrupt, which may stop the evaluation. Returns whether
  training stops early (--patience)."""
  last_step, stop = data.last_step, False
  scalars = {"loss/generation_per_image": values.gen, "loss/latent": values.lat,
             "loss/total": values.loss}
  scalars.update(values.schedule)
  scalars.update(values.extra)
  chief.writer.add_summary(imaging.scalar_summary(scalars), step)
  if graph.vaegan:
    chief.collapse.update(step, values.extra["vaegan/real_accuracy"],
                          values.extra["vaegan/fake_accuracy"])
  pictures = step % cfg.image_every == 0 or step == last_step
  evaluated = cfg.eval_every and (step % cfg.eval_every == 0 or step == last_step)
  saved = step % cfg.checkpoint_every == 0 or step == last_step or evaluated
  if pictures or saved:
    _check_finite(sess, chief.finite, step, cfg)
  if pictures:
    _save_canvases(sess, graph, data.fixed, cfg, step, chief.writer)
  if evaluated:
    with interrupt.immediate():  # minutes on a large valid split
      results = evaluate.evaluate(sess, graph, data.valid, cfg.model, cfg.batch_size,
                                  cfg.progress_secs, train_batch_size=cfg.batch_size)
    _log_evaluation(results, step, chief.writer)
    _record_evaluation(cfg, step, values.schedule["schedule/learning_rate"], results)
    if chief.best_saver:
      stop = _keep_best(sess, graph, chief.best_saver, results["bound"], step, cfg)
  # A checkpoint at each evaluation too (an early stop is one): a resume then starts from the
  # last one rather than training and evaluating again the steps since an earlier checkpoint.
  if saved:
    _save(sess, chief.saver, chief.save_path, graph.draw.global_step)
  return stop


def _all_finite():
  """[] bool: whether every float variable (the model's and the optimisers' slots) is finite."""
  return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in tf1.global_variables()
                        if v.dtype.base_dtype.is_floating])


def _check_finite(sess, finite, step, cfg):
  """Stops the run before its pictures, evaluation or checkpoint of `step` when an update has
  made a weight inf or NaN. The step's loss, of the weights before its update, was finite:
  without this the next step's non-finite loss would stop the run with a checkpoint of the
  broken weights as its last, from which every resume fails again."""
  if not sess.run(finite):
    raise fileio.UserError(
        "the update of step %d made weights inf or NaN; the last good checkpoint is kept in %s; "
        "try a lower --learning_rate or --clip" % (step, cfg.logdir))


def _keep_best(sess, graph, best_saver, bound, step, cfg, log=logging.info):
  """With --patience: a finite valid `bound` better than BEST's replaces it (checkpoint,
  hparams.json, then runs.BEST_JSON), so --mode=eval, gif and export read BEST as a run;
  `log` says which, and how much of the patience is spent. Returns whether it all is."""
  folder = os.path.join(cfg.logdir, BEST)
  best = _comparable(runs.read_best(folder), folder, cfg)
  # A NaN bound (valid faces that overflow finite weights) as the first would never be beaten.
  if np.isfinite(bound) and (best is None or bound < best["bound"]):
    _save(sess, best_saver, os.path.join(folder, "model.ckpt"), graph.draw.global_step,
          best=True)
    fileio.write_json(os.path.join(folder, runs.HPARAMS), runs.read_hparams(cfg.logdir)[0])
    runs.write_history(folder, runs.read_history(cfg.logdir, until=step))
    best = {"bound": float(bound), "step": step}
    fileio.write_json(os.path.join(folder, runs.BEST_JSON), best)
    log("valid bound %.4f: the best so far, kept in %s", bound, folder)
  elif best is not None and step > best["step"]:
    # The valid line rounds the bound to hundredths; late in a run it moves by thousandths.
    start = _patience_start(cfg, step, best)
    since = "" if start == best["step"] else " since the rate change at step %d" % start
    log("valid bound %.4f: not below the best, %.4f (step %d), for %d of the --patience=%d "
        "evaluations%s", bound, best["bound"], best["step"], (step - start) // cfg.eval_every,
        cfg.patience, since)
  return _patience_spent(cfg, step, best)


def _carry_best(sess, graph, best_saver, step, cfg):
  """A new run from a best checkpoint (--init_from with its runs.BEST_JSON at `step`, the warm
  step: a run's BEST, or its export) starts its own BEST there, so that --patience counts from
  that evaluation: a run that goes on from an export session after session still stops."""
  best = runs.read_best(cfg.init_from)
  if best and best["step"] == step and _comparable(best, cfg.init_from, cfg):
    _keep_best(sess, graph, best_saver, best["bound"], step, cfg, log=lambda *_: None)
    logging.info("the best valid bound so far is %s's: %.4f (step %d)", cfg.init_from,
                 best["bound"], step)


def _best(cfg):
  """BEST's {"bound", "step"} (runs.BEST_JSON), or None before the first evaluation, or
  where BEST's bound was measured with another likelihood than this run's (_likelihood_change):
  the next evaluation then replaces it, and _keep_best says so."""
  folder = os.path.join(cfg.logdir, BEST)
  best = runs.read_best(folder)
  return None if best is None or _likelihood_change(folder, cfg) else best


def _comparable(best, folder, cfg):
  """`best`, the runs.BEST_JSON of `folder` (None: none), where this run's valid bounds can
  beat it; None, said in the log, where it was measured with another likelihood."""
  change = best and _likelihood_change(folder, cfg)
  if not change:
    return best
  logging.info("the best valid bound of %s, %.4f, was measured with %s: it is not this run's "
               "best", folder, best["bound"], change)
  return None


def _likelihood_change(folder, cfg):
  """Where the valid bounds of `folder` (BEST, or an --init_from run) were measured with
  another pixel likelihood than this run's (evaluate.likelihood_sigma), the two, as words for a
  log line; else "". A run may resume, or go on --init_from, with another --pixel_sigma, which
  moves the bound (the recipe's by thousands of nats): a best of the old sigma may never be
  beaten, or always be."""
  run = runs.read_hparams(folder)
  if run is None:
    return ""
  hparams, saved = run
  # A batch size not recorded (l2's sigma needs it) is taken as this run's.
  batch = hparams.get("training", {}).get("batch_size") or cfg.batch_size
  was = evaluate.likelihood_sigma(saved, batch)
  now = evaluate.likelihood_sigma(cfg.model, cfg.batch_size)
  if was == now:
    return ""
  return "a Gaussian likelihood of sigma %s, this run's with %s" % (was, now)


def _patience_spent(cfg, step, best):
  """Whether, at `step`, `patience` evaluations have passed since `best` (_best's; None: no
  evaluation yet) and since the last --lr_schedule rate change: a warm restart raises the rate,
  and the bound gets worse for a while before the decay beats the old best, so the patience
  runs from each change rather than ending the cycle before its decay."""
  if best is None:
    return False
  return step - _patience_start(cfg, step, best) >= cfg.patience * cfg.eval_every


def _patience_start(cfg, step, best):
  """The step the patience counts from at `step`: the later of `best`'s and the last rate change
  of --lr_schedule at or before `step`."""
  changes = [start for start, _ in objectives.parse_lr_schedule(cfg.model.lr_schedule)
             if start <= step] if cfg.model.lr_schedule else []
  return max([best["step"]] + changes)
