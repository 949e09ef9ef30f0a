"""VAE/GAN as DRAW's loss (--loss=vaegan): Larsen et al. 2015, arXiv 1512.09300.

A discriminator Dis learns to tell the faces x from DRAW's reconstructions x~ = sigma(c_T)
and from its samples x_p (z_t ~ N(0, I) at every step, model.build_sampler), and DRAW's
reconstruction error is measured in Dis's features instead of pixels: faces that differ by
a small shift or blur differ little in features, so the model is not pushed to the blurry
average that minimises the pixel L2. The losses, per image and averaged over the batch
(Dis_l is the output of Dis's l-th convolution, D = sigmoid(Dis's logit)):

  L_prior = sum_t KL(Q(z_t | x) || N(0, I))          DRAW's latent loss (DRAW eq. 11)
  L_llike = 1/2 sum_f (Dis_l(x~) - Dis_l(x))^2        -log N(Dis_l(x) | Dis_l(x~), I), less
                                                      its constant (the paper's Gaussian)
  L_GAN   = -log D(x) - log(1 - D(x~)) - log(1 - D(x_p))   the negative of the paper's L_GAN,
                                                      which Dis maximises

With vaegan_pixel, L_llike also gets the per-image Gaussian pixel likelihood of
model.pixel_sigma, 1/2 sum (x - x~)^2 / sigma^2 (as --loss=gaussian): the encoder then has a
reason to put the face into z from the first step, which features of a discriminator that
is still learning do not give it (a departure from the paper).

L_GAN_dec = -log D(x~) - log D(x_p) is the usual non-saturating form of the decoder's
-L_GAN: the paper's log(1 - D) has almost no gradient while Dis easily rejects the blurry
canvases of early training, -log D has a strong one then, and both push D(x~), D(x_p) up.

This module builds Dis and these losses as tensors, as model.py builds DRAW's; what each of
the three optimisers minimises, their balancing and their steps are objectives.py's
(minimize_vaegan), which fills in the VaeGan's training fields.

With vaegan_augment (a departure), every image Dis sees is first transformed at random by
DiffAugment (Zhao et al. 2020, arXiv 2006.10738; `augment`), differentiably, in its update and
in the decoder's alike: their remedy for a Dis that learns a few thousand faces by heart, as
it sees them only moved, recoloured and partly covered. A face and its reconstruction get the
same transformation, so that L_llike still compares like with like; the samples get their
own. (With balancing, which left Dis all but frozen, it did not stop the samples' collapse
here: README, "A better loss".)

With vaegan_r1 = r > 0 (a departure), Dis's objective also gets r/2 times the R1 penalty
(Mescheder et al. 2018, arXiv 1801.04406, eq. 9): the squared norm of the gradient of Dis's
logit with respect to each face, as Dis sees it (in [0, 1], after DiffAugment if any), batch
mean: meant to keep Dis from winning with a steep wall around the few thousand training
faces. (Here it did not hold Dis back: with r = 1 and 10 the squared gradient stayed at
0.01-0.15 while Dis told 99-100% of both sides apart, since the generated pictures were far
from every face; README, "A better loss".) The gradient includes the faces' share in batch
norm's statistics.

Two more departures aim at what collapsed in every run here, the decoder on the prior's z
(README, "A better loss"). Without vaegan_samples, x_p takes no part in training: Dis sees x
and x~ only, L_GAN and L_GAN_dec lose their x_p terms, and samples are drawn by a decoder that
learnt only to sharpen reconstructions. With vaegan_mbstd, Dis's last convolution's output
(after its ReLU) gets one more channel, ProGAN's minibatch standard deviation: for each of x,
x~ and x_p apart, the standard deviation of each feature over the batch, averaged, so Dis sees
how alike each source's pictures are and a decoder that draws one picture for every z gives
itself away.

With vaegan_noise = s > 0 (a departure), every image Dis sees (after DiffAugment, if any) gets
instance noise (Sonderby et al. 2016, arXiv 1610.04490, sec. 3.2; Arjovsky and Bottou 2017,
arXiv 1701.04862, sec. 3.1): Gaussian noise of standard deviation s per pixel value, falling
linearly to 0 over vaegan_noise_steps (noise_scale), a face and its reconstruction the same
draws, the samples their own. Under the noise, the faces and the generated pictures
overlap, so Dis cannot tell every one apart and the decoder gets a gradient towards the faces
from wherever it is; as the noise fades, the two must have come close. (Here it did not hold
Dis back: with s = 0.1 and 0.5 it told 95-100% of both sides apart from step 100 on, since the
noise averages out over its receptive fields and the blur it detects does not; README, "A
better loss".)

With vaegan_spectral (a departure), Dis is normalised as SN-GAN's (Miyato et al. 2018, arXiv
1802.05957): every weight divided by its largest singular value (_spectral_norm), so no layer
stretches the distance between two inputs (nor does ReLU), and Dis's logit changes at most
as fast as the picture; batch norm, which would undo that bound, gives way to biases. A Dis that
cannot grow steeper around the faces than the decoder can follow is the usual remedy for
the gradients that vanish or point all samples at one picture. (Here it did not hold Dis
back: updated at every step, it still told 99-100% of the generated pictures apart, and by
step 1,000 most samples were one picture; README, "A better loss".)

With vaegan_fit_samples (a departure), the samples x_p draw their z_t as the sampler does,
z_t = mu_p + sigma_p eps_t, but eps_t comes from a Gaussian fitted to the batch's own
posteriors rather than from N(0, I) (fitted_noise): the mean and full covariance, per step,
of the posteriors N(a, diag s^2) in the prior's units, a = (mu - mu_p) / sigma_p and
s = sigma / sigma_p, as evaluate.PosteriorMoments fits them to 1,000 faces for
--sample_from=posteriors. The collapse here came where the prior draws z that no posterior
reaches and Dis alone trains the decoder (README, "Where the samples collapse"); this way
Dis trains it where the faces' z are, and the pictures are drawn from there with
--sample_from=posteriors. No gradient goes through the fit. (Here the prior's samples no
longer collapsed by step 2,000, but Dis's dots moved into the faces drawn from the
posteriors; README, "A better loss".)

Dis is the paper's for 64x64 faces (and the authors' code, architectures.img64x64), scaled
by W = vaegan_channels (32 gives the paper's): 5x5 convolutions of W channels (stride 1,
bias, ReLU), then 4W, 8W, 8W (stride 2, batch norm, ReLU), a dense layer of 16W (batch
norm, ReLU) and one logit. Images go in scaled to [-1, 1], as in the authors' code; any
size divisible by 8 works. Batch norm always uses the statistics of the batch it is given,
x, x~ and x_p (if any) together (the authors' code concatenates them too); there are no moving
averages, since Dis only serves training: evaluation and pictures never build it.
"""

