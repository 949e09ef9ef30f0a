"""The colour DRAW graph (Gregor et al. 2015; colour by tiled attention, Frans 2016).

Pure graph construction: tensors and a `ModelConfig` in, a namedtuple of tensors out.
No session, no files, no flags. Equation numbers are the DRAW paper's (arXiv 1502.04623).

The model only: read, write, encoder, decoder, prior, and the losses it defines (eq. 9-11)
as tensors, per image and as the batch's, since evaluation reports exactly these. What
training minimises (the KL's warm-up, the objective), the learning rate and the optimiser
are objectives.py's, which fills in the DrawGraph's training fields.

Colour. One attention window per image and step is shared by the C colour channels: each
channel is a grey image of its own and all C of them are read and written with their
image's filterbank, which is the original's "tile the filterbank C times along the batch"
(a batch of B RGB images is C*B grey images). Here the [B, N, A] filterbanks are broadcast
across a channel axis instead of copied, which computes exactly the same products.

Layouts. Images come in as [B, H, W, C] in [0, 1]. Inside the graph, images and the canvas
are kept channel-planar, [B, C, H, W], so that every channel plane is a contiguous H x W
matrix for the filterbank products and nothing is transposed inside the unrolled loop.
Glimpses and write patches are exchanged with the LSTMs as N x N x C patches, as in the
original. The canvases handed out are [T, B, H, W, C].

`compat="original"` reproduces the arithmetic of the original code (docs/reference.md, B1-B8);
the default, "paper", follows the paper.
"""

import collections

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1

COMPATS = ("paper", "original")
LOSSES = ("l2", "gaussian", "bernoulli", "vaegan")
PRIORS = ("standard", "learned")

ModelConfig = collections.namedtuple(
    "ModelConfig",
    [
        "image_size",  # A = B: images are square, A x A pixels.
        "channels",  # C: 3 for RGB, 1 for grey (MNIST).
        "timesteps",  # T: glimpses and canvas updates per image.
        "latent_size",  # Size of z_t.
        "hidden_size",  # Units of each of the encoder and decoder LSTMs.
        "read_n",  # N of the read window (N x N filters).
        "write_n",  # N of the write window.
        "read_attn",  # Read with attention; else read is [x, x_hat].
        "write_attn",  # Write with attention; else a linear layer to A*A*C.
        "compat",  # "paper" or "original" (bug for bug, docs/reference.md B1-B8).
        "loss",  # "l2" (the blog's), "bernoulli" (the paper's, in nats) or "vaegan" (vaegan.py).
        # The fields marked "training" are objectives.py's; build_draw does not read them.
        "learning_rate",  # training: Adam step size.
        "beta1",  # training: Adam beta1.
        "clip",  # training: the gradients' norm bound (see clip_by).
        "vaegan_gamma",  # training, vaegan: weight of the feature loss against the GAN loss in
        #                  the decoder's objective.
        "vaegan_layer",  # vaegan: the discriminator convolution (1-4) whose features are compared.
        "vaegan_channels",  # vaegan: channels of the discriminator's first convolution.
        "pixel_sigma",  # gaussian: sigma of the per-pixel Gaussian likelihood on [0, 1].
        "kl_warmup",  # training: steps over which the KL's weight rises 0 -> 1; 0: none.
        "lr_decay_steps",  # training: the learning rate is multiplied by lr_decay_rate every
        "lr_decay_rate",  # this many steps, smoothly (exponential decay); 0 steps: constant.
        "prior",  # "standard": z_t ~ N(0, I) (the paper); "learned": N(mu_p, sigma_p^2) of
        #           h^dec_{t-1}, a linear layer in scope `prior` (Gregor et al. 2016).
        "vaegan_optimizer",  # training, vaegan: "adam" or "rmsprop" for all three optimisers.
        "vaegan_balance",  # training, vaegan: skip Dis's or the decoder's update when far ahead.
        "vaegan_pixel",  # vaegan: add the Gaussian pixel likelihood (pixel_sigma) to L_llike.
        "read_sigma_init",  # sigma, in pixels, of the read filters before training (the bias
        #                     of log sigma^2 is 2 log of it); 1 is the paper's and the
        #                     original's (a zero bias).
        "vaegan_augment",  # vaegan: DiffAugment policies before the discriminator, comma-
        #                    separated in vaegan.AUGMENTATIONS' order; "" (none) is the paper's.
        "vaegan_r1",  # vaegan: weight r of the R1 gradient penalty on Dis (r/2 |grad|^2); 0
        #               (none) is the paper's.
        "vaegan_samples",  # vaegan: Dis sees samples from the prior as well as reconstructions,
        #                    and the decoder learns to fool it with both (the paper's).
        "vaegan_mbstd",  # vaegan: Dis also sees the spread of each source's batch (ProGAN's
        #                  minibatch standard deviation); False is the paper's.
        "write_sigma_floor",  # the write filters' sigma is at least this fraction of their
        #                       spacing delta; 0 (none) is the paper's.
        "clip_by",  # training: "tensor", each gradient clipped to `clip` on its own (the
        #             original's), or "global", all scaled together to a norm of at most it.
        "lr_schedule",  # training: "STEP:RATE,..." from each global STEP on, the learning rate
        #                 is RATE (before the first, learning_rate); "" (none): constant.
        #                 Not with lr_decay_steps (objectives.schedule refuses both).
        "vaegan_noise",  # vaegan: sigma of the Gaussian instance noise added to every image
        #                  Dis sees (pixels in [0, 1]) at step 0; 0 (none) is the paper's.
        "vaegan_noise_steps",  # vaegan: that sigma falls linearly to 0 at this global step;
        #                        0: it stays (vaegan.noise_scale).
        "vaegan_spectral",  # vaegan: Dis's weights are divided by their spectral norms and
        #                     it has no batch norm (SN-GAN's); False is the paper's.
        "vaegan_prior_rate",  # training, vaegan with the learned prior: the prior's learning
        #                       rate over the others'; 1 (the same optimiser as the encoder's).
        "vaegan_fit_samples",  # training, vaegan: the samples Dis sees draw their noise from a
        #                        Gaussian fitted to the batch's posteriors, not from N(0, I)
        #                        (vaegan.fitted_noise); False is the paper's.
    ],
    # Newer fields come last with defaults, so the hparams.json of older runs still loads.
    defaults=(64, 3, 10, 10, 256, 5, 5, True, True, "paper", "l2", 1e-3, 0.5, 5.0, 1e-6, 4, 32,
              1.0, 0, 0, 0.5, "standard", "adam", False, False, 1.0, "", 0.0, True,
              False, 0.0, "tensor", "", 0.0, 0, False, 1.0, False))

