"""DRAW's forward pass and sampler written out plainly in numpy (float64), from the paper's
equations and docs/reference.md's B1-B8, to check the graph against: given the same weights
({variable name: value}) and the same eps, they must give the same numbers."""

import numpy as np
import scipy.stats


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


def linear(weights, scope, x):
  return x @ weights[scope + "/w"] + weights[scope + "/b"]


def lstm(weights, scope, x, c, h):
  """TF1's LSTMCell: gates i, j, f, o of [x, h]; forget bias 1."""
  gates = np.concatenate([x, h], 1) @ weights[scope + "/kernel"] + weights[scope + "/bias"]
  i, j, f, o = np.split(gates, 4, axis=1)
  c = sigmoid(f + 1) * c + sigmoid(i) * np.tanh(j)
  return c, sigmoid(o) * np.tanh(c)


def filterbanks(raw, a, n, compat, sigma_floor=0.0):
  """raw [B, 5] of eq. 21 -> Fx, Fy [B, N, A] and gamma [B] (eq. 19-26; B1, B2, B6-B8).

  sigma_floor (--write_sigma_floor): sigma is raised to sigma_floor * delta where below it."""
  gx_, gy_, log_sigma2, log_delta, log_gamma = raw.T
  if compat == "original":
    centre = (a + 1) // 2  # B8
    delta = (a - 1) / ((n - 1) * np.exp(log_delta))  # B7
    gy_ = gx_  # B1
    offsets = np.array([i - n // 2 - 0.5 for i in range(n)])  # B6
  else:
    centre = (a + 1) / 2
    delta = (a - 1) / (n - 1) * np.exp(log_delta)
    offsets = np.array([i - n / 2 - 0.5 for i in range(1, n + 1)])
  sigma2 = np.maximum(np.exp(log_sigma2), (sigma_floor * delta)**2)
  banks = []
  for g_ in (gx_, gy_):
    mu = centre * (g_ + 1)[:, None] + offsets[None, :] * delta[:, None]  # [B, N]
    d = np.arange(a)[None, None, :] - mu[:, :, None]  # [B, N, A]
    if compat == "original":
      f = np.exp(-(d / (2 * sigma2[:, None, None]))**2)  # B2
    else:
      f = np.exp(-d**2 / (2 * sigma2[:, None, None]))
    banks.append(f / np.maximum(f.sum(2, keepdims=True), 1e-8))
  return banks[0], banks[1], np.exp(log_gamma)


def _glimpse(planes, fx, fy):
  """[B, C, A, A] -> [B, N*N*C]: Fy img Fx^T of each channel, laid out N x N x C."""
  g = np.einsum("bna,bcak,bmk->bnmc", fy, planes, fx)
  return g.reshape(len(planes), -1)


def _read(weights, config, x, x_hat, h_dec):
  if not config.read_attn:
    return np.concatenate([x, x_hat], 1).reshape(len(x), -1)
  fx, fy, gamma = filterbanks(linear(weights, "read/window", h_dec), config.image_size,
                              config.read_n, config.compat)
  return gamma[:, None] * np.concatenate([_glimpse(x, fx, fy), _glimpse(x_hat, fx, fy)], 1)


def _write(weights, config, h_dec):
  """h_dec -> the canvas update [B, C, A, A]."""
  b, c, a, n = len(h_dec), config.channels, config.image_size, config.write_n
  if not config.write_attn:
    return linear(weights, "write/patch", h_dec).reshape(b, c, a, a)
  w = linear(weights, "write/patch", h_dec).reshape(b, n, n, c)
  fx, fy, gamma = filterbanks(linear(weights, "write/window", h_dec), a, n, config.compat,
                              config.write_sigma_floor)
  return np.einsum("bna,bnmc,bmk->bcak", fy, w, fx) / gamma[:, None, None, None]


def _prior(weights, config, h_dec):
  if config.prior == "learned":
    return linear(weights, "prior/mu", h_dec), linear(weights, "prior/log_sigma", h_dec)
  zeros = np.zeros((len(h_dec), config.latent_size))
  return zeros, zeros


def draw(weights, config, images, noise):
  """images [B, A, A, C], noise as model.noise_shape -> {name: value} as the DrawGraph's."""
  weights = {k: np.asarray(v, np.float64) for k, v in weights.items()}
  b, hidden = len(images), config.hidden_size
  x = np.asarray(images, np.float64).transpose(0, 3, 1, 2)  # [B, C, A, A]
  canvas = np.zeros_like(x)
  enc = dec = (np.zeros((b, hidden)), np.zeros((b, hidden)))
  out = {k: [] for k in ("canvases", "mus", "log_sigmas", "prior_mus", "prior_log_sigmas")}
  for t in range(config.timesteps):
    h_dec = dec[1]
    prior_mu, prior_log_sigma = _prior(weights, config, h_dec)
    r = _read(weights, config, x, x - sigmoid(canvas), h_dec)
    enc = lstm(weights, "encoder", np.concatenate([r, h_dec], 1), *enc)
    mu, log_sigma = linear(weights, "mu", enc[1]), linear(weights, "log_sigma", enc[1])
    eps = noise if config.compat == "original" else noise[t]  # B3
    dec = lstm(weights, "decoder", mu + np.exp(log_sigma) * eps, *dec)
    canvas = canvas + _write(weights, config, dec[1])
    for k, v in zip(out, (canvas, mu, log_sigma, prior_mu, prior_log_sigma)):
      out[k].append(v)
  out = {k: np.stack(v) for k, v in out.items()}
  mu, sigma2 = out["mus"], np.exp(2 * out["log_sigmas"])
  mu_p, sigma2_p = out["prior_mus"], np.exp(2 * out["prior_log_sigmas"])
  # KL(N(mu, sigma^2) || N(mu_p, sigma_p^2)) summed over z; B4: T/2 where Z/2 belongs.
  kl = 0.5 * np.sum(np.log(sigma2_p / sigma2) + (sigma2 + (mu - mu_p)**2) / sigma2_p - 1, 2)
  if config.compat == "original":
    kl += (config.latent_size - config.timesteps) / 2
  p = sigmoid(out["canvases"][-1])  # [B, C, A, A]
  if config.loss == "bernoulli":
    gen = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), (1, 2, 3))
    gen_loss = gen.mean()
  else:
    gen = 0.5 * np.sum((x - p)**2, (1, 2, 3))
    gen_loss = {"l2": gen.sum(), "gaussian": gen.mean() / config.pixel_sigma**2,
                "vaegan": gen.mean()}[config.loss]
  out.update(canvases=sigmoid(out["canvases"]).transpose(0, 1, 3, 4, 2), kl_per_step=kl,
             latent_loss_per_image=kl.sum(0), latent_loss=kl.sum(0).mean(),
             gen_loss_per_image=gen, gen_loss=gen_loss, loss=gen_loss + kl.sum(0).mean())
  return out


