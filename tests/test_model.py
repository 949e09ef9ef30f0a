"""The graph builder's maths against numpy, on tiny sizes."""

import numpy as np
import pytest
import tensorflow as tf

import numpy_draw
from draw_color import bench
from draw_color import model

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=8, channels=3, timesteps=3, latent_size=4, hidden_size=16,
                         read_n=3, write_n=2)


def run(build, feed=None):
  """Builds `build()` in a fresh graph, initialises the variables, returns its values."""
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    fetches = build()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      return sess.run(fetches, feed)


def numpy_filterbank(gx_, gy_, log_sigma2, log_delta, a, n):
  """Eq. 19-26 written out plainly: returns Fx, Fy [B, N, A]."""
  gx = (a + 1) / 2 * (gx_ + 1)
  gy = (a + 1) / 2 * (gy_ + 1)
  delta = (a - 1) / (n - 1) * np.exp(log_delta)
  sigma2 = np.exp(log_sigma2)
  fx = np.zeros((len(gx_), n, a))
  fy = np.zeros((len(gx_), n, a))
  for b in range(len(gx_)):
    for i in range(1, n + 1):
      mu_x = gx[b] + (i - n / 2 - 0.5) * delta[b]
      mu_y = gy[b] + (i - n / 2 - 0.5) * delta[b]
      for p in range(a):
        fx[b, i - 1, p] = np.exp(-(p - mu_x)**2 / (2 * sigma2[b]))
        fy[b, i - 1, p] = np.exp(-(p - mu_y)**2 / (2 * sigma2[b]))
  fx /= np.maximum(fx.sum(2, keepdims=True), 1e-8)
  fy /= np.maximum(fy.sum(2, keepdims=True), 1e-8)
  return fx, fy


RAW = np.array([[0.0, 0.0, 0.0, 0.0, 0.0],
                [-0.3, 0.5, 0.7, -0.4, 0.2],
                [0.3, -0.5, -1.0, -0.7, -0.5]], np.float32)  # [B, 5]


def filterbank_of(raw, compat, a=12, n=5):
  def build():
    win = model.window_params(tf.constant(raw), a, n, compat)
    return model.filterbank(win, a, n, compat), win
  return run(build)


def test_filterbank_matches_numpy_and_rows_sum_to_one():
  (fx, fy), _ = filterbank_of(RAW, "paper")
  want_fx, want_fy = numpy_filterbank(*RAW[:, :4].T, a=12, n=5)
  np.testing.assert_allclose(fx, want_fx, atol=1e-6)
  np.testing.assert_allclose(fy, want_fy, atol=1e-6)
  np.testing.assert_allclose(fx.sum(2), 1.0, atol=1e-6)
  np.testing.assert_allclose(fy.sum(2), 1.0, atol=1e-6)


def test_window_off_the_image_gives_finite_filters():
  (fx, fy), _ = filterbank_of(np.array([[9.0, -9.0, -3.0, 0.0, 0.0]], np.float32), "paper")
  assert np.isfinite(fx).all() and np.isfinite(fy).all()


def test_paper_grid_is_symmetric_about_the_centre():
  # g~ = 0 puts the window's centre at (A+1)/2, its filters at (-2..2) * delta around it.
  a, n = 40, 5
  raw = np.array([[0.0, 0.0, 0.0, np.log(0.25), 0.0]], np.float32)
  (fx, _), win = filterbank_of(raw, "paper", a, n)
  assert win.gx[0] == pytest.approx((a + 1) / 2)
  assert win.delta[0] == pytest.approx((a - 1) / (n - 1) * 0.25)
  means = (fx[0] * np.arange(a)).sum(1)  # sigma = 1: each filter's mean is its centre
  np.testing.assert_allclose(means, (a + 1) / 2 + np.arange(-2, 3) * win.delta[0], atol=1e-4)


