"""The whole graph (build_draw, build_sampler) against DRAW written out in numpy
(numpy_draw.py), with the same random weights and eps, on tiny sizes."""

import numpy as np
import pytest
import tensorflow as tf

import numpy_draw
from draw_color import model

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=6, channels=3, timesteps=3, latent_size=4, hidden_size=8,
                         read_n=3, write_n=2)


def randomise(sess, seed):
  """Sets every variable to N(0, 0.4^2) (biases included, so that no window sits at the
  centre, no gamma is 1 and the prior is not N(0, I)); returns {name: value}."""
  rng = np.random.default_rng(seed)
  weights = {}
  for v in tf1.trainable_variables():
    weights[v.op.name] = rng.normal(0, 0.4, v.shape).astype(np.float32)
    v.load(weights[v.op.name], sess)
  return weights


FIELDS = ("canvases", "mus", "log_sigmas", "prior_mus", "prior_log_sigmas", "kl_per_step",
          "latent_loss_per_image", "latent_loss", "gen_loss_per_image", "gen_loss", "loss")


@pytest.mark.parametrize("changes", [
    {},
    {"compat": "original"},
    {"read_attn": False, "write_attn": False, "loss": "bernoulli"},
    {"read_attn": True, "write_attn": False, "prior": "learned", "loss": "gaussian",
     "pixel_sigma": 0.3},
    {"channels": 1, "read_n": 2, "write_n": 4, "loss": "vaegan", "prior": "learned"},
    {"write_sigma_floor": 0.145},
    {"write_sigma_floor": 0.145, "compat": "original"},
], ids=["paper", "original", "no_attention_bernoulli", "learned_prior_gaussian", "grey",
        "write_sigma_floor", "write_sigma_floor_original"])
def test_draw_matches_numpy(changes):
  config = TINY._replace(**changes)
  rng = np.random.default_rng(1)
  images = rng.random((3, 6, 6, config.channels)).astype(np.float32)
  noise = rng.standard_normal(model.noise_shape(config, 3)).astype(np.float32)
  with tf.Graph().as_default():
    d = model.build_draw(tf.constant(images), config, noise=tf.constant(noise))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, 2)
      got = sess.run({k: getattr(d, k) for k in FIELDS})
  want = numpy_draw.draw(weights, config, images, noise)
  for k in FIELDS:
    np.testing.assert_allclose(got[k], want[k], rtol=2e-4, atol=2e-5, err_msg=k)
  assert np.ptp(want["canvases"][-1]) > 0.1  # the pictures are not flat


@pytest.mark.parametrize("changes", [{"prior": "standard"}, {"prior": "learned"},
                                     {"write_sigma_floor": 0.22}])
def test_sampler_matches_numpy(changes):
  config = TINY._replace(**changes)
  noise = np.random.default_rng(3).standard_normal((3, 5, 4)).astype(np.float32)
  with tf.Graph().as_default():
    model.build_draw(tf1.placeholder(tf.float32, [None, 6, 6, 3]), config)
    s = model.build_sampler(5, config, noise=tf.constant(noise))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, 4)
      got = sess.run(s.canvases)
  np.testing.assert_allclose(got, numpy_draw.sample(weights, config, noise), rtol=2e-4,
                             atol=2e-5)


def test_initial_weights_are_as_the_originals():
  # _linear: N(0, 0.02^2) weights, zero biases; the LSTMs: Glorot uniform, zero biases.
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    model.build_draw(tf1.placeholder(tf.float32, [None, 32, 32, 3]),
                     TINY._replace(image_size=32, hidden_size=64, write_attn=False))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      values = {v.op.name: sess.run(v) for v in tf1.trainable_variables()}
  w = values["write/patch/w"]  # [64, 32 * 32 * 3]
  assert abs(w.mean()) < 1e-3 and w.std() == pytest.approx(0.02, rel=0.02)
  kernel = values["decoder/kernel"]  # [Z + H, 4H]
  limit = np.sqrt(6 / sum(kernel.shape))
  assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
  for name, value in values.items():
    if name.endswith(("/b", "/bias")):
      assert not value.any(), name
