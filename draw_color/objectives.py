"""What training minimises and how: every objective, schedule and optimiser of the project.

Pure graph construction, as model.py: the model's outputs and a `ModelConfig` in, the same
namedtuples out with their training fields filled in. No session, no files, no flags.

The split with the model. model.py (and vaegan.py for --loss=vaegan's discriminator) builds
what the model computes of an image: canvases, windows, posteriors and the losses as tensors,
the negative log-likelihood terms of the DRAW paper (eq. 9-11) and of VAE/GAN, which evaluation
reports as they are. This module decides what a training step does with them: the KL's weight
and the learning rate of the step, the objective that weight makes of the losses, its
gradients, clipping and the optimiser's update. Towers (towers.py) and cluster tasks
(cluster.py) compute their gradients apart and call `schedule`, `gradients` and `adam_step`,
so that every way of training takes one device's step.

l2, gaussian, bernoulli (`minimize`): one objective, gen_loss + kl_weight * latent_loss (the
paper's eq. 12 loss L = L^x + L^z, with the KL annealed by --kl_warmup), and one Adam step on
all variables, each gradient clipped to norm --clip on its own (as the original; or all of them
together, --clip_by=global).

vaegan (`minimize_vaegan`; Larsen et al. 2015, arXiv 1512.09300): three optimisers (the
paper's algorithm 1; Adam, or RMSProp as the authors' code), each on its own variables, all
from the gradients of the same batch:

  encoder (encoder, read, mu, log_sigma, prior)   kl_weight * L_prior + L_llike
  decoder (decoder, write)                        gamma * L_llike + L_GAN_dec
  discriminator (discriminator)                   L_GAN + r/2 * R1   (r = vaegan_r1, often 0)

with the losses of vaegan.py. The GAN loss reaches neither the encoder nor, through L_llike, the
discriminator: each optimiser only updates its own variables. With vaegan_prior_rate = k != 1
(a departure), the learned prior (scope prior) gets a fourth optimiser of the encoder's loss
(of which only the KL reaches it) at k times the learning rate.

Balancing (vaegan_balance; the authors' code, not the paper): with real_cost = mean -log D(x)
and fake_cost = mean -log(1 - D) over x~ and x_p, the discriminator is not updated when
either cost is below EQUILIBRIUM - MARGIN (it is far ahead), the decoder not when either is
above EQUILIBRIUM + MARGIN (it is far behind), and both are when both would be skipped; the
encoder always is. The decision uses the costs of the batch being trained on.

Both VAE/GAN and the other losses follow the same schedules (`schedule`) of the global step.
"""

import numpy as np
import tensorflow as tf

from draw_color import vaegan

tf1 = tf.compat.v1

# The variable scopes each VAE/GAN optimiser updates; together they cover every trainable
# variable. prior: the learned prior is trained by L_prior, as the posterior (by an optimiser of
# its own with vaegan_prior_rate).
PRIOR_SCOPE = "prior"
ENCODER_SCOPES = ("encoder", "read", "mu", "log_sigma", PRIOR_SCOPE)
DECODER_SCOPES = ("decoder", "write")
VAEGAN_OPTIMIZERS = ("adam", "rmsprop")
# The balancing rule's constants, the authors' (andersbll/autoencoding_beyond_pixels).
EQUILIBRIUM = 0.68
MARGIN = 0.35


def schedule(config, global_step):
  """The KL's weight and the learning rate at `global_step` ([] int64): ([] float, [] float).

  Functions of the step alone, so that resuming stays exact and every replica of a step
  (towers.py, cluster.py) uses the same values.
  """
  if config.lr_schedule and config.lr_decay_steps:
    raise ValueError("lr_schedule and lr_decay_steps are two schedules of the learning "
                     "rate: set one")
  step = tf.cast(global_step, tf.float32)
  kl_weight = tf.constant(1.0)
  learning_rate = tf.constant(config.learning_rate)
  if config.kl_warmup:
    # KL annealing (Bowman et al. 2016): the posterior first learns to carry information,
    # then is pulled toward the prior.
    kl_weight = tf.minimum(1.0, step / config.kl_warmup)
  if config.lr_decay_steps:
    learning_rate = config.learning_rate * tf.pow(config.lr_decay_rate,
                                                  step / config.lr_decay_steps)
  if config.lr_schedule:
    # Step decay (a warm restart's, run unattended): piecewise_constant takes rates[i + 1]
    # above boundaries[i], so step STEP itself is the first at the new rate.
    starts, rates = zip(*parse_lr_schedule(config.lr_schedule))
    learning_rate = tf1.train.piecewise_constant(
        global_step, [tf.constant(s - 1, tf.int64) for s in starts],
        [config.learning_rate] + list(rates))
  return kl_weight, learning_rate


