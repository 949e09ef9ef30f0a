"""What training minimises, against numpy: the schedules, the objective and the clipped Adam
step (VAE/GAN's optimisers and balancing are tested in test_vaegan.py)."""

import numpy as np
import pytest
import tensorflow as tf

from draw_color import model
from draw_color import objectives

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=8, channels=3, timesteps=3, latent_size=4, hidden_size=16,
                         read_n=3, write_n=2)


def minimized(config, images):
  """objectives.minimize of DRAW on `images` with zero eps, in the current graph."""
  noise = tf.zeros(model.noise_shape(config, len(images)))
  return objectives.minimize(model.build_draw(tf.constant(images), config, noise=noise),
                             config)


def test_training_step_changes_weights_and_steps_lower_the_loss():
  images = np.zeros((4, 8, 8, 3), np.float32)
  images[:, :, :4] = 0.9  # a left half the model must learn to draw
  config = TINY._replace(learning_rate=1e-2)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    d = objectives.minimize(model.build_draw(tf.constant(images), config), config)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      before = sess.run(tf1.trainable_variables())
      losses = [sess.run([d.train_op, d.loss])[1] for _ in range(40)]
      after = sess.run(tf1.trainable_variables())
      assert sess.run(d.global_step) == 40
  changed = [not np.array_equal(x, y) for x, y in zip(before, after)]
  assert all(changed)
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("clip_by", ["tensor", "global"])
def test_one_step_is_adam_on_the_gradients_clipped_each_or_together(clip_by):
  config = TINY._replace(clip=0.05, learning_rate=0.01, beta1=0.5, clip_by=clip_by)
  images = np.random.default_rng(8).random((3, 8, 8, 3)).astype(np.float32)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    d = minimized(config, images)
    variables = tf1.trainable_variables()
    grads = tf1.gradients(d.objective, variables)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      before, grads = sess.run([variables, grads])
      sess.run(d.train_op)
      after = sess.run(variables)
      assert sess.run(d.global_step) == 1
  clipped = 0
  # "global": one factor for all, from the norm of every gradient together.
  whole = np.sqrt(sum(np.sum(g.astype(np.float64)**2) for g in grads))
  for w0, w1, g in zip(before, after, grads):
    g = g.astype(np.float64)
    norm = np.sqrt(np.sum(g**2)) if clip_by == "tensor" else whole
    clipped += norm > config.clip
    g = g * min(1.0, config.clip / norm)
    # Adam's first step (Kingma & Ba, as TensorFlow writes it): m = (1 - b1) g,
    # v = (1 - b2) g^2, the rate corrected by sqrt(1 - b2) / (1 - b1), epsilon 1e-8.
    m, v = (1 - config.beta1) * g, (1 - 0.999) * g**2
    rate = config.learning_rate * np.sqrt(1 - 0.999) / (1 - config.beta1)
    np.testing.assert_allclose(w1, w0 - rate * m / (np.sqrt(v) + 1e-8), rtol=1e-4, atol=1e-7)
  assert clipped  # the clipping is exercised


def test_kl_warmup_and_learning_rate_decay_follow_the_global_step():
  config = TINY._replace(kl_warmup=10, lr_decay_steps=4, lr_decay_rate=0.5, learning_rate=0.01)
  images = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
  with tf.Graph().as_default():
    d = minimized(config, images)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      for step in (0, 5, 10, 30):
        sess.run(d.global_step.assign(step))
        w, lr, gen, kl, objective = sess.run(
            [d.kl_weight, d.learning_rate, d.gen_loss, d.latent_loss, d.objective])
        assert w == pytest.approx(min(1.0, step / 10))
        assert lr == pytest.approx(0.01 * 0.5**(step / 4), rel=1e-5)
        assert objective == pytest.approx(gen + min(1.0, step / 10) * kl, rel=1e-5)


def test_a_step_schedule_changes_the_rate_at_each_listed_step():
  config = TINY._replace(learning_rate=3e-4, lr_schedule="10:1e-4,12:3e-5")
  images = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
  with tf.Graph().as_default():
    d = minimized(config, images)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      rates = []
      for step in (0, 9, 10, 11, 12, 500):
        sess.run(d.global_step.assign(step))
        rates.append(sess.run(d.learning_rate))
  np.testing.assert_allclose(rates, [3e-4, 3e-4, 1e-4, 1e-4, 3e-5, 3e-5], rtol=1e-6)


