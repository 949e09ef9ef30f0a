"""VAE/GAN's discriminator against the paper's Dis written out in numpy, the feature loss of
every --vaegan_layer, on 16x16 pictures, and the balancing rule at its thresholds."""

import numpy as np
import pytest
import tensorflow as tf

import numpy_draw
from draw_color import model
from draw_color import objectives
from draw_color import runs
from draw_color import vaegan

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=16, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3, loss="vaegan", vaegan_channels=2)


def conv_same(x, w, stride):
  """x [N, H, H, I] * w [K, K, I, O] with TensorFlow's SAME padding (the extra row or column
  after), every `stride`-th position."""
  size, k = x.shape[1], w.shape[0]
  out = -(-size // stride)
  pad = max((out - 1) * stride + k - size, 0)
  x = np.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2), (0, 0)))
  y = np.zeros((len(x), out, out, w.shape[3]))
  for i in range(out):
    for j in range(out):
      window = x[:, i * stride:i * stride + k, j * stride:j * stride + k]  # [N, K, K, I]
      y[:, i, j] = np.tensordot(window, w, 3)
  return y


def batch_norm(x, weights, scope):
  axes = tuple(range(x.ndim - 1))
  normal = (x - x.mean(axes)) / np.sqrt(x.var(axes) + 1e-5)
  return normal * weights[scope + "/scale"] + weights[scope + "/offset"]


def largest_singular_value(w):
  """w [..., O] as the matrix [prod(...), O] -> its largest singular value, by LAPACK."""
  return np.linalg.svd(np.reshape(w, (-1, w.shape[-1])), compute_uv=False)[0]


def numpy_dis(weights, images, sources=None, spectral=False):
  """The paper's Dis for 64x64 faces scaled by W: -> (the 4 convolutions' outputs, logits).
  With `sources` (vaegan_mbstd), the last convolution's output gets ProGAN's minibatch
  standard deviation of each of that many equal parts of the batch as one more channel.
  With `spectral` (vaegan_spectral), SN-GAN's: every weight over its largest singular value,
  a bias on every layer and no batch norm."""
  w = {k[len("discriminator/"):]: np.asarray(v, np.float64) for k, v in weights.items()}
  if spectral:
    w.update({k: v / largest_singular_value(v) for k, v in w.items() if k.endswith("/w")})
  h = 2 * np.asarray(images, np.float64) - 1
  features = []
  for i, stride in enumerate((1, 2, 2, 2)):
    name = "conv%d" % (i + 1)
    conv = conv_same(h, w[name + "/w"], stride)
    if i == 0 or spectral:
      conv = conv + w[name + "/b"]
    features.append(conv)
    h = np.maximum(conv if i == 0 or spectral else batch_norm(conv, w, name + "/bn"), 0)
  if sources:
    spread = np.zeros(h.shape[:3] + (1,))
    for rows in np.split(np.arange(len(h)), sources):
      spread[rows] = np.mean([np.std(h[rows][:, i, j, f]) for i, j, f in np.ndindex(h.shape[1:])])
    h = np.concatenate([h, spread], axis=3)
  h = h.reshape(len(h), -1) @ w["dense/w"]
  h = np.maximum(h + w["dense/b"] if spectral else batch_norm(h, w, "dense/bn"), 0)
  return features, (h @ w["logit/w"] + w["logit/b"])[:, 0]


