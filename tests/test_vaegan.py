"""--loss=vaegan on 16x16 generated faces: the discriminator, the three optimisers, the
losses against numpy, training, exact resume, eval, pictures and the CLI; the sharpness
measure of evaluate against numpy."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from draw_color import evaluate
from draw_color import gif
from draw_color import model
from draw_color import objectives
from draw_color import runs
from draw_color import train
from draw_color import vaegan
from fakes import checkpoint_weights as weights
from fakes import make_celeba
from fakes import refusal
from fakes import run_config
from fakes import run_main

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=16, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3, loss="vaegan", vaegan_gamma=0.5, vaegan_layer=3,
                         vaegan_channels=2)
SCOPES = {"encoder_op": objectives.ENCODER_SCOPES, "decoder_op": objectives.DECODER_SCOPES,
          "discriminator_op": (vaegan.DISCRIMINATOR_SCOPE,)}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return make_celeba(tmp_path_factory.mktemp("celeba"), 10)


def faces(batch=4, seed=0):
  return np.random.default_rng(seed).random((batch, 16, 16, 3), dtype=np.float32)


def config(data_dir, logdir, **overrides):
  return run_config(data_dir, logdir, **{"model": TINY, "image_every": 100, **overrides})


def top_scope(variable):
  return variable.op.name.split("/")[0]


def test_discriminator_lives_in_its_own_scope_beside_an_unchanged_draw():
  with tf.Graph().as_default():
    runs.build_graph(TINY, 0, training=False)
    draw_only = {v.op.name for v in tf1.global_variables()}
  with tf.Graph().as_default():
    graph = runs.build_graph(TINY, 0)
    trainable = {v.op.name for v in tf1.trainable_variables()}
  added = trainable - draw_only
  assert added and all(name.startswith("discriminator/") for name in added)
  assert not any(name.startswith("discriminator") for name in draw_only)
  assert graph.draw.train_op is graph.vaegan.train_op
  with tf.Graph().as_default():
    assert runs.build_graph(TINY._replace(loss="l2"), 0).vaegan is None


def test_discriminator_shapes_for_any_size_divisible_by_8():
  with tf.Graph().as_default():
    features, logits = vaegan.discriminator(tf.constant(faces(5)), TINY)
    assert [f.shape.as_list() for f in features] == [[5, 16, 16, 2], [5, 8, 8, 8],
                                                      [5, 4, 4, 16], [5, 2, 2, 16]]
    assert logits.shape.as_list() == [5]
  with tf.Graph().as_default(), pytest.raises(ValueError, match="not divisible by 8"):
    vaegan.discriminator(tf.zeros([1, 12, 12, 3]), TINY._replace(image_size=12))


def test_each_optimiser_updates_exactly_its_own_variables_and_train_op_all():
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(TINY, 0)
    variables = tf1.trainable_variables()
    init = tf1.global_variables_initializer()
    with tf1.Session() as sess:
      for op, scopes in sorted(SCOPES.items()):
        sess.run(init)
        before = sess.run(variables)
        sess.run(getattr(graph.vaegan, op), {graph.images: faces()})
        after = sess.run(variables)
        assert sess.run(graph.draw.global_step) == 0  # only train_op steps it
        for v, x, y in zip(variables, before, after):
          assert (not np.array_equal(x, y)) == (top_scope(v) in scopes), (op, v.op.name)
      sess.run(init)
      before = sess.run(variables)
      sess.run(graph.draw.train_op, {graph.images: faces()})
      after = sess.run(variables)
      assert sess.run(graph.draw.global_step) == 1
  assert all(not np.array_equal(x, y) for x, y in zip(before, after))


def test_prior_rate_gives_the_learned_prior_its_own_optimiser_at_that_multiple():
  """--vaegan_prior_rate=10: Adam's first step moves a variable by its learning rate (times
  g / (|g| + eps), bias-corrected, so at most the rate and nearly it for a large gradient): the
  prior's by 10 times the encoder's, in the encoder's step, which updates nothing else."""
  config = TINY._replace(prior="learned", vaegan_prior_rate=10.0, learning_rate=1e-3)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(config, 0)
    variables = tf1.trainable_variables()
    slots = {v.op.name for v in tf1.global_variables()}
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      before = sess.run(variables)
      sess.run(graph.vaegan.encoder_op, {graph.images: faces()})
      after = sess.run(variables)
  assert "prior/mu/w/Adam_prior" in slots and "prior/mu/w/Adam_encoder" not in slots
  # Each optimiser's slots carry its name, which checkpoints of earlier runs hold.
  assert {"write/patch/w/Adam_decoder", "discriminator/conv1/w/Adam_discriminator"} <= slots
  assert any(name.startswith("encoder/") and name.endswith("/Adam_encoder") for name in slots)
  steps = {"prior": [], "encoder": [], "others": []}
  for v, x, y in zip(variables, before, after):
    scope = top_scope(v)
    group = scope if scope == "prior" else (
        "encoder" if scope in objectives.ENCODER_SCOPES else "others")
    steps[group].append(np.abs(y - x).max())
  for group, rate in (("prior", 1e-2), ("encoder", 1e-3)):
    assert rate * 0.99 <= max(steps[group]) <= rate * 1.0001, group
  assert max(steps["others"]) == 0


