"""Towers (--devices) on two virtual CPU devices against one device on the same batch, weights
and noise: the same losses, gradients and weights after a step, for even, uneven and
one-image batches; and training on towers end to end."""

import os

import numpy as np
import pytest
import tensorflow as tf

from draw_color import bench
from draw_color import datasets
from draw_color import model
from draw_color import runs
from draw_color import towers
from draw_color import train
from fakes import checkpoint_weights as weights
from fakes import make_celeba
from fakes import run_config

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3, clip=1e6)
TWO = ["/cpu:0", "/cpu:1"]
REPORTED = ("loss", "gen_loss", "latent_loss", "objective", "gen_loss_per_image",
            "kl_per_step", "canvases", "mus")


def one_step(config, batch, devices, checkpoint):
  """Runs one training step of `config` on `batch` from the weights in `checkpoint` (written
  first if missing). Returns (the reported values and the gradient of the objective before the
  step, every variable after it, the devices that ran ops)."""
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    with tf.device(devices[0] if devices else "/cpu:0"):
      graph = runs.build_graph(config, seed=3, devices=devices)
    variables = tf1.trainable_variables()
    gradients = tf1.gradients(graph.draw.objective, variables)
    saver = tf1.train.Saver()
    with tf1.Session(config=runs.session_config(devices)) as sess:
      if os.path.exists(checkpoint + ".index"):
        saver.restore(sess, checkpoint)
      else:
        sess.run(tf1.global_variables_initializer())
        saver.save(sess, checkpoint)
      feed = {graph.images: batch}
      before = sess.run({"reported": {k: getattr(graph.draw, k) for k in REPORTED},
                         "gradients": {v.op.name: g for v, g in zip(variables, gradients)}},
                        feed)
      metadata = tf1.RunMetadata()
      sess.run(graph.draw.train_op, feed,
               options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE),
               run_metadata=metadata)
      after = sess.run({v.op.name: v for v in tf1.global_variables()})
  ran_on = {d.device.split("device:")[-1] for d in metadata.step_stats.dev_stats}
  return before, after, ran_on


@pytest.mark.parametrize("loss, size, compat, clip", [
    ("l2", 4, "paper", 5.0),  # even; l2 sums over the batch, and clipping bites
    ("l2", 5, "original", 1e6),  # uneven, and the eps of B3 split along its batch axis
    ("gaussian", 5, "paper", 1e6),  # uneven, a batch-mean loss
    ("bernoulli", 1, "paper", 1e6),  # one image: the second tower is empty
])
def test_two_towers_equal_one_device(tmp_path, loss, size, compat, clip):
  config = TINY._replace(loss=loss, compat=compat, clip=clip)
  batch = np.random.default_rng(size).random((size, 8, 8, 3), dtype=np.float32)
  if loss == "bernoulli":
    batch = (batch > 0.5).astype(np.float32)
  checkpoint = str(tmp_path / "start")
  one, one_after, _ = one_step(config, batch, [], checkpoint)
  two, two_after, ran_on = one_step(config, batch, TWO, checkpoint)

  assert {"CPU:0", "CPU:1"} <= ran_on
  for key in REPORTED:
    np.testing.assert_allclose(two["reported"][key], one["reported"][key], rtol=1e-5,
                               atol=1e-5, err_msg=key)
  assert set(two_after) == set(one_after)  # the same slots: checkpoints are interchangeable
  beta1 = config.beta1
  for name, gradient in one["gradients"].items():
    np.testing.assert_allclose(two["gradients"][name], gradient, rtol=1e-4, atol=1e-6,
                               err_msg=name)
    # Adam's first moment after one step is (1 - beta1) times the clipped gradient applied.
    norm = np.sqrt(np.sum(np.square(gradient, dtype=np.float64)))
    clipped = gradient * min(1.0, clip / norm) if norm else gradient
    np.testing.assert_allclose(two_after[name + "/Adam"] / (1 - beta1), clipped, rtol=1e-4,
                               atol=1e-6, err_msg=name)
  for name, value in one_after.items():
    np.testing.assert_allclose(two_after[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_split_sizes_cover_the_batch_larger_parts_first_as_the_loader_cuts_it():
  with tf.Graph().as_default(), tf1.Session() as sess:
    found = sess.run([towers.split_sizes(tf.constant(b), 3) for b in (0, 1, 5, 6, 7)])
  assert [list(s) for s in found] == [[0, 0, 0], [1, 0, 0], [2, 2, 1], [2, 2, 2], [3, 2, 2]]
  for b, sizes in zip((0, 1, 5, 6, 7), found):
    assert [np.subtract(*datasets.part_bounds(b, k, 3)[::-1]) for k in range(3)] == list(sizes)


def test_vaegan_is_refused_on_towers():
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match="vaegan trains on one device"):
      runs.build_graph(TINY._replace(loss="vaegan"), 0, devices=TWO)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return make_celeba(tmp_path_factory.mktemp("celeba"), 10)


def test_training_on_towers_equals_one_device_and_resumes_on_either(data_dir, tmp_path):
  # 3 steps of 4, 4 and 2 images, then a step of the next epoch.
  # The KL's weight and the learning rate change every step.
  small = TINY._replace(timesteps=2, clip=5.0, kl_warmup=3, lr_decay_steps=2)
  one = run_config(data_dir, tmp_path / "one", model=small, max_steps=4)
  assert train.train(one) == 4
  both = one._replace(logdir=str(tmp_path / "two"), devices=("cpu:0", "cpu:1"), max_steps=2)
  assert train.train(both) == 2
  assert train.train(both._replace(devices=(), max_steps=3)) == 3  # resumed on one device
  assert train.train(both._replace(max_steps=4)) == 4  # and on towers again
  expected, found = weights(tmp_path / "one"), weights(tmp_path / "two")
  assert found["global_step"] == 4
  for name in expected:
    np.testing.assert_allclose(found[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_bench_times_training_on_towers_and_shows_the_row():
  config = bench.BenchConfig(model=TINY, batch_size=4, steps=1, repeats=1, data_dir=None,
                             crop_size=24, json_path=None, device="cpu",
                             devices=("cpu:0", "cpu:1"))
  rate = bench._tower_rate(config, log=lambda _: None)  # pylint: disable=protected-access
  assert rate.unit == "images/s" and rate.median > 0
  table = bench.table({"train_towers": rate, "towers": ["cpu:0", "cpu:1"],
                       "train_matmul_gflop_per_step": 1.0, "forward_matmul_gflop_per_step": 0.5,
                       "limit_images_per_s": 10.0, "fraction_of_limit": 0.5})
  assert "| training, synthetic data, towers on cpu:0,cpu:1 | " in table