def sample(weights, config, noise):
  """noise [T, S, Z] -> the canvases [T, S, A, A, C] of the sampler (decoder and write)."""
  weights = {k: np.asarray(v, np.float64) for k, v in weights.items()}
  s, c, a = noise.shape[1], config.channels, config.image_size
  canvas = np.zeros((s, c, a, a))
  dec = (np.zeros((s, config.hidden_size)), np.zeros((s, config.hidden_size)))
  canvases = []
  for t in range(config.timesteps):
    mu_p, log_sigma_p = _prior(weights, config, dec[1])
    dec = lstm(weights, "decoder", mu_p + np.exp(log_sigma_p) * noise[t], *dec)
    canvas = canvas + _write(weights, config, dec[1])
    canvases.append(sigmoid(canvas))
  return np.stack(canvases).transpose(0, 1, 3, 4, 2)


def prior_gaps(mus, log_sigmas, prior_mus, prior_log_sigmas):
  """Per step, KL(N(m, C) || N(0, I)) = -H(N(m, C)) + Z/2 log 2 pi + (tr C + m.m) / 2 for the
  moments m, C of the mixture of the posteriors N(a_i, diag s_i^2) in the prior's units, each
  argument [T, B, Z] as the DrawGraph's."""
  gaps = []
  for t in range(len(mus)):
    a = (mus[t] - prior_mus[t]) / np.exp(prior_log_sigmas[t])  # [B, Z]
    s2 = np.exp(2 * (log_sigmas[t] - prior_log_sigmas[t]))  # [B, Z]
    m = a.mean(axis=0)
    c = np.cov(a, rowvar=False, bias=True) + np.diag(s2.mean(axis=0))  # [Z, Z]
    entropy = scipy.stats.multivariate_normal(m, c).entropy()
    gaps.append(-entropy + 0.5 * len(m) * np.log(2 * np.pi) + 0.5 * (np.trace(c) + m @ m))
  return gaps