@pytest.mark.parametrize("pixel", [False, True])
def test_losses_and_accuracies_match_numpy(pixel):
  config = TINY._replace(vaegan_pixel=pixel, pixel_sigma=0.5)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(config, 0)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      out = sess.run({"v": graph.vaegan, "latent": graph.draw.latent_loss,
                      "recon": graph.final_canvas}, {graph.images: faces()})
  v, b = out["v"], 4
  assert v.features.shape == (3 * b, 4, 4, 16) and v.samples.shape == (b, 16, 16, 3)
  f = v.features.astype(np.float64)
  feature = np.mean(0.5 * np.sum((f[b:2 * b] - f[:b])**2, axis=(1, 2, 3)))
  d = 1 / (1 + np.exp(-v.logits.astype(np.float64)))  # [3B] D of x, x~, x_p
  real, recon, prior = d[:b], d[b:2 * b], d[2 * b:]
  d_loss = -np.log(real).mean() - np.log(1 - recon).mean() - np.log(1 - prior).mean()
  gan = -np.log(recon).mean() - np.log(prior).mean()
  assert v.feature_loss == pytest.approx(feature, rel=1e-4)
  assert v.discriminator_loss == pytest.approx(d_loss, rel=1e-4)
  assert v.gradient_penalty == 0 and v.discriminator_objective == v.discriminator_loss
  assert v.gan_loss == pytest.approx(gan, rel=1e-4)
  llike = feature
  if pixel:  # 1/2 sum of squares over sigma^2 = 0.25, per image, batch mean
    llike += np.mean(0.5 * np.sum((out["recon"] - faces())**2, axis=(1, 2, 3))) / 0.25
  assert v.encoder_loss == pytest.approx(out["latent"] + llike, rel=1e-4)
  assert v.decoder_loss == pytest.approx(TINY.vaegan_gamma * llike + gan, rel=1e-4)
  assert v.real_accuracy == np.mean(real > 0.5)
  assert v.fake_accuracy == np.mean(np.concatenate([recon, prior]) < 0.5)


def test_a_logit_of_exactly_zero_is_no_win_for_the_discriminator():
  """D = 1/2, a Dis that tells nothing (its logit layer zero, as a dead one's output is its
  zero-initialised bias): neither a face nor a generated picture counts as told apart, so
  both accuracies are 0, and the collapse warning says it took the generated faces for real,
  not that it told them apart."""
  with tf.Graph().as_default():
    graph = runs.build_graph(TINY, 0)
    logit = [v for v in tf1.trainable_variables() if v.op.name.startswith("discriminator/logit/")]
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      for v in logit:
        v.load(np.zeros(v.shape.as_list(), np.float32), sess)
      got = sess.run(graph.vaegan, {graph.images: faces()})
  assert len(logit) == 2 and not got.logits.any()
  assert got.real_accuracy == got.fake_accuracy == 0