import collections

import tensorflow as tf

from draw_color import model

tf1 = tf.compat.v1

DISCRIMINATOR_SCOPE = "discriminator"
LAYERS = 4  # Dis's convolutions; vaegan_layer picks the one compared.
# DiffAugment's policies, in the order they are applied (its own order).
AUGMENTATIONS = ("color", "translation", "cutout")
# Uniform draws in [0, 1) per image that augment uses: brightness, saturation, contrast, the
# shift's rows and columns, the cutout's centre row and column.
AUGMENT_DRAWS = 7
_SHIFT_RATIO = 0.125  # DiffAugment's: shifts of up to an eighth of the side
_CUTOUT_RATIO = 0.5  # and a square hole of half the side

_INIT = tf1.random_normal_initializer(stddev=0.02)  # DCGAN's, as DRAW's linear layers
_BN_EPSILON = 1e-5

VaeGan = collections.namedtuple(
    "VaeGan",
    [
        # Built here (build): Dis and the losses as tensors.
        "features",  # [3B, h, w, c] Dis_l of x, x~ and x_p, in that order along the batch
        #              ([2B], of x and x~, without vaegan_samples).
        "logits",  # [3B] Dis's logits of x, x~ and x_p; D = sigmoid(logits) ([2B] likewise).
        "samples",  # [B, A, A, C] x_p = sigma(c_T) of samples from the prior; None without
        #             vaegan_samples.
        "feature_loss",  # [] 1/2 sum_f (Dis_l(x~) - Dis_l(x))^2, batch mean.
        "llike",  # [] L_llike: feature_loss (with vaegan_pixel, plus the pixel term).
        "gan_loss",  # [] L_GAN_dec, the decoder's GAN term, batch mean.
        "discriminator_loss",  # [] L_GAN, batch mean.
        "gradient_penalty",  # [] R1: mean over faces of |d logit(x) / dx|^2; 0 without vaegan_r1.
        "real_cost",  # [] mean -log D(x), what balancing weighs.
        "fake_cost",  # [] mean -log(1 - D) over x~ and x_p (x~ alone without vaegan_samples).
        "real_accuracy",  # [] fraction of x that Dis calls real (D > 1/2).
        "fake_accuracy",  # [] fraction of x~ and x_p that Dis calls generated.
        # Filled in by objectives.minimize_vaegan; None until then.
        "encoder_loss",  # [] kl_weight * L_prior + L_llike.
        "decoder_loss",  # [] gamma * L_llike + L_GAN_dec.
        "discriminator_objective",  # [] L_GAN + vaegan_r1 / 2 * gradient_penalty.
        "discriminator_updated",  # [] 1.0 when this step updates Dis (balancing), else 0.0.
        "decoder_updated",  # [] 1.0 when this step updates the decoder, else 0.0.
        "encoder_op",  # The encoder's step alone (and the prior's, vaegan_prior_rate).
        "decoder_op",  # The decoder's step alone (skipped when balancing says so).
        "discriminator_op",  # The discriminator's step alone (likewise).
        "train_op",  # The three steps (four with vaegan_prior_rate), then the global step + 1.
    ],
    defaults=(None,) * 9)


