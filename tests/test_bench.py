"""bench.py: what `--mode=bench` writes, on a tiny model, and its count of matrix products."""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf

from draw_color import bench
from draw_color import model

tf1 = tf.compat.v1

TINY = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3)
RATES = ("matmul", "train", "forward", "train_cluster")  # the last one _cluster_rate's stub


def test_run_writes_every_rate_and_the_limit_they_imply(tmp_path, monkeypatch):
  # numpy's rate from a 256x256 product: 2048x2048 ones take seconds on a busy machine.
  monkeypatch.setattr(bench, "matmul_gflops", functools.partial(bench.matmul_gflops, n=256))
  # The localhost cluster's ps starts TensorFlow in a process of its own (~8 s);
  # test_cluster.py times it. Here its results need only reach the JSON.
  cluster = (bench.Rate(3.0, 2.0, 4.0, "images/s"), 2.5, 1234)
  monkeypatch.setattr(bench, "_cluster_rate", lambda config, log: cluster)
  path = tmp_path / "bench.json"
  config = bench.BenchConfig(model=TINY, batch_size=4, steps=1, repeats=1, data_dir=None,
                             crop_size=24, json_path=str(path), device="cpu")
  said = []
  returned = bench.run(config, log=said.append)
  with open(path) as f:
    written = json.load(f)
  for key in RATES:
    rate = written[key]
    assert set(rate) == {"median", "min", "max", "unit"}, key
    assert 0 < rate["min"] <= rate["median"] <= rate["max"] < np.inf, key
    assert rate["unit"] == ("GFLOP/s" if key == "matmul" else "images/s"), key
    assert rate == returned[key]._asdict(), key
  assert not {"cache_build", "batches", "train_celeba", "train_towers"} & set(written)
  assert any(line.startswith("no CelebA at None") for line in said), said
  assert written["config"] == json.loads(json.dumps(TINY._asdict()))
  assert written["batch_size"] == 4
  train, forward = written["train_matmul_gflop_per_step"], written["forward_matmul_gflop_per_step"]
  assert 0 < forward < train  # the backward pass multiplies matrices too
  # The limit: steps/s at numpy's matmul rate if a step did only its matrix products.
  limit = written["matmul"]["median"] / train * 4
  assert written["limit_images_per_s"] == pytest.approx(limit, rel=1e-12)
  assert written["fraction_of_limit"] == pytest.approx(written["train"]["median"] / limit,
                                                       rel=1e-12)
  assert (written["cluster_overhead_ms_per_step"], written["cluster_bytes_per_step"]) == (2.5, 1234)
  table = bench.table(returned)
  assert "| training, synthetic data |" in table and "| numpy 2048x2048 float32 matmul |" in table


def test_matmul_flops_is_2mnk_of_each_product_the_fetches_need():
  with tf.Graph().as_default():
    a = tf1.placeholder(tf.float32, [3, 4])
    b = tf1.placeholder(tf.float32, [4, 5])
    at = tf1.placeholder(tf.float32, [4, 3])
    x = tf1.placeholder(tf.float32, [2, 6, 7])
    y = tf1.placeholder(tf.float32, [2, 7, 3])
    xt = tf1.placeholder(tf.float32, [2, 7, 6])
    products = [
        (tf.matmul(a, b), 2 * 3 * 5 * 4),  # [3, 4] x [4, 5]
        (tf.matmul(at, b, transpose_a=True), 2 * 3 * 5 * 4),  # [4, 3]^T x [4, 5]
        (tf.matmul(b, a, transpose_a=True, transpose_b=True), 2 * 5 * 3 * 4),  # [4,5]^T[3,4]^T
        (tf.matmul(x, y), 2 * 2 * 6 * 3 * 7),  # 2 x [6, 7] x [7, 3]
        (tf.matmul(xt, y, adjoint_a=True), 2 * 2 * 6 * 3 * 7),  # 2 x [7, 6]^T x [7, 3]
    ]
    for product, flops in products:
      assert bench.matmul_flops([product.op]) == flops, product.op.type
    chained = tf.matmul(tf.matmul(a, b), tf.ones([5, 2])) + 1.0  # [3, 5] x [5, 2] after it
    needed = bench._ops_needed([chained])  # pylint: disable=protected-access
    assert bench.matmul_flops(needed) == 2 * 3 * 5 * 4 + 2 * 3 * 2 * 5
    assert bench.matmul_flops(tf1.get_default_graph().get_operations()) == \
        sum(f for _, f in products) + 2 * 3 * 5 * 4 + 2 * 3 * 2 * 5
    types = {op.type for op in tf1.get_default_graph().get_operations()}
    assert "MatMul" in types and any(t.startswith("BatchMatMul") for t in types), types