def numpy_augment(images, policies, u):
  """DiffAugment (its DiffAugment_tf.py) image by image on 2 x images - 1, back to [0, 1]."""
  out = []
  for x, (bright, sat, contrast, ty, tx, cy, cx) in zip(2 * np.asarray(images, np.float64) - 1,
                                                         u):
    a = len(x)
    if "color" in policies:
      x = x + bright - 0.5
      x = (x - x.mean(2, keepdims=True)) * 2 * sat + x.mean(2, keepdims=True)
      x = (x - x.mean()) * (contrast + 0.5) + x.mean()
    if "translation" in policies:
      s = int(a / 8 + 0.5)
      dy, dx = int(ty * (2 * s + 1)) - s, int(tx * (2 * s + 1)) - s
      padded = np.pad(x, ((s, s), (s, s), (0, 0)))  # zeros beyond the border
      x = padded[s + dy:s + dy + a, s + dx:s + dx + a]
    if "cutout" in policies:
      size = int(a / 2 + 0.5)
      r, c = int(cy * (a + 1 - size % 2)), int(cx * (a + 1 - size % 2))
      x = x.copy()
      x[max(r - size // 2, 0):r - size // 2 + size, max(c - size // 2, 0):c - size // 2 + size] = 0
    out.append(x)
  return (np.stack(out) + 1) / 2


def randomise(sess, scope, seed):
  rng = np.random.default_rng(seed)
  weights = {}
  for v in tf1.trainable_variables(scope):
    weights[v.op.name] = rng.normal(0, 0.4, v.shape).astype(np.float32)
    v.load(weights[v.op.name], sess)
  return weights


def test_discriminator_matches_numpy():
  images = np.random.default_rng(0).random((5, 16, 16, 3)).astype(np.float32)
  with tf.Graph().as_default():
    features, logits = vaegan.discriminator(tf.constant(images), TINY)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, "discriminator", 1)
      got_features, got_logits = sess.run([features, logits])
  # The paper's Dis scaled by W = 2: 5x5 convolutions of W, 4W, 8W, 8W channels, a dense layer
  # of 16W on the 2 x 2 x 8W output of a 16 x 16 picture, one logit.
  assert {k: v.shape for k, v in weights.items()} == {
      "discriminator/conv1/w": (5, 5, 3, 2), "discriminator/conv1/b": (2,),
      "discriminator/conv2/w": (5, 5, 2, 8), "discriminator/conv2/bn/scale": (8,),
      "discriminator/conv2/bn/offset": (8,), "discriminator/conv3/w": (5, 5, 8, 16),
      "discriminator/conv3/bn/scale": (16,), "discriminator/conv3/bn/offset": (16,),
      "discriminator/conv4/w": (5, 5, 16, 16), "discriminator/conv4/bn/scale": (16,),
      "discriminator/conv4/bn/offset": (16,), "discriminator/dense/w": (64, 32),
      "discriminator/dense/bn/scale": (32,), "discriminator/dense/bn/offset": (32,),
      "discriminator/logit/w": (32, 1), "discriminator/logit/b": (1,)}
  want_features, want_logits = numpy_dis(weights, images)
  for got, want in zip(got_features, want_features):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-4)


def test_minibatch_spread_gives_each_source_the_standard_deviation_of_its_batch():
  """--vaegan_mbstd: Dis against numpy with the extra channel, 3 sources of 3 pictures, the
  last three all the same picture (a collapsed decoder, whose spread is 0); the spread of the
  whole batch, or none, gives other logits."""
  rng = np.random.default_rng(7)
  images = rng.random((9, 16, 16, 3)).astype(np.float32)
  images[6:] = images[6]
  with tf.Graph().as_default():
    _, logits = vaegan.discriminator(tf.constant(images), TINY._replace(vaegan_mbstd=True),
                                     sources=3)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, "discriminator", 8)
      got = sess.run(logits)
  # 2 x 2 x (8W + 1) = 68 inputs to the dense layer of 16W = 32 units.
  assert weights["discriminator/dense/w"].shape == (68, 32)
  np.testing.assert_allclose(got, numpy_dis(weights, images, sources=3)[1], rtol=1e-4, atol=1e-4)
  for other in (1, 9):  # the whole batch's spread; each picture alone (spread 0)
    assert np.abs(got - numpy_dis(weights, images, sources=other)[1]).max() > 1e-2