def _conv(x, channels, stride, scope, bias, spectral):
  """5x5 convolution, SAME padding: x [N, H, W, I] -> [N, H/stride, W/stride, channels];
  with `spectral`, of the kernel over its spectral norm."""
  with tf1.variable_scope(scope):
    w = tf1.get_variable("w", [5, 5, x.shape[-1], channels], initializer=_INIT)
    y = tf.nn.conv2d(x, _spectral_norm(w) if spectral else w, stride, "SAME")
    if bias:
      y += tf1.get_variable("b", [channels], initializer=tf1.zeros_initializer())
  return y


def _dense(x, units, scope, bias, spectral):
  """x [N, I] -> [N, units]; with `spectral`, by the weights over their spectral norm."""
  with tf1.variable_scope(scope):
    w = tf1.get_variable("w", [x.shape[-1], units], initializer=_INIT)
    y = tf.matmul(x, _spectral_norm(w) if spectral else w)
    if bias:
      y += tf1.get_variable("b", [units], initializer=tf1.zeros_initializer())
  return y


def _spectral_norm(w):
  """w [..., O] / sigma, sigma the largest singular value of w as a [prod(...), O] matrix W,
  by one step of power iteration per session run from the last run's estimate of W's
  leading right singular vector, on its output side (SN-GAN's Algorithm 1): u, in the
  caller's variable scope, not trained, saved with the checkpoints. The iteration's vectors
  take no gradient, as in SN-GAN; after a few hundred steps sigma is W's, since W changes
  slowly."""
  matrix = tf.reshape(w, [-1, w.shape[-1]])  # [I, O]: a kernel's K*K*I inputs by O outputs
  u = tf1.get_variable("u", [1, w.shape[-1]], initializer=tf1.random_normal_initializer(),
                       trainable=False)  # [1, O]
  v = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(u, matrix, transpose_b=True)))  # [1, I]
  # The stop here changes no gradient (sigma is |v^T W| with or without it); it spares the
  # backward pass the normalisation's.
  u_next = tf.stop_gradient(tf.math.l2_normalize(tf.matmul(v, matrix)))  # [1, O]
  sigma = tf.matmul(tf.matmul(v, matrix), u_next, transpose_b=True)[0, 0]  # [] v^T W u
  with tf.control_dependencies([u.assign(u_next)]):
    return w / sigma


def _batch_norm(x, scope):
  """x [N, ..., C] normalised by its batch's mean and variance per channel; learned scale
  and offset. A bias before it would cancel, so the layers it follows have none."""
  channels = x.shape[-1]
  with tf1.variable_scope(scope):
    scale = tf1.get_variable("scale", [channels], initializer=tf1.ones_initializer())
    offset = tf1.get_variable("offset", [channels], initializer=tf1.zeros_initializer())
  mean, variance = tf.nn.moments(x, list(range(x.shape.rank - 1)))  # each [C]
  return tf.nn.batch_normalization(x, mean, variance, offset, scale, _BN_EPSILON)