def parse_lr_schedule(text):
  """"STEP:RATE,..." -> [(STEP int, RATE float)]; ValueError unless the steps are whole, not
  negative, increasing and int64s, and the rates positive numbers float32 holds (float32_number)."""
  pairs = []
  for item in text.split(","):
    start, rate = item.split(":")
    pairs.append((int(start), float(rate)))
  starts = [s for s, _ in pairs]
  if starts[0] < 0 or starts != sorted(set(starts)) or starts[-1] > np.iinfo(np.int64).max:
    raise ValueError("steps must be increasing, not negative and held by int64 (the global "
                     "step's): %s" % text)
  if not all(r > 0 and float32_number(r) for _, r in pairs):
    raise ValueError("rates must be positive numbers float32 holds: %s" % text)
  return pairs


def float32_number(value):
  """Whether float32, which every graph computes in, holds the Python float `value` as the
  number it is: 0, or a magnitude in its normal range (1.2e-38 to 3.4e38). NaN, inf and the
  numbers float32 rounds to inf or to 0 (a learning rate of 1e39 or 1e-50) would run as others."""
  float32 = np.finfo(np.float32)
  magnitude = abs(value)
  return magnitude == 0 or float(float32.tiny) <= magnitude <= float(float32.max)


def gradients(objective, variables):
  """The gradients of `objective` [] for `variables` as an optimiser's compute_gradients
  computes them: gated, each op's input gradients together. One device's step keeps the graph
  it had (ungated it has 30% fewer ops and 2% fewer matmul FLOPs, but ran no faster)."""
  return tf1.gradients(objective, variables, gate_gradients=True)


def clip(grads_and_vars, config):
  """[(gradient, variable)] of the variables that get a gradient, clipped as config.clip_by
  says: each to norm config.clip on its own ("tensor", as the original), or all scaled by one
  factor so that their global norm is at most config.clip ("global", as the reproductions
  that report MNIST bounds clip, Blocks' StepClipping)."""
  pairs = [(g, v) for g, v in grads_and_vars if g is not None]
  if config.clip_by == "global":
    clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], config.clip)
    return list(zip(clipped, [v for _, v in pairs]))
  return [(tf.clip_by_norm(g, config.clip), v) for g, v in pairs]


def adam_step(grads_and_vars, config, learning_rate, global_step):
  """The update of every loss but vaegan: Adam on the gradients clipped (clip), then the
  global step + 1. Returns the op.

  Built once per graph, outside any name scope, so the slots are `VAR/Adam`, `VAR/Adam_1`
  and `beta1_power`, `beta2_power` however many devices computed the gradients.
  """
  optimizer = tf1.train.AdamOptimizer(learning_rate, beta1=config.beta1)
  return optimizer.apply_gradients(clip(grads_and_vars, config), global_step=global_step)


def _scheduled(draw, config):
  """`draw` with the global step (made if missing), this step's schedule and the objective."""
  global_step = tf1.train.get_or_create_global_step()
  kl_weight, learning_rate = schedule(config, global_step)
  return draw._replace(objective=draw.gen_loss + kl_weight * draw.latent_loss,
                       kl_weight=kl_weight, learning_rate=learning_rate,
                       global_step=global_step)


def minimize(draw, config):
  """`draw`, a model.DrawGraph of build_draw, with its training fields: the global step, the
  schedule, the objective and train_op, the clipped Adam step on every trainable variable."""
  if config.loss == "vaegan":
    raise ValueError("--loss=vaegan trains with minimize_vaegan: its optimisers need the "
                     "discriminator")
  draw = _scheduled(draw, config)
  variables = tf1.trainable_variables()
  train_op = adam_step(zip(gradients(draw.objective, variables), variables), config,
                       draw.learning_rate, draw.global_step)
  return draw._replace(train_op=train_op)


def _partition(groups):
  """The trainable variables as one list for each of `groups`, tuples of top-level variable
  scopes; ValueError if one belongs to none, since no optimiser would train it."""
  found = tuple([] for _ in groups)
  for v in tf1.trainable_variables():
    top = v.op.name.split("/")[0]
    owners = [i for i, scopes in enumerate(groups) if top in scopes]
    if not owners:
      raise ValueError("variable %s is in none of the VAE/GAN optimisers' scopes" % v.op.name)
    found[owners[0]].append(v)
  return found