# The attention window of one step, as the filterbank uses it; each field [B].
Window = collections.namedtuple("Window", ["gx", "gy", "delta", "sigma2", "gamma"])

DrawGraph = collections.namedtuple(
    "DrawGraph",
    [
        "canvases",  # [T, B, H, W, C] sigma(c_t), t = 1..T.
        "read_windows",  # Window of [T, B] tensors; None without read attention.
        "write_windows",  # Window of [T, B] tensors; None without write attention.
        "mus",  # [T, B, Z] mu_t.
        "log_sigmas",  # [T, B, Z] log sigma_t.
        "prior_mus",  # [T, B, Z] the prior's mean of z_t (zeros for the standard prior).
        "prior_log_sigmas",  # [T, B, Z] the prior's log sigma of z_t (zeros likewise).
        "gen_loss_per_image",  # [B] reconstruction loss of each image (vaegan: the pixel L2 term).
        "kl_per_step",  # [T, B] KL of each step and image.
        "latent_loss_per_image",  # [B] sum over steps of the KL.
        "gen_loss",  # [] as the loss defines it (l2: summed over the batch; others: mean;
        #              gaussian: the batch mean of gen_loss_per_image / pixel_sigma^2).
        "latent_loss",  # [] batch-mean KL.
        "loss",  # [] gen_loss + latent_loss (vaegan: only reported).
        # Training fields, filled in by objectives.py (minimize, minimize_vaegan), towers.py
        # and cluster.py; None from build_draw.
        "objective",  # [] what training minimises: gen_loss + kl_weight * latent_loss.
        "kl_weight",  # [] the KL's weight in the objective (kl_warmup), 1 without warm-up.
        "learning_rate",  # [] the learning rate of this step (lr_decay_*, lr_schedule).
        "train_op",  # The step's update; it increments the global step.
        "global_step",  # [] int64.
    ],
    defaults=(None,) * 5)