def discriminator(images, config, sources=1):
  """Dis on `images` [N, A, A, C] in [0, 1] -> (features, logits [N]).

  features: the LAYERS convolutions' outputs before their batch norm and ReLU, the paper's
  Dis_l: [N, A, A, W], [N, A/2, A/2, 4W], [N, A/4, A/4, 8W], [N, A/8, A/8, 8W].
  With config.vaegan_spectral, every weight is over its spectral norm, and biases take the
  batch norms' place; running the logits then steps each layer's power iteration.
  sources: how many equal parts of the batch come from different sources (faces,
  reconstructions, samples); with config.vaegan_mbstd each part gets its own spread.
  """
  a, w, spectral = config.image_size, config.vaegan_channels, config.vaegan_spectral
  if a % 8:
    raise ValueError("the discriminator halves the image 3 times: image_size %d is not "
                     "divisible by 8" % a)
  features = []
  with tf1.variable_scope(DISCRIMINATOR_SCOPE, reuse=tf1.AUTO_REUSE):
    h = 2.0 * images - 1.0  # [N, A, A, C] in [-1, 1], as the authors' code feeds images
    for i, (channels, stride) in enumerate(((w, 1), (4 * w, 2), (8 * w, 2), (8 * w, 2))):
      name = "conv%d" % (i + 1)
      # The first convolution works on the raw image: no batch norm, as the paper's; none at
      # all with spectral norms, so every layer has a bias.
      plain = i == 0 or spectral
      conv = _conv(h, channels, stride, name, bias=plain, spectral=spectral)
      features.append(conv)
      h = tf.nn.relu(conv if plain else _batch_norm(conv, name + "/bn"))
    if config.vaegan_mbstd:
      h = tf.concat([h, _minibatch_spread(h, sources)], 3)  # [N, A/8, A/8, 8W + 1]
    h = tf.reshape(h, [-1, (a // 8)**2 * h.shape[3]])  # [N, A/8 * A/8 * (8W or 8W + 1)]
    h = _dense(h, 16 * w, "dense", bias=spectral, spectral=spectral)  # [N, 16W]
    h = tf.nn.relu(h if spectral else _batch_norm(h, "dense/bn"))
    logits = _dense(h, 1, "logit", bias=True, spectral=spectral)[:, 0]  # [N]
  return features, logits


def _minibatch_spread(h, sources):
  """ProGAN's minibatch standard deviation (Karras et al. 2018, arXiv 1710.10196, sec. 3) of
  h [N, H, W, F] made of `sources` equal parts -> [N, H, W, 1]: within each part, each
  feature's standard deviation over its images, averaged over features and positions, one
  number per part, as a constant map for each of its images. A decoder whose samples are all
  alike gives its part a small number, which Dis can learn to reject; to fool it the samples
  must spread as the faces do."""
  parts = tf.reshape(h, tf.concat([[sources, -1], tf.shape(h)[1:]], 0))  # [S, N/S, H, W, F]
  _, variance = tf.nn.moments(parts, [1], keepdims=True)  # [S, 1, H, W, F]
  spread = tf.reduce_mean(tf.sqrt(variance + 1e-8), [2, 3, 4], keepdims=True)  # [S, 1, 1, 1, 1]
  return tf.reshape(spread * tf.ones_like(parts[..., :1]),
                    tf.concat([tf.shape(h)[:3], [1]], 0))  # [N, H, W, 1]


def augment(images, policies, uniforms):
  """DiffAugment of `images` [N, A, A, C] in [0, 1] -> [N, A, A, C], differentiable in images.

  policies: names from AUGMENTATIONS, applied in that order; uniforms [N, AUGMENT_DRAWS] in
  [0, 1), image n's draws. DiffAugment works on images in [-1, 1], where its shifts and holes
  fill with 0; here the same maths runs on images - 1/2 (its scale halved), so they fill with
  grey and its brightness range of +-1/2 becomes +-1/4. Per image:
    color:       brightness + (u0 - 1/2) / 2; saturation: each pixel's distance from its mean
                 over channels times 2 u1; contrast: the distance from the image's mean
                 times u2 + 1/2;
    translation: the image moved by (floor(17 u3) - 8, floor(17 u4) - 8) pixels for A = 64
                 (up to A/8 each way), grey where it moved from beyond the border;
    cutout:      a grey square of side A/2 centred at (floor(65 u5), floor(65 u6)) for A = 64,
                 clipped by the border.
  """
  a = images.shape[1]
  y = images - 0.5  # [N, A, A, C]
  u = [uniforms[:, i, None, None, None] for i in range(AUGMENT_DRAWS)]  # each [N, 1, 1, 1]
  if "color" in policies:
    y += (u[0] - 0.5) / 2
    mean = tf.reduce_mean(y, 3, keepdims=True)  # [N, A, A, 1]
    y = (y - mean) * (2 * u[1]) + mean
    mean = tf.reduce_mean(y, [1, 2, 3], keepdims=True)  # [N, 1, 1, 1]
    y = (y - mean) * (u[2] + 0.5) + mean
  pixels = tf.range(a)  # [A]
  if "translation" in policies:
    shift = int(a * _SHIFT_RATIO + 0.5)
    moves = tf.cast(tf.floor(uniforms[:, 3:5] * (2 * shift + 1)), tf.int32) - shift  # [N, 2]
    # Row i of the result is row i + move of the image: one-hot [N, A, A] matrices, whose rows
    # are zero where i + move is beyond the border (tf.one_hot of an index out of range).
    rows = tf.one_hot(pixels[None] + moves[:, :1], a)  # [N, A (result), A (image)]
    cols = tf.one_hot(pixels[None] + moves[:, 1:], a)  # [N, A, A]
    y = tf.einsum("nik,nkjc->nijc", rows, y)  # [N, A, A, C]
    y = tf.einsum("njk,nikc->nijc", cols, y)  # [N, A, A, C]
  if "cutout" in policies:
    size = int(a * _CUTOUT_RATIO + 0.5)
    low = (tf.cast(tf.floor(uniforms[:, 5:7] * (a + 1 - size % 2)), tf.int32)
           - size // 2)  # [N, 2] the hole's first row and column
    inside = tf.logical_and(pixels[None, None] >= low[:, :, None],
                            pixels[None, None] < low[:, :, None] + size)  # [N, 2, A]
    inside = tf.cast(inside, tf.float32)
    hole = inside[:, 0, :, None] * inside[:, 1, None, :]  # [N, A, A]
    y *= (1.0 - hole)[..., None]
  return y + 0.5


def noise_scale(config, step):
  """The instance noise's standard deviation at global `step` (a [] int64 tensor): []
  float32, vaegan_noise * max(0, 1 - step / vaegan_noise_steps), or vaegan_noise throughout
  where vaegan_noise_steps is 0."""
  if not config.vaegan_noise_steps:
    return tf.constant(config.vaegan_noise, tf.float32)
  left = 1.0 - tf.cast(step, tf.float32) / float(config.vaegan_noise_steps)
  return config.vaegan_noise * tf.maximum(left, 0.0)


def _per_picture(draws, sources):
  """[2B, ...] draws -> [SB, ...], one for each picture Dis sees (S `sources`): the first B
  for the faces and again for their reconstructions, so that a face and its reconstruction
  get the same draws; the other B for the samples, if any."""
  batch = tf.shape(draws)[0] // 2
  return tf.concat([draws[:batch], draws], 0)[:sources * batch]


def fitted_noise(draw, noise):
  """eps_t = m_t + L_t u_t for u = `noise` [T, B, Z]: m_t [Z] and L_t [Z, Z] (lower triangular,
  L_t L_t^T = C_t) the mean and covariance of the mixture of the batch's posteriors of z_t in
  the prior's units, from `draw`, the batch's model.DrawGraph; [T, B, Z], no gradient.

  Each posterior is N(a, diag s^2), a = (mu - mu_p) / sigma_p and s = sigma / sigma_p; the
  mixture of the B has m_t = E[a] and C_t = Cov(a) + E[diag s^2] (E, Cov over the batch,
  population moments): positive definite, as every s is.
  """
  scale = tf.exp(draw.prior_log_sigmas)  # [T, B, Z]
  a = (draw.mus - draw.prior_mus) / scale  # [T, B, Z]
  mean = tf.reduce_mean(a, 1, keepdims=True)  # [T, 1, Z]
  centred = a - mean  # [T, B, Z]
  batch = tf.cast(tf.shape(a)[1], a.dtype)
  covariance = (tf.matmul(centred, centred, transpose_a=True) / batch  # [T, Z, Z]
                + tf.linalg.diag(tf.reduce_mean(tf.square(tf.exp(draw.log_sigmas) / scale), 1)))
  factor = tf.linalg.cholesky(covariance)  # [T, Z, Z]
  return tf.stop_gradient(mean + tf.einsum("tbz,tyz->tby", noise, factor))  # [T, B, Z]


def build(images, draw, config, prior_noise, augment_noise=None, instance_noise=None):
  """Dis and the VAE/GAN losses for `draw`, the model.DrawGraph of `images`; a VaeGan whose
  training fields are None (objectives.minimize_vaegan fills them).

  images [B, A, A, C] in [0, 1]; prior_noise [T, B, Z] the z_t of the samples x_p (None
  without config.vaegan_samples; with vaegan_fit_samples, the u of fitted_noise);
  augment_noise [2B, AUGMENT_DRAWS] uniforms in [0, 1), needed with config.vaegan_augment:
  the first B for each face and its reconstruction, the rest for the samples (if any);
  instance_noise [2B, A, A, C], needed with config.vaegan_noise: what is added to them, as
  scaled by noise_scale, likewise shared.
  """
  cfg = config
  if not 1 <= cfg.vaegan_layer <= LAYERS:
    raise ValueError("vaegan_layer must be 1 to %d, not %d" % (LAYERS, cfg.vaegan_layer))
  recon = draw.canvases[-1]  # [B, A, A, C] x~
  seen = [images, recon]
  samples = None
  if cfg.vaegan_samples:
    if cfg.vaegan_fit_samples:
      prior_noise = fitted_noise(draw, prior_noise)  # [T, B, Z]
    samples = model.build_sampler(tf.shape(images)[0], cfg,
                                  noise=prior_noise).canvases[-1]  # [B, A, A, C] x_p
    seen.append(samples)
  sources = len(seen)
  seen = tf.concat(seen, 0)  # [SB, A, A, C], S = 3 (x, x~, x_p) or 2 (x, x~)
  if cfg.vaegan_augment:
    seen = augment(seen, cfg.vaegan_augment.split(","),
                   _per_picture(augment_noise, sources))  # [SB, A, A, C]
  if cfg.vaegan_noise:
    seen += _per_picture(instance_noise, sources)  # [SB, A, A, C]
  # One pass over them all, so that batch norm normalises them together.
  features, logits = discriminator(seen, cfg, sources)
  chosen = features[cfg.vaegan_layer - 1]  # [SB, h, w, c]
  f_real, f_recon = tf.split(chosen, sources)[:2]  # each [B, h, w, c]
  l_real, *fake_logits = tf.split(logits, sources)  # each [B]

  # L_llike. Through batch norm's statistics Dis_l(x) depends on x~ (and x_p) too, as in the
  # authors' code, so the gradient reaches the decoder through both sides.
  feature_loss = tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(f_recon - f_real), [1, 2, 3]))
  llike = feature_loss
  if cfg.vaegan_pixel:
    llike += tf.reduce_mean(draw.gen_loss_per_image) / cfg.pixel_sigma**2
  # L_GAN and L_GAN_dec from the logits, stably: softplus(-l) = -log D, softplus(l) = -log(1 - D).
  discriminator_loss = tf.reduce_mean(tf.nn.softplus(-l_real)) + tf.add_n(
      [tf.reduce_mean(tf.nn.softplus(l)) for l in fake_logits])
  gan_loss = tf.add_n([tf.reduce_mean(tf.nn.softplus(-l)) for l in fake_logits])
  gradient_penalty = tf.constant(0.0)
  if cfg.vaegan_r1:
    # The faces' rows of d(sum of their logits)/d(what Dis saw): each logit's gradient for its
    # own face, plus its share in the other faces' logits through batch norm's statistics.
    grad = tf1.gradients(tf.reduce_sum(l_real), seen)[0][:tf.shape(images)[0]]  # [B, A, A, C]
    gradient_penalty = tf.reduce_mean(tf.reduce_sum(tf.square(grad), [1, 2, 3]))
  fake = tf.concat(fake_logits, 0)  # [(S - 1) B]
  return VaeGan(
      features=chosen,
      logits=logits,
      samples=samples,
      feature_loss=feature_loss,
      llike=llike,
      gan_loss=gan_loss,
      discriminator_loss=discriminator_loss,
      gradient_penalty=gradient_penalty,
      real_cost=tf.reduce_mean(tf.nn.softplus(-l_real)),
      fake_cost=tf.reduce_mean(tf.nn.softplus(fake)),
      real_accuracy=tf.reduce_mean(tf.cast(l_real > 0, tf.float32)),
      fake_accuracy=tf.reduce_mean(tf.cast(fake < 0, tf.float32)))