def test_minibatch_spread_of_each_source_is_its_mean_standard_deviation_with_progans_epsilon():
  """_minibatch_spread of features [6, 2, 2, 3] in 2 sources of 3: each source's mean over
  positions and features of sqrt(variance over its images + 1e-8), ProGAN's epsilon, which is
  all that a collapsed source (its 3 images alike) gets: sqrt(1e-8) = 1e-4."""
  h = np.random.default_rng(3).random((6, 2, 2, 3)).astype(np.float32)
  h[3:] = h[3]
  with tf.Graph().as_default(), tf1.Session() as sess:
    got = sess.run(vaegan._minibatch_spread(tf.constant(h), 2))  # pylint: disable=protected-access
  h = h.astype(np.float64)
  want = [np.sqrt(part.var(axis=0) + 1e-8).mean() for part in (h[:3], h[3:])]
  assert got.shape == (6, 2, 2, 1)
  np.testing.assert_allclose(got[:3], want[0], rtol=1e-5)
  np.testing.assert_allclose(got[3:], 1e-4, rtol=1e-3)
  assert want[1] == pytest.approx(1e-4)


def test_spectral_discriminator_divides_every_weight_by_its_largest_singular_value():
  """--vaegan_spectral: Dis against numpy with each weight over its singular value from the
  SVD; biases in place of every batch norm, and one untrained vector per weight, its output
  side's size. Each vector starts at LAPACK's leading right singular vector, the power
  iteration's fixed point: from a random start, 200 runs of it left conv4's sigma (close
  singular values) 5e-4 off for some initial vectors, which made this test flaky; the step
  itself is checked against numpy below."""
  images = np.random.default_rng(9).random((5, 16, 16, 3)).astype(np.float32)
  with tf.Graph().as_default():
    features, logits = vaegan.discriminator(tf.constant(images),
                                            TINY._replace(vaegan_spectral=True))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, "discriminator", 10)
      untrained = [v for v in tf1.global_variables() if v not in tf1.trainable_variables()]
      for v in untrained:
        w = weights[v.op.name[:-len("u")] + "w"]
        v.load(np.linalg.svd(np.reshape(w, (-1, w.shape[-1])))[2][:1], sess)
      got_features, got_logits = sess.run([features, logits])
      vectors = {v.op.name: v.shape.as_list() for v in untrained}
  assert {k: v.shape for k, v in weights.items()} == {
      "discriminator/conv1/w": (5, 5, 3, 2), "discriminator/conv1/b": (2,),
      "discriminator/conv2/w": (5, 5, 2, 8), "discriminator/conv2/b": (8,),
      "discriminator/conv3/w": (5, 5, 8, 16), "discriminator/conv3/b": (16,),
      "discriminator/conv4/w": (5, 5, 16, 16), "discriminator/conv4/b": (16,),
      "discriminator/dense/w": (64, 32), "discriminator/dense/b": (32,),
      "discriminator/logit/w": (32, 1), "discriminator/logit/b": (1,)}
  assert vectors == {"discriminator/conv1/u": [1, 2], "discriminator/conv2/u": [1, 8],
                     "discriminator/conv3/u": [1, 16], "discriminator/conv4/u": [1, 16],
                     "discriminator/dense/u": [1, 32], "discriminator/logit/u": [1, 1]}
  want_features, want_logits = numpy_dis(weights, images, spectral=True)
  for got, want in zip(got_features, want_features):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-4)
  # Weights of standard deviation 0.4 are far from norm 1: dividing them matters.
  assert all(largest_singular_value(w) > 1.5 for k, w in weights.items() if k.endswith("/w"))