SampleGraph = collections.namedtuple(
    "SampleGraph",
    [
        "canvases",  # [T, S, H, W, C] sigma(c_t) of S samples from the prior.
        "write_windows",  # Window of [T, S] tensors; None without write attention.
    ])

_LINEAR_INIT = tf1.random_normal_initializer(stddev=0.02)


@tf.RegisterGradient("DrawMatMul")
def _matmul_grad(op, grad):
  """The gradient of _matmul's x [B, K] @ w [K, N]: the same products as TF's own MatMul
  gradient, but grad w^T as a batch of one. TF's CPU MatMul with transpose_b runs at a third of
  its plain speed at these shapes (67 against 197 GFLOP/s for [64, 1024] x [1280, 1024]^T on the
  2-core AMD EPYC of 2026-12-05), BatchMatMulV2 with adj_y at full speed (184), and every LSTM
  step's backward pass multiplies by its kernel's transpose."""
  x, w = op.inputs
  dx = tf.linalg.matmul(grad[None], w[None], adjoint_b=True)[0]  # [1, B, K] -> [B, K]
  dw = tf.matmul(x, grad, transpose_a=True)  # [K, N]
  return dx, dw


def _matmul(x, w):
  """x [B, K] @ w [K, N] -> [B, N], a plain MatMul whose gradient is _matmul_grad's."""
  with tf1.get_default_graph().gradient_override_map({"MatMul": "DrawMatMul"}):
    return tf.matmul(x, w)


def _linear(x, output_size, scope, bias=None):
  """x [B, I] -> [B, output_size]; weights N(0, 0.02^2) and zero biases, as the original, or
  biases starting at `bias` (a list of output_size floats)."""
  with tf1.variable_scope(scope, reuse=tf1.AUTO_REUSE):
    w = tf1.get_variable("w", [x.shape[-1], output_size], initializer=_LINEAR_INIT)
    b = tf1.get_variable("b", [output_size], initializer=tf1.zeros_initializer()
                         if bias is None else tf1.constant_initializer(bias))
  return _matmul(x, w) + b


def _lstm_cell(input_size, hidden_size, scope, constant_input=None):
  """The LSTM of TF1's LSTMCell (gates i, j, f, o; forget bias 1) over inputs [B, input_size];
  returns step(x, (c, h)) -> (c, h), each [B, H].

  Written by hand because Keras 3 removed the v1 cells; the variables are `scope/kernel`
  [input_size + H, 4H] and `scope/bias` [4H]. `constant_input` [B, I0], if given, is the
  first I0 columns of the input at every step: its product with the kernel's first I0 rows is
  computed once rather than at every step, and step takes the rest, x [B, input_size - I0].
  """
  with tf1.variable_scope(scope, reuse=tf1.AUTO_REUSE):
    kernel = tf1.get_variable("kernel", [input_size + hidden_size, 4 * hidden_size],
                              initializer=tf1.glorot_uniform_initializer())
    bias = tf1.get_variable("bias", [4 * hidden_size], initializer=tf1.zeros_initializer())
  constant_gates = bias
  if constant_input is not None:
    rows = constant_input.shape[-1]
    constant_gates = _matmul(constant_input, kernel[:rows]) + bias  # [B, 4H]
    kernel = kernel[rows:]  # [input_size - I0 + H, 4H]

  def step(x, state):
    c, h = state
    gates = _matmul(tf.concat([x, h], 1), kernel) + constant_gates  # [B, 4H]
    i, j, f, o = tf.split(gates, 4, axis=1)
    c = tf.sigmoid(f + 1.0) * c + tf.sigmoid(i) * tf.tanh(j)
    h = tf.sigmoid(o) * tf.tanh(c)
    return c, h

  return step