@pytest.mark.parametrize("real,fake,dis,dec", [
    (0.7, 0.7, True, True),  # balanced: both learn
    (0.2, 0.7, False, True),  # Dis far ahead on the real faces: it waits
    (0.7, 0.3, False, True),  # ... or on the generated ones
    (1.1, 0.7, True, False),  # the decoder far behind: it waits
    (0.7, 1.2, True, False),
    (0.2, 1.2, True, True),  # both would wait: both learn
    (1.5, 0.1, True, True),
])
def test_balancing_rule_decisions(real, fake, dis, dec):
  with tf.Graph().as_default():
    decision = objectives.balance(tf.constant(real), tf.constant(fake))
    with tf1.Session() as sess:
      assert tuple(sess.run(decision)) == (dis, dec)


@pytest.mark.parametrize("equilibrium,dis,dec", [(5.0, False, True), (-5.0, True, False),
                                                 (0.68, True, True)])
def test_balanced_rmsprop_step_updates_what_the_rule_says(monkeypatch, equilibrium, dis, dec):
  # At initialisation both costs are near log 2 = 0.69: an equilibrium of 5 puts the
  # discriminator far ahead, one of -5 the decoder far behind.
  monkeypatch.setattr(objectives, "EQUILIBRIUM", equilibrium)
  config = TINY._replace(vaegan_balance=True, vaegan_optimizer="rmsprop")
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(config, 0)
    variables = tf1.trainable_variables()
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      before = sess.run(variables)
      _, updated = sess.run([graph.draw.train_op, (graph.vaegan.discriminator_updated,
                                                   graph.vaegan.decoder_updated)],
                            {graph.images: faces()})
      after = sess.run(variables)
    names = {v.op.name for v in tf1.global_variables()}
  assert updated == (float(dis), float(dec))
  expected = {"discriminator": dis, "decoder": dec, "write": dec, "encoder": True}
  for v, x, y in zip(variables, before, after):
    if top_scope(v) in expected:
      assert (not np.array_equal(x, y)) == expected[top_scope(v)], v.op.name
  assert "discriminator/conv1/w/RMSProp_discriminator" in names


@pytest.mark.parametrize("augment", ["", "color,translation,cutout"])
def test_training_checkpoints_the_discriminator_and_resumes_exactly(data_dir, tmp_path,
                                                                    augment):
  # 4 steps cross the epoch boundary after step 3; the augmentation's draws, like the noise,
  # depend on the step alone.
  tiny = TINY._replace(vaegan_augment=augment)
  train.train(config(data_dir, tmp_path / "straight", max_steps=4, model=tiny))
  train.train(config(data_dir, tmp_path / "resumed", max_steps=2, model=tiny))
  assert train.train(config(data_dir, tmp_path / "resumed", max_steps=4, model=tiny)) == 4
  straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
  assert {"discriminator/conv1/w", "discriminator/conv4/bn/scale",
          "discriminator/conv1/w/Adam_discriminator",
          "discriminator/logit/b/Adam_discriminator_1", "Adam_discriminator/beta1_power",
          "decoder/kernel/Adam_decoder", "encoder/kernel/Adam_encoder"} <= set(straight)
  assert resumed["global_step"] == 4
  for name in straight:
    np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-5, atol=1e-6,
                               err_msg=name)
  tags = set()
  logdir = tmp_path / "straight"
  for events in (f for f in os.listdir(logdir) if f.startswith("events")):
    for e in tf1.train.summary_iterator(str(logdir / events)):
      tags.update(v.tag for v in e.summary.value)
  assert set(train.VAEGAN_SCALARS) | {"loss/generation_per_image"} <= tags


def test_eval_reports_the_pixel_terms_and_gif_draws_without_the_discriminator(data_dir,
                                                                               tmp_path):
  train.train(config(data_dir, tmp_path, max_steps=2))
  results = evaluate.run(evaluate.EvalConfig(
      logdir=str(tmp_path), data_dir=None, split="all", crop_size=None, cache_dir=None,
      batch_size=64, seed=3, progress_secs=0.0, device="cpu"))
  assert results["loss"] == "vaegan" and results["images"] == 10
  assert results["generation"] == pytest.approx(0.5 * results["mse"] * 16 * 16 * 3, rel=1e-4)
  assert results["sharpness"] > 0
  table = evaluate.table(results)
  assert "pixel L2 term per image" in table and "not what VAE/GAN optimised" in table
  assert "sharpness" in table
  paths = gif.make_gifs(gif.GifConfig(
      logdir=str(tmp_path), output_dir=None, data_dir=None, crop_size=None, num_samples=4,
      seed=0, gif_scale=1, device="cpu"))
  assert {"originals.png", "reconstruction.gif", "samples.png"} <= {
      os.path.basename(p) for p in paths}