def test_spectral_norm_takes_one_power_step_per_run():
  """One run from a given u: v = W u / |W u|, u' = W^T v / |W^T v|, sigma = v^T W u', written
  out in numpy for a 6 x 4 matrix; u' is stored for the next run, and the weights' gradient
  goes through sigma with u' and v held constant (SN-GAN's)."""
  rng = np.random.default_rng(11)
  matrix = rng.standard_normal((6, 4)).astype(np.float32)
  u0 = rng.standard_normal((1, 4)).astype(np.float32)
  with tf.Graph().as_default():
    with tf1.variable_scope("layer"):
      w = tf1.get_variable("w", initializer=matrix)
      normalised = vaegan._spectral_norm(w)  # pylint: disable=protected-access
    u, = [v for v in tf1.global_variables() if v.op.name == "layer/u"]
    grad = tf1.gradients(tf.reduce_sum(normalised[0]), w)[0]
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      u.load(u0, sess)
      got = sess.run(normalised)
      got_grad = sess.run(grad)  # a second run, from u'
      after = sess.run(u)
  m = matrix.astype(np.float64)
  v = m @ u0[0] / np.linalg.norm(m @ u0[0])
  u1 = m.T @ v / np.linalg.norm(m.T @ v)
  sigma = v @ m @ u1
  np.testing.assert_allclose(got, m / sigma, rtol=1e-5)
  # The second run steps from u1 to u2 and divides by its sigma; u2 is then stored.
  v2 = m @ u1 / np.linalg.norm(m @ u1)
  u2 = m.T @ v2 / np.linalg.norm(m.T @ v2)
  sigma2 = v2 @ m @ u2
  # d/dW of sum(W[0]) / sigma(W), sigma = v2^T W u2: the first row's 1 / sigma, less
  # sum(W[0]) / sigma^2 times d sigma / dW = v2 u2^T.
  want_grad = -m[0].sum() / sigma2**2 * np.outer(v2, u2)
  want_grad[0] += 1 / sigma2
  np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(after[0], u2, rtol=1e-5)
  assert sigma <= sigma2 + 1e-6 <= largest_singular_value(m) + 2e-6


@pytest.mark.parametrize("layer", [1, 2, 4])
def test_feature_loss_compares_the_chosen_layer(layer):
  config = TINY._replace(vaegan_layer=layer)
  images = np.random.default_rng(2).random((3, 16, 16, 3)).astype(np.float32)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(config, 0)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, "discriminator", 3)
      v, recon = sess.run([graph.vaegan, graph.final_canvas], {graph.images: images})
  features, _ = numpy_dis(weights, np.concatenate([images, recon, v.samples]))
  chosen = features[layer - 1]  # [3B, h, w, c]
  np.testing.assert_allclose(v.features, chosen, rtol=1e-4, atol=1e-4)
  feature_loss = np.mean(0.5 * np.sum((chosen[3:6] - chosen[:3])**2, axis=(1, 2, 3)))
  assert v.feature_loss == pytest.approx(feature_loss, rel=1e-4)


@pytest.mark.parametrize("policies", [[p] for p in vaegan.AUGMENTATIONS]
                         + [list(vaegan.AUGMENTATIONS)])
@pytest.mark.parametrize("side", [16, 18])
def test_augment_is_diffaugment(policies, side):
  """16 x 16: shifts of -2 to 2, a hole of 8 x 8 centred at row and column 0 to 16; the draws
  include both extremes of each, and a hole and a shift beyond the border. 18 x 18: a hole of
  9 x 9, whose odd side gives its centre one place fewer (0 to 17), as DiffAugment's."""
  rng = np.random.default_rng(5)
  images = rng.random((6, side, side, 3)).astype(np.float32)
  u = rng.random((6, vaegan.AUGMENT_DRAWS)).astype(np.float32)
  u[0, 3:] = 0.0  # shifts of -2, hole at the top-left corner
  u[1, 3:] = 0.999  # shifts of 2, hole at the bottom-right corner
  u[2, 3:5] = 0.5  # no shift
  with tf.Graph().as_default(), tf1.Session() as sess:
    got = sess.run(vaegan.augment(tf.constant(images), policies, tf.constant(u)))
  want = numpy_augment(images, policies, u)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  if "translation" in policies and "color" not in policies:
    # Row i is the image's row i + shift: moved down and right by 2, then up and left.
    assert (got[0, :2] == 0.5).all() and (got[0, :, :2] == 0.5).all()
    assert (got[1, -2:] == 0.5).all() and (got[1, :, -2:] == 0.5).all()
    np.testing.assert_allclose(got[0, 2:, 2:], images[0, :-2, :-2], atol=1e-6)
    np.testing.assert_allclose(got[2], images[2], atol=1e-6)  # no shift


