"""Parts of a batch trained apart whose gradients add up to the whole batch's: in-graph
towers over several devices of one machine (--devices), and the part of each worker of a
cluster (cluster.py).

A batch of B images is cut into K parts of near-equal sizes b_k (split_sizes); part k gets
its images and its slice of the batch's eps, so every image meets the noise it would meet
on one device. Each part builds model.build_draw on its images (the model alone); the
variables are shared (AUTO_REUSE), created by the first part.

The whole batch's objective is a sum over the parts of their `share`s: the KL and the
batch-mean losses are weighed by b_k / B, the l2 loss, which sums over the batch, is added
as it is. So the sum of the parts' gradients is the gradient one device computes on the
whole batch, and clipping and Adam (objectives.adam_step) then do what they do on one device.
"""

import collections

import tensorflow as tf

from draw_color import model
from draw_color import objectives

tf1 = tf.compat.v1

# The losses whose generation term model.build_draw sums over the batch rather than averages.
SUMMED = ("l2",)

Share = collections.namedtuple(
    "Share",
    [
        "gen_loss",  # [] the part's generation loss in the whole batch's units.
        "latent_loss",  # [] the part's KL in the whole batch's units.
    ])


def split_sizes(batch, parts):
  """[] int32 batch size B -> [parts] int32 sizes, larger first and differing by at most 1
  (5 in 2: [3, 2]); fewer images than parts leaves the last parts empty."""
  index = tf.range(parts)  # [K]
  return batch // parts + tf.cast(index < batch % parts, tf.int32)  # [K]


def noise_axis(config):
  """The batch axis of model.noise_shape's eps: 1 of [T, B, Z], or 0 of B3's [B, Z]."""
  return 0 if config.compat == "original" else 1


def share(draw, config, weight):
  """The Share of a part whose DrawGraph is `draw` and which holds the fraction `weight`
  ([] float, b_k / B) of the batch. An empty part (b_k = 0, its means NaN) adds 0."""
  gen_weight = tf.constant(1.0) if config.loss in SUMMED else weight
  return Share(gen_loss=tf.math.multiply_no_nan(draw.gen_loss, gen_weight),
               latent_loss=tf.math.multiply_no_nan(draw.latent_loss, weight))


def _concat_windows(windows):
  """Windows of [T, b_k] tensors -> one Window of [T, B], or None."""
  if windows[0] is None:
    return None
  return model.Window(*[tf.concat(field, 1) for field in zip(*windows)])


def build(images, config, noise, devices):
  """DRAW over `images` [B, A, A, C] on len(devices) towers; returns a model.DrawGraph of
  the whole batch whose train_op is one Adam step on the sum of the towers' gradients.

  noise: the batch's eps, shaped as model.noise_shape(config, B). devices: tf device names;
  the first one holds the variables (the first tower creates them), the slots, the summed
  gradients and the update. The global step must exist. B may be smaller than the number
  of towers.
  """
  if config.loss == "vaegan":
    raise ValueError("--loss=vaegan trains on one device: its three optimisers are not split "
                     "into towers")
  count = len(devices)
  global_step = tf1.train.get_global_step()
  kl_weight, learning_rate = objectives.schedule(config, global_step)
  batch = tf.shape(images)[0]
  sizes = split_sizes(batch, count)  # [K]
  weights = tf.cast(sizes, tf.float32) / tf.cast(batch, tf.float32)  # [K]
  image_parts = tf.split(images, sizes, num=count)  # K of [b_k, A, A, C]
  noise_parts = tf.split(noise, sizes, axis=noise_axis(config), num=count)
  draws, shares, grads, variables = [], [], [], None
  for k, device in enumerate(devices):
    with tf.device(device), tf1.name_scope("tower%d" % k):
      draw = model.build_draw(image_parts[k], config, noise=noise_parts[k])
      part = share(draw, config, weights[k])
      if variables is None:
        variables = tf1.trainable_variables()  # the first tower has created them all
      grads.append(objectives.gradients(part.gen_loss + kl_weight * part.latent_loss, variables))
    draws.append(draw)
    shares.append(part)

  with tf.device(devices[0]):
    summed = [(None if g[0] is None else tf.add_n(list(g)), v)
              for g, v in zip(zip(*grads), variables)]
    train_op = objectives.adam_step(summed, config, learning_rate, global_step)
    gen_loss = tf.add_n([s.gen_loss for s in shares])
    latent_loss = tf.add_n([s.latent_loss for s in shares])

    def along_batch(field, axis):
      return tf.concat([getattr(d, field) for d in draws], axis)

    return model.DrawGraph(
        canvases=along_batch("canvases", 1),
        read_windows=_concat_windows([d.read_windows for d in draws]),
        write_windows=_concat_windows([d.write_windows for d in draws]),
        mus=along_batch("mus", 1),
        log_sigmas=along_batch("log_sigmas", 1),
        prior_mus=along_batch("prior_mus", 1),
        prior_log_sigmas=along_batch("prior_log_sigmas", 1),
        gen_loss_per_image=along_batch("gen_loss_per_image", 0),
        kl_per_step=along_batch("kl_per_step", 1),
        latent_loss_per_image=along_batch("latent_loss_per_image", 0),
        gen_loss=gen_loss,
        latent_loss=latent_loss,
        loss=gen_loss + latent_loss,
        objective=gen_loss + kl_weight * latent_loss,
        kl_weight=kl_weight,
        learning_rate=learning_rate,
        train_op=train_op,
        global_step=global_step)