def test_original_reproduces_b1_fy_placed_by_g_x():
  a, n = 12, 5
  moved = RAW.copy()
  moved[:, 1] = [0.9, -0.8, 0.1]  # other g~Y
  (_, fy), win = filterbank_of(RAW, "original", a, n)
  (_, fy_moved), _ = filterbank_of(moved, "original", a, n)
  # B1: F_Y's centres are mu_X's, from g~X (B8's integer centre), whatever g~Y says.
  np.testing.assert_allclose(win.gy, (a + 1) // 2 * (RAW[:, 0] + 1), rtol=1e-6)
  _, want_fy, _ = numpy_draw.filterbanks(RAW.astype(np.float64), a, n, "original")
  np.testing.assert_allclose(fy, want_fy, atol=1e-6)
  np.testing.assert_array_equal(fy_moved, fy)
  # The paper's F_Y follows g~Y.
  assert not np.allclose(filterbank_of(moved, "paper", a, n)[0][1],
                         filterbank_of(RAW, "paper", a, n)[0][1], atol=1e-3)


def test_original_reproduces_b2_b6_b7_b8():
  a, n = 12, 5
  (fx, _), win = filterbank_of(RAW, "original", a, n)
  gx = (a + 1) // 2 * (RAW[:, 0] + 1)  # B8: integer (A+1)/2
  delta = (a - 1) / ((n - 1) * np.exp(RAW[:, 3]))  # B7
  sigma2 = np.exp(RAW[:, 2])
  np.testing.assert_allclose(win.gx, gx, rtol=1e-6)
  np.testing.assert_allclose(win.delta, delta, rtol=1e-6)
  grid = np.arange(n) - n // 2 - 0.5  # B6: -2.5..1.5
  mu = gx[:, None] + grid[None, :] * delta[:, None]  # [B, N]
  f = np.exp(-(((np.arange(a)[None, None, :] - mu[:, :, None])
                / (2 * sigma2[:, None, None]))**2))  # B2: squared quotient
  f /= np.maximum(f.sum(2, keepdims=True), 1e-8)
  np.testing.assert_allclose(fx, f, atol=1e-6)


def test_tiled_colour_read_and_write_equal_per_channel_filterbanks():
  rng = np.random.default_rng(0)
  b, c, a, n = 2, 3, 7, 3
  images = rng.random((b, c, a, a)).astype(np.float32)  # [B, C, A, A]
  patches = rng.random((b, n, n, c)).astype(np.float32)  # [B, N, N, C]
  fx = rng.random((b, n, a)).astype(np.float32)
  fy = rng.random((b, n, a)).astype(np.float32)

  def build():
    read = model.read_patches(tf.constant(images), tf.constant(fx), tf.constant(fy))
    write = model.write_patches(tf.constant(patches), tf.constant(fx), tf.constant(fy))
    # The original's formulation: C*B grey images (channel-major), filterbanks tiled C times.
    grey = tf.reshape(tf.transpose(images, [1, 0, 2, 3]), [c * b, a, a])  # [C*B, A, A]
    tfx, tfy = tf.tile(fx, [c, 1, 1]), tf.tile(fy, [c, 1, 1])  # [C*B, N, A]
    tiled = tf.matmul(tfy, tf.matmul(grey, tfx, transpose_b=True))  # [C*B, N, N]
    tiled = tf.transpose(tf.reshape(tiled, [c, b, n, n]), [1, 2, 3, 0])  # [B, N, N, C]
    return read, write, tiled

  read, write, tiled = run(build)
  for i in range(b):
    for ch in range(c):
      np.testing.assert_allclose(read[i, :, :, ch], fy[i] @ images[i, ch] @ fx[i].T, rtol=1e-5)
      np.testing.assert_allclose(write[i, ch], fy[i].T @ patches[i, :, :, ch] @ fx[i],
                                 rtol=1e-5)
  np.testing.assert_allclose(read, tiled, rtol=1e-5)


def draw_values(config, batch=5, seed=0):
  images = np.random.default_rng(seed).random((batch, config.image_size, config.image_size,
                                               config.channels)).astype(np.float32)

  def build():
    d = model.build_draw(tf.constant(images), config)
    return d._replace(**{k: tf.no_op() for k, v in d._asdict().items() if v is None})

  return images, run(build)


@pytest.mark.parametrize("compat", model.COMPATS)
def test_kl_matches_closed_form(compat):
  config = TINY._replace(compat=compat)
  _, d = draw_values(config)
  mu, sigma = d.mus, np.exp(d.log_sigmas)
  # KL(N(mu, sigma^2) || N(0, 1)) per step, with the original's B4 constant where asked.
  kl = 0.5 * np.sum(mu**2 + sigma**2 - np.log(sigma**2) - 1, axis=2)  # [T, B]
  if compat == "original":
    kl += (config.latent_size - config.timesteps) / 2
  np.testing.assert_allclose(d.kl_per_step, kl, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(d.latent_loss_per_image, kl.sum(0), rtol=1e-4, atol=1e-6)
  assert d.latent_loss == pytest.approx(kl.sum(0).mean(), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("loss", model.LOSSES)
def test_generation_loss_matches_numpy(loss):
  images, d = draw_values(TINY._replace(loss=loss, pixel_sigma=0.5))
  p = d.canvases[-1].astype(np.float64)
  if loss in ("l2", "gaussian", "vaegan"):
    per_image = 0.5 * ((images - p)**2).sum((1, 2, 3))
    # l2: tf.nn.l2_loss, summed over the batch too; gaussian: -log N(x; p, 0.5^2) per image
    # without its constant, batch-averaged; vaegan reports the pixel term per image.
    total = {"l2": per_image.sum(), "gaussian": per_image.mean() / 0.25,
             "vaegan": per_image.mean()}[loss]
  else:
    per_image = -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum((1, 2, 3))
    total = per_image.mean()
  np.testing.assert_allclose(d.gen_loss_per_image, per_image, rtol=1e-4)
  assert d.gen_loss == pytest.approx(total, rel=1e-4)
  assert d.loss == pytest.approx(d.gen_loss + d.latent_loss, rel=1e-6)


def test_the_blogs_l2_loss_is_the_gaussian_of_sigma_one_over_root_batch():
  """Summed over a batch of B, the L2 term beside the batch-mean KL is the Gaussian loss of
  sigma^2 = 1/B (evaluate.likelihood_sigma): the same objective, so the same bound."""
  _, l2 = draw_values(TINY, batch=4)
  _, gaussian = draw_values(TINY._replace(loss="gaussian", pixel_sigma=0.5), batch=4)
  assert l2.loss == pytest.approx(gaussian.loss, rel=1e-6)
  assert l2.loss != pytest.approx(draw_values(TINY, batch=5)[1].loss, rel=1e-3)


@pytest.mark.parametrize("read_attn,write_attn", [(True, True), (False, False), (True, False)])
@pytest.mark.parametrize("batch,timesteps", [(1, 1), (3, 3)])
def test_shapes_for_any_batch_steps_and_attention(read_attn, write_attn, batch, timesteps):
  config = TINY._replace(read_attn=read_attn, write_attn=write_attn, timesteps=timesteps)
  _, d = draw_values(config, batch=batch)
  t, a, c = config.timesteps, config.image_size, config.channels
  assert d.canvases.shape == (t, batch, a, a, c)
  assert d.mus.shape == (t, batch, config.latent_size)
  assert (d.read_windows is None) != read_attn
  assert (d.write_windows is None) != write_attn
  if read_attn:
    assert d.read_windows.gx.shape == (t, batch)
  assert ((d.canvases > 0) & (d.canvases < 1)).all()


def variable_names(config):
  with tf.Graph().as_default():
    model.build_draw(tf1.placeholder(tf.float32, [None, 8, 8, 3]), config)
    return sorted(v.op.name for v in tf1.trainable_variables())


def test_variables_have_stable_scopes_independent_of_t():
  names = variable_names(TINY)
  assert names == variable_names(TINY._replace(timesteps=7))
  assert names == [
      "decoder/bias", "decoder/kernel", "encoder/bias", "encoder/kernel", "log_sigma/b",
      "log_sigma/w", "mu/b", "mu/w", "read/window/b", "read/window/w", "write/patch/b",
      "write/patch/w", "write/window/b", "write/window/w"
  ]


@pytest.mark.parametrize("compat,shape", [("paper", [TINY.timesteps, 2, TINY.latent_size]),
                                           ("original", [2, TINY.latent_size])])
def test_eps_fresh_each_step_in_paper_one_per_batch_in_original_b3(compat, shape):
  images = np.zeros((2, 8, 8, 3), np.float32)
  with tf.Graph().as_default() as g:
    model.build_draw(tf.constant(images), TINY._replace(compat=compat))
    noise = [op for op in g.get_operations()
             if op.type == "RandomStandardNormal" and "Initializer" not in op.name]
    with tf1.Session() as sess:
      assert [list(sess.run(op.outputs[0]).shape) for op in noise] == [shape]


def test_original_gives_no_gradient_to_g_y():
  images = np.random.default_rng(4).random((2, 8, 8, 3)).astype(np.float32)
  with tf.Graph().as_default():
    d = model.build_draw(tf.constant(images), TINY._replace(compat="original"))
    w = [v for v in tf1.trainable_variables() if v.op.name == "read/window/w"][0]
    grad = tf.gradients(d.loss, w)[0]  # [H, 5]
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      g = sess.run(grad)
  assert np.all(g[:, 1] == 0) and np.any(g[:, 0] != 0)


def test_sampler_without_noise_draws_fresh_z_at_every_run():
  """No `noise` (VAE/GAN's training samples): z is drawn anew at each run and per sample."""
  with tf.Graph().as_default():
    model.build_draw(tf1.placeholder(tf.float32, [None, 8, 8, 3]), TINY)
    s = model.build_sampler(5, TINY)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      first, second = sess.run(s.canvases), sess.run(s.canvases)
  assert first.shape == (TINY.timesteps, 5, 8, 8, 3)
  # Each sample differs from the next run's and from the other samples.
  assert (np.abs(first - second).max(axis=(0, 2, 3, 4)) > 1e-6).all()
  assert (np.abs(first[:, 1:] - first[:, :1]).max(axis=(0, 2, 3, 4)) > 1e-6).all()


def test_sampler_uses_no_encoder_and_is_reproducible():
  noise = np.random.default_rng(5).standard_normal((TINY.timesteps, 6, TINY.latent_size))
  with tf.Graph().as_default():
    model.build_draw(tf1.placeholder(tf.float32, [None, 8, 8, 3]), TINY)
    s = model.build_sampler(6, TINY, noise=tf.constant(noise, tf.float32))
    # Nothing the samples depend on is an encoder variable or an input placeholder.
    ops, stack = set(), [s.canvases.op]
    while stack:
      op = stack.pop()
      if op not in ops:
        ops.add(op)
        stack.extend(i.op for i in op.inputs)
    names = {op.name for op in ops}
    assert not any(n.startswith(("encoder/", "read/", "mu/", "log_sigma/")) for n in names)
    assert not any(op.type == "Placeholder" for op in ops)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      weights = {v.op.name: sess.run(v) for v in tf1.trainable_variables()}
      first = sess.run(s.canvases)
  assert first.shape == (TINY.timesteps, 6, 8, 8, 3)

  def fresh(eps):
    """The samples of a new graph and session, other initial weights overwritten."""
    with tf.Graph().as_default():
      tf1.set_random_seed(1)
      s = model.build_sampler(6, TINY, noise=tf.constant(eps, tf.float32))
      with tf1.Session() as sess:
        sess.run(tf1.global_variables_initializer())
        for v in tf1.trainable_variables():
          v.load(weights[v.op.name], sess)
        return sess.run(s.canvases)

  # The weights and the noise make the samples: the same give the same, other noise others.
  np.testing.assert_array_equal(fresh(noise), first)
  assert not np.array_equal(fresh(-noise), first)


def straightforward_read(images, fx, fy):
  """The original's read: C*B grey images, channel-major, filterbanks tiled C times."""
  b, k, a, n = tf.shape(images)[0], images.shape[1], images.shape[2], fx.shape[1]
  grey = tf.reshape(tf.transpose(images, [1, 0, 2, 3]), [-1, a, a])  # [K*B, A, A]
  tfx, tfy = tf.tile(fx, [k, 1, 1]), tf.tile(fy, [k, 1, 1])  # [K*B, N, A]
  glimpse = tf.matmul(tfy, tf.matmul(grey, tfx, transpose_b=True))  # [K*B, N, N]
  return tf.transpose(tf.reshape(glimpse, [k, b, n, n]), [1, 2, 3, 0])  # [B, N, N, K]


def straightforward_write(patches, fx, fy):
  """The original's write: each channel of the N x N x C patch as its own grey image."""
  b, n, c, a = tf.shape(patches)[0], patches.shape[1], patches.shape[3], fx.shape[2]
  grey = tf.reshape(tf.transpose(patches, [3, 0, 1, 2]), [-1, n, n])  # [C*B, N, N]
  tfx, tfy = tf.tile(fx, [c, 1, 1]), tf.tile(fy, [c, 1, 1])  # [C*B, N, A]
  update = tf.matmul(tfy, tf.matmul(grey, tfx), transpose_a=True)  # [C*B, A, A]
  return tf.transpose(tf.reshape(update, [c, b, a, a]), [1, 0, 2, 3])  # [B, C, A, A]


def losses_and_gradients(config, images, noise, weights=None):
  """Builds DRAW over `images` with `noise`, sets its variables to `weights` ({name: value})
  if given; returns (the weights, {gen_loss, latent_loss, loss, canvases: value}, the
  gradients of the loss, the forward pass's matmul FLOPs)."""
  with tf.Graph().as_default():
    d = model.build_draw(tf.constant(images), config, noise=tf.constant(noise, tf.float32))
    variables = tf1.trainable_variables()
    forward_flops = bench.matmul_flops(bench._ops_needed([d.loss]))
    grads = tf.gradients(d.loss, variables)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      if weights is not None:
        for v in variables:
          v.load(weights[v.op.name], sess)
      values = {v.op.name: sess.run(v) for v in variables}
      outputs = sess.run({k: getattr(d, k) for k in ("gen_loss", "latent_loss", "loss",
                                                     "canvases")})
      return values, outputs, sess.run(grads), forward_flops


@pytest.mark.parametrize("compat", model.COMPATS)
def test_optimised_graph_equals_straightforward_formulation(compat, monkeypatch):
  """Same losses and gradients, given the same weights and noise, as the tiled original."""
  config = TINY._replace(compat=compat)
  images = np.random.default_rng(6).random((3, 8, 8, 3)).astype(np.float32)
  noise = np.random.default_rng(7).standard_normal(model.noise_shape(config, 3))
  weights, fast, fast_grads, _ = losses_and_gradients(config, images, noise)
  monkeypatch.setattr(model, "read_patches", straightforward_read)
  monkeypatch.setattr(model, "write_patches", straightforward_write)
  _, slow, slow_grads, _ = losses_and_gradients(config, images, noise, weights)
  for k in ("gen_loss", "latent_loss", "canvases"):
    np.testing.assert_allclose(fast[k], slow[k], rtol=1e-5, atol=1e-6)
  for f, s in zip(fast_grads, slow_grads):
    np.testing.assert_allclose(f, s, rtol=1e-4, atol=1e-5)


def straightforward_encoder(self, x):
  """Eq. 5 and 17 as written: the LSTM over [x, x_hat, h_dec_prev] at every step."""
  pixels, h = int(np.prod(x.shape[1:])), self.config.hidden_size
  with tf1.variable_scope("encoder", reuse=tf1.AUTO_REUSE):
    kernel = tf1.get_variable("kernel", [2 * pixels + 2 * h, 4 * h])
    bias = tf1.get_variable("bias", [4 * h])
  flat_x = tf.reshape(x, [-1, pixels])  # [B, C*A*A]

  def step(x_hat, h_dec_prev, state):
    c, h_enc = state
    gates = tf.matmul(tf.concat([flat_x, x_hat, h_dec_prev, h_enc], 1), kernel) + bias
    i, j, f, o = tf.split(gates, 4, axis=1)  # [B, H] each
    c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
    return c, tf.sigmoid(o) * tf.tanh(c)

  return step


def test_encoder_without_attention_multiplies_x_once_and_trains_as_eq_17_reads_it(monkeypatch):
  """x is the same at every step: its product with the encoder's kernel is made once, and the
  losses and gradients are those of reading [x, x_hat] at every step."""
  config = TINY._replace(read_attn=False, write_attn=False, loss="bernoulli")
  b, h, z, t = 3, config.hidden_size, config.latent_size, config.timesteps
  pixels = config.channels * config.image_size**2
  images = np.random.default_rng(8).random((b, 8, 8, 3)).astype(np.float32)
  noise = np.random.default_rng(9).standard_normal(model.noise_shape(config, b))
  weights, fast, fast_grads, flops = losses_and_gradients(config, images, noise)
  per_step = (2 * b * (pixels + 2 * h) * 4 * h  # encoder: x_hat, h_dec_prev, h_enc
              + 2 * b * (z + h) * 4 * h  # decoder
              + 2 * 2 * b * h * z  # mu, log sigma
              + 2 * b * h * pixels)  # write
  assert flops == t * per_step + 2 * b * pixels * 4 * h  # and x's product once
  monkeypatch.setattr(model._Draw, "encoder", straightforward_encoder)
  _, slow, slow_grads, _ = losses_and_gradients(config, images, noise, weights)
  for f, s in zip([fast["loss"]] + fast_grads, [slow["loss"]] + slow_grads):
    np.testing.assert_allclose(f, s, rtol=1e-4, atol=1e-5)


def test_matmul_gradient_is_the_products_with_the_transposes():
  """d(sum(r * x w))/dx = r w^T and /dw = x^T r, written in numpy."""
  rng = np.random.default_rng(10)
  x, w, r = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5), (5, 4), (3, 4)))

  def build():
    tx, tw = tf.constant(x), tf.constant(w)
    return tf.gradients(tf.reduce_sum(model._matmul(tx, tw) * r), [tx, tw])
  dx, dw = run(build)
  np.testing.assert_allclose(dx, r @ w.T, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dw, x.T @ r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attn", [True, False])
def test_training_graph_has_no_matmul_by_a_transposed_kernel(attn):
  """Every LSTM and linear layer's backward product by its kernel's transpose runs as a batch
  of one, not as MatMul with transpose_b, which TF's CPU kernels run at a third of the speed
  (`make bench` measures the difference)."""
  config = TINY._replace(read_attn=attn, write_attn=attn)
  with tf.Graph().as_default():
    d = model.build_draw(tf.zeros([2, 8, 8, 3]), config)
    grads = tf.gradients(d.loss, tf1.trainable_variables())
    ops = bench._ops_needed(grads)
  matmuls = [op for op in ops if op.type == "MatMul"]
  assert len(matmuls) > 3 * config.timesteps  # the forward's and the weights' gradients
  assert not [op.name for op in matmuls if op.get_attr("transpose_b")]


def test_learned_prior_kl_is_the_closed_form_between_two_gaussians():
  config = TINY._replace(prior="learned")
  images = np.random.default_rng(2).random((3, 8, 8, 3)).astype(np.float32)

  def build():
    d = model.build_draw(tf.constant(images), config)
    with tf1.variable_scope("prior", reuse=True):
      # Away from the initial N(0, I), so that a KL against N(0, I) would not pass.
      moved = [v.assign(tf.random.stateless_normal(v.shape, [1, i]) * 0.3)
               for i, v in enumerate(tf1.global_variables("prior"))]
    with tf.control_dependencies(moved):
      return [tf.identity(t) for t in (d.mus, d.log_sigmas)], d

  with tf.Graph().as_default():
    (mu_q, ls_q), d = build()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run([mu_q, ls_q])  # the assignments
      mu, ls, mp, lp, kl = sess.run([d.mus, d.log_sigmas, d.prior_mus, d.prior_log_sigmas,
                                     d.kl_per_step])
  assert np.abs(mp).max() > 0.01 and np.abs(lp).max() > 0.01
  mu, ls, mp, lp = (a.astype(np.float64) for a in (mu, ls, mp, lp))
  sq, sp = np.exp(ls), np.exp(lp)
  expected = (np.log(sp / sq) + (sq**2 + (mu - mp)**2) / (2 * sp**2) - 0.5).sum(2)  # [T, B]
  np.testing.assert_allclose(kl, expected, rtol=1e-4, atol=1e-5)


def test_learned_prior_samples_are_the_standard_sampler_fed_its_mean_and_scale():
  learned = TINY._replace(prior="learned")
  eps = np.random.default_rng(3).standard_normal((TINY.timesteps, 4, TINY.latent_size))
  with tf.Graph().as_default():
    sampled = model.build_sampler(4, learned, noise=tf.constant(eps, tf.float32))
    with tf1.variable_scope("prior", reuse=True):
      # A prior whose weights are zero: mu_p = 0.5, sigma_p = 2 at every step.
      weights = tf.zeros([TINY.hidden_size, TINY.latent_size])
      setup = [tf1.get_variable("mu/w").assign(weights),
               tf1.get_variable("mu/b").assign(tf.fill([TINY.latent_size], 0.5)),
               tf1.get_variable("log_sigma/w").assign(weights),
               tf1.get_variable("log_sigma/b").assign(
                   tf.fill([TINY.latent_size], np.float32(np.log(2.0))))]
    standard = model.build_sampler(4, TINY, noise=tf.constant(0.5 + 2 * eps, tf.float32))
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(setup)
      a, b = sess.run([sampled.canvases, standard.canvases])
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert a[-1].std() > 0


def test_read_and_write_scale_by_gamma_as_eq_27_and_29_say():
  config = TINY._replace(image_size=12, read_n=5, write_n=5)
  rng = np.random.default_rng(4)
  b, a, c, n = 3, 12, 3, 5
  x = rng.random((b, c, a, a)).astype(np.float32)  # [B, C, A, A]
  x_hat = rng.random((b, c, a, a)).astype(np.float32) - 0.5
  h = rng.standard_normal((b, config.hidden_size)).astype(np.float32)
  # Windows well inside the image and intensities far from 1, so a missing or inverted
  # gamma shows.
  bias = np.array([0.1, -0.2, 0.3, -0.2, 0.8], np.float32)

  def build():
    draw = model._Draw(config)
    r, _ = draw.read(tf.constant(x), tf.constant(x_hat), tf.constant(h))
    update, _ = draw.write(tf.constant(h))
    names = ("read/window/w", "read/window/b", "write/window/w", "write/window/b",
             "write/patch/w", "write/patch/b")
    found = {v.op.name: v for v in tf1.global_variables()}
    assigns = [found[k].assign(bias) for k in names if k.endswith("window/b")]
    return (r, update), assigns, [found[k] for k in names]

  with tf.Graph().as_default():
    (r, update), assigns, variables = build()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(assigns)
      r, update = sess.run([r, update])
      rw, rb, ww, wb, pw, pb = sess.run(variables)
  for bias_now in (rb, wb):
    np.testing.assert_allclose(bias_now, bias)
  raw_read = h.astype(np.float64) @ rw + rb  # [B, 5]
  fx, fy = numpy_filterbank(*raw_read[:, :4].T, a=a, n=n)
  gamma = np.exp(raw_read[:, 4])
  glimpse = lambda img: np.stack([[fy[i] @ img[i, ch] @ fx[i].T for ch in range(c)]
                                  for i in range(b)]).transpose(0, 2, 3, 1)  # [B, N, N, C]
  want_r = gamma[:, None] * np.concatenate(
      [glimpse(x).reshape(b, -1), glimpse(x_hat).reshape(b, -1)], 1)  # eq. 27
  np.testing.assert_allclose(r, want_r, rtol=1e-4, atol=1e-6)
  raw_write = h.astype(np.float64) @ ww + wb
  fx, fy = numpy_filterbank(*raw_write[:, :4].T, a=a, n=n)
  patch = (h.astype(np.float64) @ pw + pb).reshape(b, n, n, c)
  want_update = np.stack([[fy[i].T @ patch[i, :, :, ch] @ fx[i] for ch in range(c)]
                          for i in range(b)]) / np.exp(raw_write[:, 4])[:, None, None, None]
  np.testing.assert_allclose(update, want_update, rtol=1e-4, atol=1e-6)  # eq. 29


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_read_sigma_init_sets_the_first_read_windows_sigma_and_nothing_else(sigma):
  """--read_sigma_init: the first glimpse (h^dec_0 = 0, so eq. 21 gives the biases) reads with
  sigma^2 = sigma^2 pixels, the other window parameters as the paper's; the write window and
  the default (sigma 1, zero biases, as the paper and the original) are untouched."""
  config = TINY._replace(read_sigma_init=sigma)

  def build():
    draw = model.build_draw(tf.zeros([2, 8, 8, 3]), config)
    variables = {v.op.name: v for v in tf1.global_variables()}
    return (draw.read_windows, variables["read/window/b"], variables["write/window/b"])

  read, read_bias, write_bias = run(build)
  np.testing.assert_allclose(read.sigma2[0], [sigma**2] * 2, rtol=1e-6)
  np.testing.assert_allclose(read.delta[0], [(8 - 1) / (3 - 1)] * 2, rtol=1e-6)  # eq. 24
  np.testing.assert_allclose(read.gx[0], [(8 + 1) / 2] * 2, rtol=1e-6)  # eq. 22
  np.testing.assert_allclose(read.gamma[0], [1, 1], rtol=1e-6)
  np.testing.assert_allclose(read_bias, [0, 0, np.log(sigma**2), 0, 0], atol=1e-7)
  np.testing.assert_array_equal(write_bias, np.zeros(5))


def test_write_sigma_floor_raises_only_the_write_filters_narrower_than_it():
  """--write_sigma_floor=f: a write window's sigma is max(sigma, f * delta), with sigma and
  delta from eq. 21-24 of the window's own linear outputs; read windows keep theirs."""
  floor, n, a = 0.29, 3, 8
  h = np.random.default_rng(5).normal(0, 2, (6, 16)).astype(np.float32)

  def build():
    draw = model._Draw(TINY._replace(write_n=n, write_sigma_floor=floor))
    _, write = draw.write(tf.constant(h))
    read, _ = draw.window(tf.constant(h), "read", n)
    found = {v.op.name: v for v in tf1.global_variables()}
    return write, read, found["write/window/w"], found["write/window/b"], found["read/window/w"]

  write, read, w, b, read_w = run(build)
  raw = h.astype(np.float64) @ w + b  # [B, 5], eq. 21
  delta = (a - 1) / (n - 1) * np.exp(raw[:, 3])  # eq. 24
  sigma2 = np.exp(raw[:, 2])
  below = sigma2 < (floor * delta)**2
  assert 0 < below.sum() < len(h), below  # both cases are exercised
  np.testing.assert_allclose(write.sigma2, np.where(below, (floor * delta)**2, sigma2), rtol=1e-5)
  np.testing.assert_allclose(write.delta, delta, rtol=1e-5)
  raw_read = h.astype(np.float64) @ read_w  # zero biases
  np.testing.assert_allclose(read.sigma2, np.exp(raw_read[:, 2]), rtol=1e-5)