def window_params(raw, image_size, n, compat):
  """The five linear outputs of eq. 21 -> the Window the filterbank uses (eq. 22-24).

  raw [B, 5] = (g~X, g~Y, log sigma^2, log delta~, log gamma). Images are square, A = B.
  """
  gx_, gy_, log_sigma2, log_delta, log_gamma = tf.unstack(raw, axis=1)  # each [B]
  a = float(image_size)
  if compat == "original":
    centre = float((image_size + 1) // 2)  # B8: Python 2 integer division.
    delta = (a - 1) / ((n - 1) * tf.exp(log_delta))  # B7: divides by delta~.
  else:
    centre = (a + 1) / 2  # eq. 22
    delta = (a - 1) / (n - 1) * tf.exp(log_delta)  # eq. 24
  gx = centre * (gx_ + 1)  # eq. 22
  gy = centre * (gy_ + 1)  # eq. 23
  if compat == "original":
    gy = gx  # B1: F_Y is built from mu_X, so the window sits where g_X says in both axes.
  return Window(gx=gx, gy=gy, delta=delta, sigma2=tf.exp(log_sigma2), gamma=tf.exp(log_gamma))


def filter_centres(g, delta, n, compat):
  """Centres mu^i of the N filters along one axis (eq. 19, 20): g, delta [...] -> [..., N].

  Takes tensors or numpy arrays, so pictures put the filters where the filterbank does.
  """
  if compat == "original":
    grid = np.arange(n, dtype=np.float32) - n // 2 - 0.5  # B6: -2.5..1.5 for N = 5.
  else:
    grid = np.arange(1, n + 1, dtype=np.float32) - n / 2 - 0.5  # eq. 19, 20: -2..2.
  # The tensor (or array) on the left, so a tensor is not handed to numpy's multiply.
  return delta[..., None] * grid + g[..., None]  # [..., N]


def filterbank(window, image_size, n, compat):
  """Window of [B] tensors -> (Fx, Fy), each [B, N, A], rows normalised to sum to 1.

  Pixel coordinates a are 0..A-1, as in the original. Eq. 19, 20, 25, 26.
  """
  pixels = tf.range(image_size, dtype=tf.float32)[None, None, :]  # [1, 1, A]

  def bank(g):
    mu = filter_centres(g, window.delta, n, compat)  # [B, N]
    d = pixels - mu[:, :, None]  # [B, N, A]
    s2 = window.sigma2[:, None, None]  # [B, 1, 1]
    if compat == "original":
      f = tf.exp(-tf.square(d / (2 * s2)))  # B2: the square outside the quotient.
    else:
      f = tf.exp(-tf.square(d) / (2 * s2))  # eq. 25, 26
    return f / tf.maximum(tf.reduce_sum(f, 2, keepdims=True), 1e-8)  # [B, N, A]

  # Under B1 window.gy is window.gx, so F_Y equals F_X.
  return bank(window.gx), bank(window.gy)


def read_patches(images, fx, fy):
  """Fy . img . Fx^T for every channel plane: [B, K, A, A] -> [B, N, N, K] (eq. 27).

  The [B, N, A] filterbanks of an image serve all its K planes (the tiled attention). The
  planes are stacked into one [K*A, A] matrix per image, so the big product is a plain batched
  matmul; the patch comes out as the original's N x N x K patch.
  """
  k, a, n = images.shape[1], images.shape[2], fx.shape[1]
  cols = tf.matmul(tf.reshape(images, [-1, k * a, a]), fx, transpose_b=True)  # [B, K*A, N]
  cols = tf.transpose(tf.reshape(cols, [-1, k, a, n]), [0, 2, 1, 3])  # [B, A, K, N]
  patch = tf.matmul(fy, tf.reshape(cols, [-1, a, k * n]))  # [B, N, K*N]
  return tf.transpose(tf.reshape(patch, [-1, n, k, n]), [0, 1, 3, 2])  # [B, N, N, K]


def write_patches(patches, fx, fy):
  """Fy^T . w . Fx for every channel of an N x N x C patch: [B, N, N, C] -> [B, C, A, A] (eq. 29).

  As in read_patches, the C planes share their image's filterbanks and the big product is
  one [C*A, N] x [N, A] matmul per image.
  """
  n, c, a = patches.shape[1], patches.shape[3], fx.shape[2]
  rows = tf.matmul(fy, tf.reshape(patches, [-1, n, n * c]), transpose_a=True)  # [B, A, N*C]
  rows = tf.transpose(tf.reshape(rows, [-1, a, n, c]), [0, 3, 1, 2])  # [B, C, A, N]
  update = tf.matmul(tf.reshape(rows, [-1, c * a, n]), fx)  # [B, C*A, A]
  return tf.reshape(update, [-1, c, a, a])  # [B, C, A, A]


class _Draw:
  """Builds the per-step pieces under stable variable scopes; shared by training and sampling."""

  def __init__(self, config):
    self.config = config

  def window(self, h_dec, scope, n):
    bias = None
    if scope == "read" and self.config.read_sigma_init != 1:
      # A departure (--read_sigma_init): with sigma = 1 the first glimpses, whose windows sit
      # where a zero h_dec puts them, read the image's border only, all blank on MNIST.
      bias = [0.0, 0.0, 2 * np.log(self.config.read_sigma_init), 0.0, 0.0]  # log sigma^2
    raw = _linear(h_dec, 5, scope + "/window", bias)  # [B, 5], eq. 21
    win = window_params(raw, self.config.image_size, n, self.config.compat)
    floor = self.config.write_sigma_floor
    if scope == "write" and floor:
      # A departure (--write_sigma_floor): N Gaussians of sigma spaced delta apart sum to a
      # flat stroke only when sigma is near delta/2 or more (their ripple is about
      # 2 exp(-2 pi^2 sigma^2 / delta^2): 58% at 0.25, 1.4% at 0.5); narrower, one write lays
      # an N x N lattice of dots, which a VAE/GAN's decoder learns to use to fool its critic.
      win = win._replace(sigma2=tf.maximum(win.sigma2, tf.square(floor * win.delta)))
    return win, filterbank(win, self.config.image_size, n, self.config.compat)

  def read(self, x, x_hat, h_dec):
    """x, x_hat [B, C, A, A] -> r [B, 2*N*N*C] (eq. 27), window; without read attention
    x_hat [B, C*A*A], None: eq. 17's x is the same at every step, the encoder's constant input.
    """
    cfg = self.config
    if not cfg.read_attn:
      return tf.reshape(x_hat, [-1, cfg.channels * cfg.image_size**2]), None  # [B, C*A*A]
    n, c = cfg.read_n, cfg.channels
    win, (fx, fy) = self.window(h_dec, "read", n)
    # Two products, not one of the concatenation: concatenating would copy both images every
    # step, and the gradient would be computed for x too, which is a constant.
    r = tf.concat([tf.reshape(read_patches(x, fx, fy), [-1, n * n * c]),
                   tf.reshape(read_patches(x_hat, fx, fy), [-1, n * n * c])], 1)  # [B, 2*N*N*C]
    return r * win.gamma[:, None], win  # eq. 27: gamma scales the glimpse.

  def write(self, h_dec):
    """h_dec [B, H] -> canvas update [B, C, A, A] (eq. 29 or eq. 18), window."""
    cfg = self.config
    c, a = cfg.channels, cfg.image_size
    if not cfg.write_attn:
      return tf.reshape(_linear(h_dec, c * a * a, "write/patch"), [-1, c, a, a]), None
    n = cfg.write_n
    w = tf.reshape(_linear(h_dec, n * n * c, "write/patch"), [-1, n, n, c])  # [B, N, N, C]
    win, (fx, fy) = self.window(h_dec, "write", n)
    # eq. 29: 1/gamma^ scales the update; the products are linear, so it is applied to the
    # N x N patch rather than to the A x A canvas update (and its gradient).
    return write_patches(w / win.gamma[:, None, None, None], fx, fy), win  # [B, C, A, A]

  def encoder(self, x):
    """x [B, C, A, A] -> the encoder's step(r, h_dec_prev, (c, h)) -> (c, h) (eq. 5)."""
    cfg = self.config
    h = cfg.hidden_size
    if cfg.read_attn:
      cell = _lstm_cell(2 * cfg.read_n**2 * cfg.channels + h, h, "encoder")
    else:
      # eq. 17 reads [x, x_hat], and x is the same at every step: its product with its rows
      # of the kernel (784 of 2,080 on MNIST) is made once, not T times, which saves ~30% of
      # a training step's products.
      pixels = cfg.channels * cfg.image_size**2
      cell = _lstm_cell(2 * pixels + h, h, "encoder",
                        constant_input=tf.reshape(x, [-1, pixels]))  # [B, C*A*A]
    return lambda r, h_dec_prev, state: cell(tf.concat([r, h_dec_prev], 1), state)

  def decoder(self, z, state):
    z_size, h = self.config.latent_size, self.config.hidden_size
    return _lstm_cell(z_size, h, "decoder")(z, state)  # eq. 7

  def prior(self, h_dec_prev):
    """h^dec_{t-1} [B, H] -> the prior's mu_p, log sigma_p of z_t, each [B, Z].

    The paper's prior is N(0, I) at every step. The learned one (Conv DRAW's, Gregor et al.
    2016) follows the decoder: sampling then draws z_t where the posteriors put it, rather
    than where the KL failed to push them. Its N(0, 0.02^2) weights and zero biases start it
    at N(0, I); at t = 1, h^dec_0 = 0 leaves the biases alone.
    """
    z = self.config.latent_size
    if self.config.prior == "standard":
      zeros = tf.zeros([tf.shape(h_dec_prev)[0], z])
      return zeros, zeros
    return (_linear(h_dec_prev, z, "prior/mu"), _linear(h_dec_prev, z, "prior/log_sigma"))


def _stack_windows(windows):
  """List over t of Window of [B] -> Window of [T, B], or None."""
  if windows[0] is None:
    return None
  return Window(*[tf.stack(field) for field in zip(*windows)])


def _zeros_state(batch, hidden_size):
  zeros = tf.zeros([batch, hidden_size])
  return zeros, zeros


def _to_images(canvases):
  """List over t of [B, C, A, A] logits -> [T, B, A, A, C] sigma(c_t)."""
  return tf.transpose(tf.sigmoid(tf.stack(canvases)), [0, 1, 3, 4, 2])  # [T, B, A, A, C]


def noise_shape(config, batch):
  """Shape of the eps of eq. 6: [T, B, Z], fresh at every step, or [B, Z] reused (B3)."""
  if config.compat == "original":
    return [batch, config.latent_size]
  return [config.timesteps, batch, config.latent_size]


def build_draw(images, config, noise=None):
  """Builds DRAW over `images` [B, A, A, C] in [0, 1]; returns a DrawGraph whose training
  fields are None (objectives.minimize fills them).

  B may be unknown (None): any batch size works, 1 and a last partial batch included.
  `noise`, if given, is the eps of eq. 6, shaped as noise_shape says; otherwise it is
  drawn in the graph.
  """
  cfg = config
  if cfg.compat not in COMPATS:
    raise ValueError("compat must be one of %s, not %r" % (COMPATS, cfg.compat))
  if cfg.loss not in LOSSES:
    raise ValueError("loss must be one of %s, not %r" % (LOSSES, cfg.loss))
  if cfg.prior not in PRIORS:
    raise ValueError("prior must be one of %s, not %r" % (PRIORS, cfg.prior))
  draw = _Draw(cfg)
  batch = tf.shape(images)[0]
  x = tf.transpose(images, [0, 3, 1, 2])  # [B, C, A, A]
  if noise is None:
    noise = tf.random.normal(noise_shape(cfg, batch))
  canvas = tf.zeros_like(x)  # c_0 = 0
  enc_state = _zeros_state(batch, cfg.hidden_size)
  dec_state = _zeros_state(batch, cfg.hidden_size)
  encoder = draw.encoder(x)
  canvases, read_windows, write_windows, mus, log_sigmas = [], [], [], [], []
  prior_mus, prior_log_sigmas = [], []
  for t in range(cfg.timesteps):
    h_dec_prev = dec_state[1]
    prior_mu, prior_log_sigma = draw.prior(h_dec_prev)
    x_hat = x - tf.sigmoid(canvas)  # eq. 3
    r, read_win = draw.read(x, x_hat, h_dec_prev)  # eq. 4
    enc_state = encoder(r, h_dec_prev, enc_state)  # eq. 5
    h_enc = enc_state[1]
    mu = _linear(h_enc, cfg.latent_size, "mu")  # eq. 1, 2
    log_sigma = _linear(h_enc, cfg.latent_size, "log_sigma")
    eps = noise if cfg.compat == "original" else noise[t]  # [B, Z]
    z = mu + tf.exp(log_sigma) * eps  # eq. 6, reparameterised
    dec_state = draw.decoder(z, dec_state)  # eq. 7
    update, write_win = draw.write(dec_state[1])
    canvas = canvas + update  # eq. 8
    canvases.append(canvas)
    read_windows.append(read_win)
    write_windows.append(write_win)
    mus.append(mu)
    log_sigmas.append(log_sigma)
    prior_mus.append(prior_mu)
    prior_log_sigmas.append(prior_log_sigma)

  mus = tf.stack(mus)  # [T, B, Z]
  log_sigmas = tf.stack(log_sigmas)  # [T, B, Z]
  prior_mus = tf.stack(prior_mus)  # [T, B, Z]
  prior_log_sigmas = tf.stack(prior_log_sigmas)  # [T, B, Z]
  if cfg.prior == "standard":
    # eq. 11 per step: 1/2 sum_j (mu^2 + sigma^2 - 2 log sigma) - Z/2; B4 uses T/2.
    kl_const = (cfg.timesteps if cfg.compat == "original" else cfg.latent_size) / 2.0
    kl_per_step = 0.5 * tf.reduce_sum(
        tf.square(mus) + tf.exp(2 * log_sigmas) - 2 * log_sigmas, 2) - kl_const  # [T, B]
  else:
    # KL(N(mu, sigma^2) || N(mu_p, sigma_p^2)) per dimension, summed over j.
    kl_per_step = tf.reduce_sum(
        prior_log_sigmas - log_sigmas - 0.5
        + (tf.exp(2 * log_sigmas) + tf.square(mus - prior_mus))
        / (2 * tf.exp(2 * prior_log_sigmas)), 2)  # [T, B]
  latent_per_image = tf.reduce_sum(kl_per_step, 0)  # [B], eq. 11
  latent_loss = tf.reduce_mean(latent_per_image)

  if cfg.loss in ("l2", "gaussian", "vaegan"):
    # 1/2 sum of squares per image. The blog's loss (l2) is TensorFlow's l2_loss, summed over
    # the pixels AND the batch, so the KL weighs 1/B per image against it. gaussian is the
    # per-image negative log-likelihood under N(x; sigma(c_T), pixel_sigma^2) (without its
    # constant), batch-averaged like the KL: a true bound whose balance pixel_sigma sets and
    # whose gradients do not grow with the batch. VAE/GAN optimises a discriminator's features
    # instead (vaegan.py) and keeps this pixel term to report the same numbers as the others.
    gen_per_image = 0.5 * tf.reduce_sum(tf.square(x - tf.sigmoid(canvas)), [1, 2, 3])  # [B]
    if cfg.loss == "l2":
      gen_loss = tf.reduce_sum(gen_per_image)
    elif cfg.loss == "gaussian":
      gen_loss = tf.reduce_mean(gen_per_image) / cfg.pixel_sigma**2
    else:
      gen_loss = tf.reduce_mean(gen_per_image)
  else:
    # The paper's eq. 9: cross-entropy of the pixel intensities under Bernoulli(sigma(c_T)).
    xent = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=canvas)  # [B, C, A, A]
    gen_per_image = tf.reduce_sum(xent, [1, 2, 3])  # [B], nats
    gen_loss = tf.reduce_mean(gen_per_image)

  return DrawGraph(
      canvases=_to_images(canvases),
      read_windows=_stack_windows(read_windows),
      write_windows=_stack_windows(write_windows),
      mus=mus,
      log_sigmas=log_sigmas,
      prior_mus=prior_mus,
      prior_log_sigmas=prior_log_sigmas,
      gen_loss_per_image=gen_per_image,
      kl_per_step=kl_per_step,
      latent_loss_per_image=latent_per_image,
      gen_loss=gen_loss,
      latent_loss=latent_loss,
      loss=gen_loss + latent_loss)  # eq. 12: L = L^x + L^z