def test_balancing_waits_only_beyond_its_thresholds():
  # A cost at EQUILIBRIUM - MARGIN is not below it, one at EQUILIBRIUM + MARGIN not above.
  low = np.float32(objectives.EQUILIBRIUM - objectives.MARGIN)
  high = np.float32(objectives.EQUILIBRIUM + objectives.MARGIN)
  with tf.Graph().as_default():
    cases = [objectives.balance(tf.constant(real), tf.constant(fake))
             for real, fake in ((low, 0.7), (0.7, low), (high, 0.7), (0.7, high))]
    with tf1.Session() as sess:
      assert [tuple(map(bool, d)) for d in sess.run(cases)] == [(True, True)] * 4


@pytest.mark.parametrize("augment,samples,mbstd,noise", [
    ("", True, False, False), ("color,translation,cutout", True, False, False),
    ("", True, True, False), ("color,translation,cutout", False, True, False),
    ("color,translation,cutout", True, False, True), ("", False, False, True)])
def test_build_feeds_the_discriminator_the_faces_and_the_final_reconstructions_and_samples(
    augment, samples, mbstd, noise):
  """vaegan.build against numpy: DRAW (numpy_draw) on the faces with eps, the sampler on the
  prior noise, Dis of [x, x~ = sigma(c_T), x_p = sigma(c_T) of the samples] together, and the
  feature and pixel terms of L_llike, and both GAN losses. T = 3 and 24 x 24 pictures, so that
  no earlier canvas and no other size of Dis's last convolution could pass for the right one.
  With augmentation, each face and its reconstruction transformed by the same draws, the
  samples by their own. Without samples (--novaegan_samples), Dis of [x, x~] alone; with
  --vaegan_mbstd, each of those two or three parts' spread apart. With instance noise
  (--vaegan_noise), what Dis sees after augmentation plus the noise given, a face and its
  reconstruction the same, the samples their own."""
  # sigma 0.3: at 0.5, dividing by sigma^2 equals multiplying by 2 / sigma.
  config = TINY._replace(image_size=24, timesteps=3, vaegan_pixel=True, pixel_sigma=0.3,
                         vaegan_augment=augment, vaegan_samples=samples, vaegan_mbstd=mbstd,
                         vaegan_noise=0.3 if noise else 0.0)
  rng = np.random.default_rng(3)
  images = rng.random((4, 24, 24, 3)).astype(np.float32)
  eps = rng.standard_normal(model.noise_shape(config, 4)).astype(np.float32)
  prior = rng.standard_normal((3, 4, config.latent_size)).astype(np.float32)
  draws = rng.random((8, vaegan.AUGMENT_DRAWS)).astype(np.float32)
  added = np.float32(0.3) * rng.standard_normal((8, 24, 24, 3)).astype(np.float32)
  with tf.Graph().as_default():
    draw = model.build_draw(tf.constant(images), config, noise=tf.constant(eps))
    v = vaegan.build(tf.constant(images), draw, config, tf.constant(prior), tf.constant(draws),
                     tf.constant(added))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      # Not the initial 0.02 of DRAW's weights, whose canvases barely change from step to step.
      weights = randomise(sess, None, 4)
      # Dis's logits shifted so that it calls one face of four real and DRAW's pictures real,
      # with logits between 0 and 1: the accuracies' thresholds are tested on both sides.
      bias = [x for x in tf1.trainable_variables() if x.op.name == "discriminator/logit/b"][0]
      weights[bias.op.name] = weights[bias.op.name] + np.float32(1.75)
      bias.load(weights[bias.op.name], sess)
      got = sess.run({"logits": v.logits, "features": v.features,
                      "feature_loss": v.feature_loss, "llike": v.llike,
                      "real_accuracy": v.real_accuracy, "fake_accuracy": v.fake_accuracy,
                      "discriminator_loss": v.discriminator_loss, "gan_loss": v.gan_loss,
                      **({"samples": v.samples} if samples else {})})
  recon = numpy_draw.draw(weights, config, images, eps)
  seen = [images, recon["canvases"][-1]]
  if samples:
    seen.append(numpy_draw.sample(weights, config, prior)[-1])
    np.testing.assert_allclose(got["samples"], seen[-1], rtol=1e-4, atol=1e-5)
  else:
    assert v.samples is None
  seen = np.concatenate(seen)
  if augment:
    seen = numpy_augment(seen, augment.split(","), np.concatenate([draws[:4], draws])[:len(seen)])
  if noise:
    seen = seen + np.concatenate([added[:4], added])[:len(seen)]
  features, logits = numpy_dis({k: w for k, w in weights.items()
                                if k.startswith("discriminator/")}, seen,
                               sources=len(seen) // 4 if mbstd else None)
  assert len(got["logits"]) == len(seen)
  np.testing.assert_allclose(got["logits"], logits, rtol=1e-3, atol=1e-3)
  # -log D(x) and -log(1 - D) of each generated picture; the decoder's -log D of them: the
  # means of each source's four, summed.
  generated = len(seen) // 4 - 1  # sources other than the faces
  assert got["discriminator_loss"] == pytest.approx(
      np.logaddexp(0, -logits[:4]).mean() + np.logaddexp(0, logits[4:]).mean() * generated,
      rel=1e-3)
  assert got["gan_loss"] == pytest.approx(np.logaddexp(0, -logits[4:]).mean() * generated,
                                          rel=1e-3)
  if not augment and not mbstd and not noise:
    assert np.mean(logits[:4] > 0) == 0.25 and ((logits[4:] > 0) & (logits[4:] < 1)).all()
    assert got["real_accuracy"] == 0.25 and got["fake_accuracy"] == 0
  assert got["real_accuracy"] == np.mean(logits[:4] > 0)
  assert got["fake_accuracy"] == np.mean(logits[4:] < 0)
  f = features[config.vaegan_layer - 1]
  np.testing.assert_allclose(got["features"], f, rtol=1e-3, atol=1e-3)
  feature = np.mean(0.5 * np.sum((f[4:8] - f[:4])**2, axis=(1, 2, 3)))
  pixel = recon["gen_loss_per_image"].mean() / 0.09
  assert got["feature_loss"] == pytest.approx(feature, rel=1e-3)
  assert got["llike"] == pytest.approx(feature + pixel, rel=1e-3)


def test_fitted_samples_draw_eps_from_the_batchs_posteriors_gaussian():
  """With vaegan_fit_samples, x_p is numpy_draw's sampler (learned prior) given eps_t = m_t +
  L_t u_t: m_t and L_t L_t^T the mean and population covariance of the batch's posteriors in
  the prior's units plus their mean variance, L_t lower triangular, from numpy_draw's DRAW of
  the faces; and no gradient reaches the encoder, its read or its z through the samples."""
  config = TINY._replace(timesteps=3, latent_size=3, prior="learned", vaegan_fit_samples=True)
  rng = np.random.default_rng(5)
  images = rng.random((6, 16, 16, 3)).astype(np.float32)
  eps = rng.standard_normal(model.noise_shape(config, 6)).astype(np.float32)
  u = rng.standard_normal((3, 6, 3)).astype(np.float32)
  with tf.Graph().as_default():
    draw = model.build_draw(tf.constant(images), config, noise=tf.constant(eps))
    v = vaegan.build(tf.constant(images), draw, config, tf.constant(u))
    reading = [x for x in tf1.trainable_variables()
               if x.op.name.startswith(("encoder/", "read/", "mu/", "log_sigma/"))]
    assert reading and tf1.gradients(tf.reduce_sum(v.samples), reading) == [None] * len(reading)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = randomise(sess, None, 6)
      samples = sess.run(v.samples)
  d = numpy_draw.draw(weights, config, images, eps)
  a = (d["mus"] - d["prior_mus"]) / np.exp(d["prior_log_sigmas"])  # [T, B, Z]
  s2 = np.exp(2 * (d["log_sigmas"] - d["prior_log_sigmas"]))
  fitted = np.stack([a[t].mean(0) + u[t] @ np.linalg.cholesky(
      np.cov(a[t], rowvar=False, bias=True) + np.diag(s2[t].mean(0))).T for t in range(3)])
  want = numpy_draw.sample(weights, config, fitted)[-1]  # [B, A, A, 3]
  assert np.abs(want - numpy_draw.sample(weights, config, u)[-1]).max() > 0.05  # can fail
  np.testing.assert_allclose(samples, want, rtol=1e-4, atol=1e-5)


def test_instance_noise_fades_linearly_to_zero_at_its_step_and_stays_without_one():
  """--vaegan_noise=0.2 --vaegan_noise_steps=100: 0.2 at step 0, 0.1 at 50, 0.002 at 99, 0
  from 100 on; without steps, 0.2 at every step."""
  fading = TINY._replace(vaegan_noise=0.2, vaegan_noise_steps=100)
  with tf.Graph().as_default():
    step = tf1.placeholder(tf.int64, [])
    scales = [vaegan.noise_scale(fading, step), vaegan.noise_scale(fading._replace(
        vaegan_noise_steps=0), step)]
    with tf1.Session() as sess:
      got = [sess.run(scales, {step: s}) for s in (0, 50, 99, 100, 150, 10 ** 9)]
  np.testing.assert_allclose(got, [[0.2, 0.2], [0.1, 0.2], [0.002, 0.2], [0, 0.2], [0, 0.2],
                                   [0, 0.2]], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("augment", ["", "color,translation,cutout"])
def test_r1_penalty_is_the_squared_gradient_of_the_faces_logits(augment):
  """--vaegan_r1: the penalty against central differences of the numpy Dis in float64, on the
  faces as Dis saw them (augmented, when it is), the other two thirds of its batch held
  fixed; and Dis's objective, L_GAN + r/2 times it. 8 x 8 pictures, so that the differences
  take a few hundred passes of numpy_dis.

  Every input is fixed (eps, all weights): at DRAW's initial weights its four pictures were
  near-identical grey, which left a unit of Dis's batch-normalised last layers within 1e-4 of
  its ReLU's kink for the faces, on one side or the other as the initialisation fell, and the
  differences' steps straddled it in about one run in ten. With DRAW's weights randomised its
  pictures differ, and with these draws steps of 1e-3 give the same penalty to 1e-4 as steps of
  1e-5 (a quarter of the seeds tried do not), so no kink lies within the steps' reach."""
  config = TINY._replace(image_size=8, vaegan_r1=3.0, vaegan_augment=augment)
  rng = np.random.default_rng(5)
  images = rng.random((2, 8, 8, 3)).astype(np.float32)
  prior = rng.standard_normal((2, 2, config.latent_size)).astype(np.float32)
  draws = rng.random((4, vaegan.AUGMENT_DRAWS)).astype(np.float32)
  eps = rng.standard_normal(model.noise_shape(config, 2)).astype(np.float32)
  with tf.Graph().as_default():
    draw = model.build_draw(tf.constant(images), config, noise=tf.constant(eps))
    v = vaegan.build(tf.constant(images), draw, config, tf.constant(prior), tf.constant(draws))
    _, v = objectives.minimize_vaegan(draw, v, config)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = {k: w for k, w in randomise(sess, None, 2).items()
                 if k.startswith("discriminator/")}
      got = sess.run({"recon": draw.canvases[-1], "samples": v.samples,
                      "penalty": v.gradient_penalty, "loss": v.discriminator_loss,
                      "objective": v.discriminator_objective})
  seen = np.concatenate([images, got["recon"], got["samples"]]).astype(np.float64)
  if augment:
    seen = numpy_augment(seen, augment.split(","), np.concatenate([draws[:2], draws]))

  def real_logits(x):
    return numpy_dis(weights, x)[1][:2].sum()

  grad = np.zeros_like(seen[:2])
  h = 1e-5
  for index in np.ndindex(grad.shape):
    up, down = seen.copy(), seen.copy()
    up[index] += h
    down[index] -= h
    grad[index] = (real_logits(up) - real_logits(down)) / (2 * h)
  penalty = np.mean(np.sum(grad**2, axis=(1, 2, 3)))
  assert penalty > 0.1
  assert got["penalty"] == pytest.approx(penalty, rel=1e-3)
  assert got["objective"] == pytest.approx(got["loss"] + 1.5 * penalty, rel=1e-4)