def test_runs_from_before_vaegan_still_load_and_resume(data_dir, tmp_path):
  l2 = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3)
  train.train(config(data_dir, tmp_path, model=l2, max_steps=1))
  path = tmp_path / runs.HPARAMS
  with open(path) as f:
    hparams = json.load(f)
  for field in ("vaegan_gamma", "vaegan_layer", "vaegan_channels"):
    del hparams["model"][field]
  path.write_text(json.dumps(hparams))
  assert runs.latest_run(str(tmp_path))[1] == l2
  assert train.train(config(data_dir, tmp_path, model=l2, max_steps=2)) == 2


def test_collapse_warns_once_a_spell_judged_over_200_steps(monkeypatch):
  warnings = []
  monkeypatch.setattr(train.logging, "warning", lambda fmt, *args: warnings.append(fmt % args))
  collapse = train._Collapse()
  n = train.COLLAPSE_STEPS
  for step in range(1, n):
    collapse.update(step, 1.0, 1.0 if step % 50 else 0.5)  # a rare miss is still a win
  assert not warnings  # fewer than 200 steps
  for step in range(n, 2 * n):
    collapse.update(step, 1.0, 1.0)
  assert len(warnings) == 1
  assert "step 200" in warnings[0] and "told the real and generated faces apart" in warnings[0]
  for step in range(2 * n, 3 * n):  # the discriminator recovers
    collapse.update(step, 0.7, 0.5)
  for step in range(3 * n, 4 * n):
    collapse.update(step, 0.6 if step % 2 else 1.0, 0.0)
  assert len(warnings) == 2 and "took the generated faces for real" in warnings[1]
  for step in range(4 * n, 6 * n):  # a discriminator right half the time has not collapsed
    collapse.update(step, 1.0, 1.0 if step % 2 else 0.0)
  assert len(warnings) == 2


def test_gradient_magnitude_and_sharpness_against_numpy():
  image = np.zeros((1, 2, 2, 1))
  image[0, :, :, 0] = [[0.0, 1.0], [1.0, 1.0]]  # one pixel with dx = dy = 1
  np.testing.assert_allclose(evaluate.gradient_magnitude(image), [np.sqrt(2)])
  ramp = np.broadcast_to(0.1 * np.arange(6)[None, None, :, None], (2, 5, 6, 3))
  np.testing.assert_allclose(evaluate.gradient_magnitude(ramp), [0.1, 0.1])
  assert evaluate.gradient_magnitude(np.full((1, 4, 4, 3), 0.5)) == [0.0]
  sharp = np.random.default_rng(0).random((3, 16, 16, 3))
  blurred = (sharp + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2) + np.roll(sharp, 1, (1, 2))) / 4
  assert np.all(evaluate.gradient_magnitude(blurred) < evaluate.gradient_magnitude(sharp))


def run_tiny_cli(data_dir, tmp_path, *flags):
  """The CLI training TINY's VAE/GAN on the 16x16 faces into tmp_path, with `flags` added."""
  return run_main(*tiny_cli_flags(data_dir, tmp_path, *flags))


def tiny_cli_flags(data_dir, tmp_path, *flags):
  """run_tiny_cli's flags."""
  return ("--loss=vaegan", "--image_size=16", "--crop_size=24", "--timesteps=2",
          "--latent_size=2", "--hidden_size=8", "--read_n=3", "--write_n=3",
          "--vaegan_channels=2", "--batch_size=4", "--split=all", "--device=cpu",
          "--progress_secs=0", "--data_dir=" + data_dir, "--logdir=" + str(tmp_path),
          "--cache_dir=" + str(tmp_path / "cache"), *flags)


