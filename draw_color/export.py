"""--mode=export: a run's newest weights, without the optimisers' slots, into a folder that
--mode=eval, gif and sample read as they read a run (pretrained/ holds such folders).

The folder gets the model's variables and the global step (what the evaluation graph
has), and the run's hparams.json unchanged. Adam's two slots per variable (two thirds of a
training checkpoint) and the VAE/GAN discriminator are left behind: nothing but training
needs them: a folder exported this way does not resume its run, though a new run can start
from it (--init_from).
"""

import os

import tensorflow as tf

from draw_color import fileio
from draw_color import runs

tf1 = tf.compat.v1


def export(logdir, export_dir):
  """Writes the newest readable checkpoint of `logdir`'s model into `export_dir`.

  Returns (the exported checkpoint's path, its global step). UserError if `logdir` has no
  run or `export_dir` already holds a checkpoint (an export never overwrites one).
  """
  checkpoint, mcfg, hparams = runs.latest_run(logdir)
  if runs.checkpoints(export_dir):
    raise fileio.UserError("%s already holds a checkpoint; remove it or choose another "
                           "--export_dir" % export_dir)
  with tf.Graph().as_default():
    runs.build_graph(mcfg, seed=0, training=False)
    saver = tf1.train.Saver(var_list=runs.model_variables(), save_relative_paths=True)
    with tf1.Session(config=runs.session_config()) as sess:
      runs.restore(sess, checkpoint, logdir)
      step = int(sess.run(tf1.train.get_global_step()))
      # hparams.json first: a folder whose `checkpoint` file lists a checkpoint is complete.
      fileio.write_json(os.path.join(export_dir, runs.HPARAMS), hparams)
      try:
        path = saver.save(sess, os.path.join(export_dir, "model.ckpt"), global_step=step,
                          write_meta_graph=False)
      except tf.errors.OpError as e:
        raise fileio.UserError("cannot write the checkpoint into %s (%s)"
                               % (export_dir, fileio.error_reason(e)))
  return path, step