def test_a_step_schedule_reads_as_pairs_from_step_0_on():
  assert objectives.parse_lr_schedule("0:1e-4,5:3e-5") == [(0, 1e-4), (5, 3e-5)]
  # The extremes: int64's largest step, float32's smallest normal and largest rates.
  tiny, big = (float(v) for v in (np.finfo(np.float32).tiny, np.finfo(np.float32).max))
  assert objectives.parse_lr_schedule("1:%r,9223372036854775807:%r" % (tiny, big)) == [
      (1, tiny), (2**63 - 1, big)]


def test_float32_holds_zero_and_its_normal_range_alone():
  tiny, big = (float(v) for v in (np.finfo(np.float32).tiny, np.finfo(np.float32).max))
  held = [0.0, -0.0, tiny, -tiny, 1.0, big, -big]
  # Not numbers; past float32's largest (inf); subnormal (a GPU flushes it to 0) or below.
  refused = [float("nan"), float("inf"), -float("inf"), big * 1.001, -1e39, tiny / 2, 1e-50]
  assert [objectives.float32_number(v) for v in held + refused] == [True] * 7 + [False] * 7
  assert all(float(np.float32(v)) == v for v in held)  # float32 gives each back as it is


@pytest.mark.parametrize("text", ["5:1e-4,5:3e-5", "7:1e-4,3:3e-5", "-1:1e-4", "5:0", "5:inf",
                                  "5", "5:1e-4:2", "x:1e-4", "5:nan", "5:1e39",
                                  "5:1e-50", "9223372036854775808:1e-4"])
def test_a_step_schedule_that_does_not_read_is_refused(text):
  with pytest.raises(ValueError):
    objectives.parse_lr_schedule(text)


def test_a_step_schedule_that_does_not_read_says_which_part_is_wrong():
  with pytest.raises(ValueError) as steps:
    objectives.parse_lr_schedule("7:1e-4,3:3e-5")
  assert str(steps.value) == ("steps must be increasing, not negative and held by int64 (the "
                              "global step's): 7:1e-4,3:3e-5")
  with pytest.raises(ValueError) as rates:
    objectives.parse_lr_schedule("5:0")
  assert str(rates.value) == "rates must be positive numbers float32 holds: 5:0"


def test_a_step_schedule_beside_a_decay_is_refused_rather_than_replacing_it():
  config = TINY._replace(lr_schedule="10:1e-4", lr_decay_steps=4)
  with tf.Graph().as_default(), pytest.raises(ValueError) as refused:
    objectives.schedule(config, tf1.train.get_or_create_global_step())
  assert str(refused.value) == ("lr_schedule and lr_decay_steps are two schedules of the "
                                "learning rate: set one")


def test_without_schedules_the_objective_is_the_loss_at_a_constant_rate():
  images = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
  with tf.Graph().as_default():
    d = minimized(TINY, images)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(d.global_step.assign(7))
      kl_weight, lr, loss, objective = sess.run([d.kl_weight, d.learning_rate, d.loss,
                                                 d.objective])
  assert kl_weight == 1.0 and lr == pytest.approx(TINY.learning_rate)
  assert objective == pytest.approx(loss, rel=1e-6)


def test_the_model_alone_leaves_the_training_fields_empty_and_vaegan_is_refused():
  with tf.Graph().as_default():
    d = model.build_draw(tf.zeros([2, 8, 8, 3]), TINY)
    assert (d.objective, d.kl_weight, d.learning_rate, d.train_op, d.global_step) == (None,) * 5
    assert not tf1.global_variables("global_step")
    with pytest.raises(ValueError) as refused:
      objectives.minimize(d, TINY._replace(loss="vaegan"))
    assert str(refused.value) == ("--loss=vaegan trains with minimize_vaegan: its optimisers "
                                  "need the discriminator")


def test_vaegan_variables_go_to_the_optimiser_of_their_top_scope_and_strays_are_refused():
  with tf.Graph().as_default():
    for name in ("enc/w", "dec/w", "write/w", "enc/b"):
      tf1.get_variable(name, [1])
    names = [[v.op.name for v in part]
             for part in objectives._partition([("enc",), ("dec", "write"), ("dis",)])]
    assert names == [["enc/w", "enc/b"], ["dec/w", "write/w"], []]
    tf1.get_variable("stray/w", [1])
    with pytest.raises(ValueError) as refused:
      objectives._partition([("enc",), ("dec", "write")])
  assert str(refused.value) == "variable stray/w is in none of the VAE/GAN optimisers' scopes"