def test_cli_trains_showing_the_discriminator_and_refuses_bad_settings(data_dir, tmp_path):
  bad = (("--loss=vaegan", "--vaegan_augment=color,blur"),
         ("--loss=vaegan", "--vaegan_augment=color,color"),
         ("--loss=gaussian", "--vaegan_augment=color"),
         ("--loss=vaegan", "--vaegan_r1=-1"), ("--loss=gaussian", "--vaegan_r1=1"),
         ("--loss=gaussian", "--vaegan_mbstd"), ("--loss=l2", "--novaegan_samples"),
         ("--loss=vaegan", "--vaegan_noise=-0.1"), ("--loss=gaussian", "--vaegan_noise=0.1"),
         ("--loss=vaegan", "--vaegan_noise_steps=100"), ("--loss=gaussian", "--vaegan_spectral"),
         ("--loss=vaegan", "--vaegan_prior_rate=10"), ("--loss=vaegan", "--vaegan_prior_rate=-1"),
         ("--loss=gaussian", "--vaegan_fit_samples"),
         ("--novaegan_samples", "--vaegan_fit_samples", "--loss=vaegan"))
  result = run_tiny_cli(data_dir, tmp_path, "--max_steps=2")
  assert result.returncode == 0, result.stderr
  assert "pixel L2/image" in result.stderr and "D acc real" in result.stderr
  assert "divisible by 8" in refusal("--loss=vaegan", "--image_size=12")
  for flags in bad:
    message = refusal(*flags)
    assert message and flags[1].split("=")[0] in message, (flags, message)


def test_cli_trains_on_fitted_samples_and_records_it(data_dir, tmp_path):
  result = run_tiny_cli(data_dir, tmp_path, "--max_steps=1", "--vaegan_fit_samples")
  assert result.returncode == 0, result.stderr
  assert runs.read_hparams(str(tmp_path))[1].vaegan_fit_samples


def test_cli_augments_in_diffaugments_order_and_records_r1_samples_and_spread(data_dir,
                                                                              tmp_path):
  result = run_tiny_cli(data_dir, tmp_path, "--max_steps=1", "--vaegan_augment=cutout,color",
                        "--vaegan_r1=0.5", "--novaegan_samples", "--vaegan_mbstd",
                        "--vaegan_noise=0.1", "--vaegan_noise_steps=10")
  assert result.returncode == 0, result.stderr
  saved = runs.read_hparams(str(tmp_path))[1]
  assert saved.vaegan_augment == "color,cutout" and saved.vaegan_r1 == 0.5
  assert saved.vaegan_noise == 0.1 and saved.vaegan_noise_steps == 10
  assert not saved.vaegan_samples and saved.vaegan_mbstd
  # The spread is one more input to Dis's dense layer: a resume without it cannot load it.
  refused = run_tiny_cli(data_dir, tmp_path, "--max_steps=2", "--vaegan_augment=cutout,color",
                         "--vaegan_r1=0.5", "--novaegan_samples")
  assert refused.returncode != 0 and "--vaegan_mbstd=False" in refused.stderr, refused.stderr
  assert "Traceback" not in refused.stderr
  # Samples may come back into training on resume: the variables are the same.
  resumed = run_tiny_cli(data_dir, tmp_path, "--max_steps=2", "--vaegan_augment=cutout,color",
                         "--vaegan_r1=0.5", "--vaegan_mbstd")
  assert resumed.returncode == 0, resumed.stderr
  assert runs.read_hparams(str(tmp_path))[1].vaegan_samples


def test_cli_spectral_discriminator_resumes_its_power_iteration(data_dir, tmp_path):
  """--vaegan_spectral: the vectors of the power iteration are saved, and the resumed step
  goes on from them: one power step from the saved u through the saved weights (read before
  that step's update), not from a fresh draw. Resuming without the flag is refused."""
  result = run_tiny_cli(data_dir, tmp_path, "--max_steps=2", "--vaegan_spectral")
  assert result.returncode == 0, result.stderr
  assert runs.read_hparams(str(tmp_path))[1].vaegan_spectral
  before = tf.train.load_checkpoint(str(tmp_path))
  refused = run_tiny_cli(data_dir, tmp_path, "--max_steps=3")
  assert refused.returncode != 0, refused.stderr
  assert "--vaegan_spectral=False (the checkpoint has True)" in refused.stderr, refused.stderr
  assert "Traceback" not in refused.stderr
  resumed = run_tiny_cli(data_dir, tmp_path, "--max_steps=3", "--vaegan_spectral")
  assert resumed.returncode == 0, resumed.stderr
  after = tf.train.load_checkpoint(str(tmp_path))
  for layer in ("conv1", "conv3", "dense"):
    w = before.get_tensor("discriminator/%s/w" % layer).astype(np.float64)
    w = w.reshape(-1, w.shape[-1])  # [I, O]
    u = before.get_tensor("discriminator/%s/u" % layer)[0]  # [O]
    v = w @ u / np.linalg.norm(w @ u)
    np.testing.assert_allclose(after.get_tensor("discriminator/%s/u" % layer)[0],
                               w.T @ v / np.linalg.norm(w.T @ v), rtol=1e-4, atol=1e-6)