def balance(real_cost, fake_cost):
  """The authors' balancing rule: [] costs -> (update Dis, update the decoder), [] bools."""
  low, high = EQUILIBRIUM - MARGIN, EQUILIBRIUM + MARGIN
  update_dis = tf.logical_not(tf.logical_or(real_cost < low, fake_cost < low))
  update_dec = tf.logical_not(tf.logical_or(real_cost > high, fake_cost > high))
  neither = tf.logical_not(tf.logical_or(update_dis, update_dec))
  return tf.logical_or(update_dis, neither), tf.logical_or(update_dec, neither)


def _vaegan_optimizer(config, learning_rate, name):
  # Named, so each optimiser's slots are told apart in the checkpoint.
  if config.vaegan_optimizer == "rmsprop":
    return tf1.train.RMSPropOptimizer(learning_rate, name="RMSProp_" + name)
  return tf1.train.AdamOptimizer(learning_rate, beta1=config.beta1, name="Adam_" + name)


def minimize_vaegan(draw, adversary, config):
  """--loss=vaegan: `draw` (build_draw's) and `adversary` (vaegan.build's VaeGan of it) with
  their training fields: the schedule and objective as `minimize`'s (the objective only
  reported), the three objectives, the balancing decision and the three optimisers' steps.
  draw.train_op is the VaeGan's: the three steps, then the global step + 1.

  Returns (draw, adversary).
  """
  cfg = config
  draw = _scheduled(draw, cfg)
  encoder_loss = draw.kl_weight * draw.latent_loss + adversary.llike  # --kl_warmup as others
  decoder_loss = cfg.vaegan_gamma * adversary.llike + adversary.gan_loss
  # Mescheder et al. 2018, eq. 9: (gamma / 2) E|grad D|^2 on the faces, their gamma our r.
  discriminator_objective = (adversary.discriminator_loss
                             + 0.5 * cfg.vaegan_r1 * adversary.gradient_penalty)
  if cfg.vaegan_balance:
    update_dis, update_dec = balance(adversary.real_cost, adversary.fake_cost)
  else:
    update_dis = update_dec = tf.constant(True)
  # The prior learns only from the KL, by at most about its learning rate a step under Adam,
  # while the posteriors' means, sums over many weights, move much faster: with
  # vaegan_prior_rate its own optimiser lets it keep up (README, "A better loss").
  own_prior = cfg.vaegan_prior_rate != 1
  groups = [  # (loss, variable scopes, name, whether to update, learning rate's factor)
      (encoder_loss, tuple(s for s in ENCODER_SCOPES if not (own_prior and s == PRIOR_SCOPE)),
       "encoder", tf.constant(True), 1.0),
      (decoder_loss, DECODER_SCOPES, "decoder", update_dec, 1.0),
      (discriminator_objective, (vaegan.DISCRIMINATOR_SCOPE,), "discriminator", update_dis, 1.0)]
  if own_prior:
    groups.append((encoder_loss, (PRIOR_SCOPE,), "prior", tf.constant(True),
                   cfg.vaegan_prior_rate))
  steps = []
  for (loss, _, name, update, rate), variables in zip(groups,
                                                       _partition([g[1] for g in groups])):
    # The schedule's learning rate, so --lr_decay_steps holds here as for the other losses.
    optimizer = _vaegan_optimizer(cfg, rate * draw.learning_rate, name)
    grads = optimizer.compute_gradients(loss, var_list=variables)
    steps.append((optimizer, clip(grads, cfg), update))
  # Every gradient before any update, so all three come from the same parameters.
  def apply(optimizer, grads):
    with tf1.name_scope(optimizer.get_name() + "/"):  # inside a cond too, for stable names
      return tf.group(optimizer.apply_gradients(grads))

  ops = []
  with tf.control_dependencies([g for _, grads, _ in steps for g, _ in grads]):
    for optimizer, grads, update in steps:
      ops.append(tf.cond(update, lambda o=optimizer, g=grads: apply(o, g), tf.no_op))
  with tf.control_dependencies(ops):
    train_op = tf1.assign_add(draw.global_step, 1).op

  adversary = adversary._replace(
      encoder_loss=encoder_loss,
      decoder_loss=decoder_loss,
      discriminator_objective=discriminator_objective,
      discriminator_updated=tf.cast(update_dis, tf.float32),
      decoder_updated=tf.cast(update_dec, tf.float32),
      encoder_op=tf.group(ops[0], *ops[3:]),  # with the prior's step, if it has its own
      decoder_op=ops[1],
      discriminator_op=ops[2],
      train_op=train_op)
  return draw._replace(train_op=train_op), adversary