def build_sampler(num_samples, config, noise=None):
  """Draws `num_samples` images from the prior: z_t = mu_p + sigma_p * noise_t, fresh at every
  step (the standard prior: z_t = noise_t ~ N(0, I)).

  Decoder and write only (the paper's generation, section 2.3); shares the variables of
  build_draw, so build it in the same graph or restore the same checkpoint. `num_samples`
  S is an int or a [] tensor; `noise`, if given, is [T, S, Z]. Returns a SampleGraph.
  """
  draw = _Draw(config)
  a, c = config.image_size, config.channels
  if noise is None:
    noise = tf.random.normal([config.timesteps, num_samples, config.latent_size])
  canvas = tf.zeros([num_samples, c, a, a])
  dec_state = _zeros_state(num_samples, config.hidden_size)
  canvases, windows = [], []
  for t in range(config.timesteps):
    prior_mu, prior_log_sigma = draw.prior(dec_state[1])
    z = prior_mu + tf.exp(prior_log_sigma) * noise[t]  # [S, Z]
    dec_state = draw.decoder(z, dec_state)  # eq. 7 with z_t from the prior
    update, win = draw.write(dec_state[1])
    canvas = canvas + update  # eq. 8
    canvases.append(canvas)
    windows.append(win)
  return SampleGraph(canvases=_to_images(canvases), write_windows=_stack_windows(windows))