def test_discriminator_sees_faces_reconstructions_and_samples_and_passes_gradients_back():
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(TINY, 0)
    v = graph.vaegan
    # Dis of the three, handed over explicitly: the prior's samples, not the canvases twice.
    _, logits = vaegan.discriminator(
        tf.concat([graph.images, graph.final_canvas, v.samples], 0), TINY)
    encoder = [x for x in tf1.trainable_variables() if top_scope(x) in objectives.ENCODER_SCOPES]
    decoder = [x for x in tf1.trainable_variables() if top_scope(x) in objectives.DECODER_SCOPES]
    # The features reach the encoder only through x~, and the GAN loss of x~ the decoder.
    l_recon = tf.split(v.logits, 3)[1]
    to_encoder = tf.gradients(v.feature_loss, encoder)
    to_decoder = tf.gradients(tf.reduce_mean(tf.nn.softplus(-l_recon)), decoder)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      feed = {graph.images: faces()}
      ours, theirs, enc, dec = sess.run([v.logits, logits, to_encoder, to_decoder], feed)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
  assert all(g is not None and np.abs(g).max() > 0 for g in enc)
  assert all(g is not None and np.abs(g).max() > 0 for g in dec)


def test_augmented_discriminator_still_passes_gradients_back_and_varies_with_the_step():
  config = TINY._replace(vaegan_augment=",".join(vaegan.AUGMENTATIONS))
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    graph = runs.build_graph(config, 0)
    v = graph.vaegan
    encoder = [x for x in tf1.trainable_variables() if top_scope(x) in objectives.ENCODER_SCOPES]
    decoder = [x for x in tf1.trainable_variables() if top_scope(x) in objectives.DECODER_SCOPES]
    to_encoder = tf.gradients(v.feature_loss, encoder)
    to_decoder = tf.gradients(v.gan_loss, decoder)
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      feed = {graph.images: faces()}
      enc, dec, first = sess.run([to_encoder, to_decoder, v.logits], feed)
      again = sess.run(v.logits, feed)
      other = sess.run(v.logits, {**feed, graph.noise_step: 1})
  assert all(g is not None and np.abs(g).max() > 0 for g in enc)
  assert all(g is not None and np.abs(g).max() > 0 for g in dec)
  np.testing.assert_array_equal(first, again)
  assert not np.allclose(first[:4], other[:4])  # the faces' transformations are new


def test_vaegan_follows_the_warm_up_and_decay_schedules():
  config = TINY._replace(kl_warmup=10, lr_decay_steps=4, lr_decay_rate=0.5)
  with tf.Graph().as_default():
    graph = runs.build_graph(config, 0)
    v = graph.vaegan
    with tf1.Session() as sess:
      sess.run(tf1.global_variables_initializer())
      sess.run(graph.draw.global_step.assign(6))
      encoder, latent, feature, lr = sess.run(
          [v.encoder_loss, graph.draw.latent_loss, v.feature_loss, graph.draw.learning_rate],
          {graph.images: faces()})
      before = sess.run(tf1.trainable_variables())
      sess.run(v.train_op, {graph.images: faces()})
      after = sess.run(tf1.trainable_variables())
  assert lr == pytest.approx(config.learning_rate * 0.5**(6 / 4), rel=1e-5)
  assert encoder == pytest.approx(0.6 * latent + feature, rel=1e-4)
  # Adam's first step moves each weight by about the rate: the decayed one, not the flag's.
  steps = np.concatenate([np.abs(a - b).ravel() for a, b in zip(after, before)])
  assert steps.max() <= lr * 1.01 and steps.max() > lr * 0.5
