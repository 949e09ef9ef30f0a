"""--mode=export: a run's newest weights, without the optimisers' slots, into a folder that
--mode=eval, gif and sample read as they read a run (pretrained/ holds such folders).

The folder gets the model's variables and the global step (what the evaluation graph
has), the run's hparams.json (unchanged but for its data folder, where one is given: a run
records the folder it trained from, often a path of its own machine, and eval, gif and
sample of the export read there unless told another) and, from a run's best/ folder, its
valid.json (the valid bound of those weights), which a run from the export starts its own
best/ with, and the valid history of the line of weights (runs.HISTORY), which a run from
it goes on with.
Adam's two slots per variable (two thirds of a training checkpoint) and the VAE/GAN
discriminator are left behind: nothing but training needs them: a folder exported this way
does not resume its run, though a new run can start from it (--init_from).

The weights go into data files of at most SHARD_BYTES each, so that a repository takes them:
the MNIST model without attention has 10.5 MB of weights, 8.5 MB of them in one matrix. A
variable too large for one file is saved as slices of its rows, each with its place in the
whole; TensorFlow's checkpoint reader puts them together again (the way it restores a
variable partitioned across parameter servers), so the folder restores as any checkpoint.
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_io_ops

from draw_color import fileio
from draw_color import runs

tf1 = tf.compat.v1

SHARD_BYTES = 4 << 20  # 4 MiB


def export(logdir, export_dir, data_dir=None, shard_bytes=SHARD_BYTES):
  """Writes the newest readable checkpoint of `logdir`'s model into `export_dir`, in data
  files of at most `shard_bytes` (a single row of a variable larger than that gets a file
  of its own). `data_dir`, where given, replaces the run's data folder in hparams.json.

  Returns (the exported checkpoint's path, its global step). UserError if `logdir` has no
  run or `export_dir` already holds a checkpoint (an export never overwrites one).
  """
  checkpoint, mcfg, hparams = runs.latest_run(logdir)
  if runs.checkpoints(export_dir):
    raise fileio.UserError("%s already holds a checkpoint; remove it or choose another "
                           "--export_dir" % export_dir)
  with tf.Graph().as_default():
    runs.build_graph(mcfg, seed=0, training=False)
    variables = runs.model_variables()
    with tf1.Session(config=runs.session_config()) as sess:
      runs.restore(sess, checkpoint, logdir)
      values = dict(zip([v.op.name for v in variables], sess.run(variables)))
    step = int(values[tf1.train.get_global_step().op.name])  # one of model_variables()
  if data_dir is not None:
    hparams["data"]["data_dir"] = data_dir
  # hparams.json first: a folder whose `checkpoint` file lists a checkpoint is complete.
  fileio.write_json(os.path.join(export_dir, runs.HPARAMS), hparams)
  # A best checkpoint's valid bound goes with it: a run from the export (--init_from) counts
  # its --patience from that evaluation.
  best = runs.read_best(logdir)
  if best and best["step"] == step:
    fileio.write_json(os.path.join(export_dir, runs.BEST_JSON), best)
  history = runs.read_history(logdir, until=step)
  if history:
    runs.write_history(export_dir, history)
  path = os.path.join(export_dir, "model.ckpt-%d" % step)
  try:
    _save_in_shards(values, path, shard_bytes)
  except tf.errors.OpError as e:
    raise fileio.UserError("cannot write the checkpoint into %s (%s)"
                           % (export_dir, fileio.error_reason(e)))
  # The folder as an absolute path: under a relative one TensorFlow rewrites the file name
  # relative to the working directory ("../../model.ckpt-N"); this way `checkpoint` names the
  # file alone, so the folder works wherever it is cloned.
  tf1.train.update_checkpoint_state(os.path.abspath(export_dir), os.path.basename(path))
  return path, step


def pieces(name, value, shard_bytes):
  """[(name, the V2 checkpoint's shape-and-slice spec, the piece's values)]: `value` whole
  ("" spec) where it fits in `shard_bytes`, else blocks of its rows that each fit."""
  if value.nbytes <= shard_bytes or value.ndim == 0:
    return [(name, "", value)]
  rows = max(1, shard_bytes // (value.nbytes // value.shape[0]))
  shape = " ".join(str(d) for d in value.shape)
  return [(name, "%s %d,%d%s" % (shape, start, min(rows, value.shape[0] - start),
                                 ":-" * (value.ndim - 1)), value[start:start + rows])
          for start in range(0, value.shape[0], rows)]


def _save_in_shards(values, path, shard_bytes):
  """Saves {name: array} as the V2 checkpoint `path`, its pieces packed in order into data
  files of at most `shard_bytes`: each shard is written by SaveV2 under a temporary prefix,
  and MergeV2Checkpoints writes the one index over them, as a sharded tf.train.Saver does."""
  shards, size = [], shard_bytes + 1
  for name in sorted(values):
    for piece in pieces(name, np.asarray(values[name]), shard_bytes):
      if size + piece[2].nbytes > shard_bytes:
        shards.append([])
        size = 0
      shards[-1].append(piece)
      size += piece[2].nbytes
  with tf.Graph().as_default(), tf1.Session() as sess:
    feed, saves, prefixes = {}, [], []
    for k, shard in enumerate(shards):
      prefix = gen_io_ops.sharded_filename(path + "_temp/part", k, len(shards))
      tensors = []
      for _, _, value in shard:
        tensors.append(tf1.placeholder(value.dtype, value.shape))
        feed[tensors[-1]] = value
      saves.append(gen_io_ops.save_v2(prefix, [name for name, _, _ in shard],
                                      [spec for _, spec, _ in shard], tensors))
      prefixes.append(prefix)
    with tf.control_dependencies(saves):
      merge = gen_io_ops.merge_v2_checkpoints(prefixes, path, delete_old_dirs=True)
    sess.run(merge, feed)
