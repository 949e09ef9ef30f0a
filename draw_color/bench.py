"""Benchmark: training and forward images/s, the loader's rates, and the machine's limit.

Every rate is the median of several timed runs after a warm-up, with min and max, because a
2-core machine is noisy. It is a benchmark, not a test: nothing here asserts a speed.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import logging
import numpy as np
import tensorflow as tf

from draw_color import celeba
from draw_color import cluster
from draw_color import datasets
from draw_color import fileio
from draw_color import model
from draw_color import objectives
from draw_color import runs

tf1 = tf.compat.v1

BenchConfig = collections.namedtuple(
    "BenchConfig",
    [
        "model",  # model.ModelConfig; the reference configuration by default.
        "batch_size",  # Images per step.
        "steps",  # Training steps per timed run.
        "repeats",  # Timed runs; the median is reported.
        "data_dir",  # CelebA for the loader rows; None or missing skips them.
        "crop_size",  # As training.
        "json_path",  # Where the results go as JSON.
        "device",  # As --device.
        "devices",  # As --devices: two or more add the rate of training on these towers.
    ],
    defaults=((),))

Rate = collections.namedtuple("Rate", ["median", "min", "max", "unit"])


def _rate(samples, unit):
  return Rate(float(np.median(samples)), float(np.min(samples)), float(np.max(samples)), unit)


def matmul_gflops(n=2048, repeats=7):
  """numpy's n x n float32 matmul, GFLOP/s: what the machine's cores can do."""
  a = np.random.default_rng(0).random((n, n), dtype=np.float32)
  a @ a  # warm-up
  samples = []
  for _ in range(repeats):
    start = time.perf_counter()
    a @ a
    samples.append(2 * n**3 / (time.perf_counter() - start) / 1e9)
  return _rate(samples, "GFLOP/s")


def matmul_flops(ops):
  """Sum of 2*M*N*K over the MatMul and BatchMatMul ops given (static shapes needed)."""
  total = 0
  for op in ops:
    if op.type == "MatMul":
      a = op.inputs[0].shape
      k = a[0] if op.get_attr("transpose_a") else a[1]
    elif op.type in ("BatchMatMulV2", "BatchMatMulV3"):
      a = op.inputs[0].shape
      k = a[-2] if op.get_attr("adj_x") else a[-1]
    else:
      continue
    total += 2 * int(np.prod(op.outputs[0].shape)) * int(k)
  return total


def _ops_needed(fetches):
  """The ops a Session.run of `fetches` executes."""
  seen, stack = set(), [f if isinstance(f, tf.Operation) else f.op for f in fetches]
  while stack:
    op = stack.pop()
    if op not in seen:
      seen.add(op)
      stack.extend(i.op for i in op.inputs)
      stack.extend(op.control_inputs)
  return seen


def _time(run, steps, repeats, images_per_step):
  run()  # warm-up: the first run also optimises the graph
  run()
  samples = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      run()
    samples.append(steps * images_per_step / (time.perf_counter() - start))
  return _rate(samples, "images/s")


def _graph_rates(config, batches, log):
  """Training, forward-only and real-data training rates of one graph."""
  mcfg, b = config.model, config.batch_size
  results = {}
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    with tf.device(runs.device_scope(config.device)):
      x = tf1.placeholder(tf.float32, [b, mcfg.image_size, mcfg.image_size, mcfg.channels])
      graph = objectives.minimize(model.build_draw(x, mcfg), mcfg)
    train_flops = matmul_flops(_ops_needed([graph.train_op]))
    forward_flops = matmul_flops(_ops_needed([graph.loss]))
    results["train_matmul_gflop_per_step"] = train_flops / 1e9
    results["forward_matmul_gflop_per_step"] = forward_flops / 1e9
    synthetic = np.random.default_rng(0).random(x.shape, dtype=np.float32)
    with tf1.Session(config=runs.session_config()) as sess:
      sess.run(tf1.global_variables_initializer())
      log("timing training steps on synthetic data")
      results["train"] = _time(lambda: sess.run(graph.train_op, {x: synthetic}),
                               config.steps, config.repeats, b)
      log("timing forward passes on synthetic data")
      results["forward"] = _time(lambda: sess.run(graph.loss, {x: synthetic}),
                                 config.steps, config.repeats, b)
      if batches is not None:
        log("timing training steps on batches from the CelebA cache")
        stream = _forever(batches, b)
        results["train_celeba"] = _time(lambda: sess.run(graph.train_op, {x: next(stream)}),
                                        config.steps, config.repeats, b)
  return results


def _tower_rate(config, log):
  """Training images/s on synthetic data with each batch split across config.devices."""
  mcfg, b = config.model, config.batch_size
  devices = runs.tower_devices(config.devices)
  with tf.Graph().as_default():
    tf1.set_random_seed(0)
    with tf.device(devices[0]):
      graph = runs.build_graph(mcfg, 0, devices=devices)
    synthetic = np.random.default_rng(0).random(
        (b, mcfg.image_size, mcfg.image_size, mcfg.channels), dtype=np.float32)
    with tf1.Session(config=runs.session_config(devices)) as sess:
      sess.run(tf1.global_variables_initializer())
      log("timing training steps on %d towers (%s)" % (len(devices), ", ".join(devices)))
      return _time(lambda: sess.run(graph.draw.train_op, {graph.images: synthetic}),
                   config.steps, config.repeats, b)


def _cluster_rate(config, log):
  """Training on synthetic data as the one worker of a localhost cluster whose ps is a process
  of its own (`python -m draw_color.main` with TF_CONFIG), timed in turns with one process's
  training, so that both meet the same load. Returns (the cluster's images/s Rate, the median
  of its extra ms a step over the process's in each turn, the bytes the ps moves a step).

  The ps moves every variable to the worker and the clipped gradient back; a cluster of K
  training tasks moves (3K - 1) times the variables: each task reads them, each other task
  sends its gradient, which the chief takes back, and the chief sends the sum.
  """
  mcfg, b = config.model, config.batch_size
  synthetic = np.random.default_rng(0).random(
      (b, mcfg.image_size, mcfg.image_size, mcfg.channels), dtype=np.float32)
  alone = tf.Graph()
  with alone.as_default():
    tf1.set_random_seed(0)
    with tf.device(runs.device_scope(config.device)):
      x = tf1.placeholder(tf.float32, synthetic.shape)
      single = objectives.minimize(model.build_draw(x, mcfg), mcfg)
    alone_init = tf1.global_variables_initializer()
  ports = cluster.free_ports(2)
  spec = {"ps": ["localhost:%d" % ports[0]], "worker": ["localhost:%d" % ports[1]]}
  env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": spec,
                                               "task": {"type": "ps", "index": 0}}))
  ps = subprocess.Popen([sys.executable, "-m", "draw_color.main"], env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    task = cluster.Cluster(spec=spec, job="worker", index=0, timeout=120)
    server = cluster.start_server(task)
    with tf.Graph().as_default():
      tf1.set_random_seed(0)
      with tf1.device(cluster.device_setter(task)):
        graph = runs.build_graph(mcfg, 0, cluster=task)
      init = tf1.global_variables_initializer()
      moved = 2 * sum(v.shape.num_elements() * v.dtype.size for v in tf1.trainable_variables())
      with tf1.Session(server.target, config=cluster.session_config(task)) as sess, \
          tf1.Session(graph=alone, config=runs.session_config()) as alone_sess:
        log("timing training steps as the worker of a localhost cluster with 1 ps, in turns "
            "with one process")
        cluster.connect(sess, graph.sync, task)
        sess.run(init)
        alone_sess.run(alone_init)
        step = sess.run(graph.sync.start)

        def clustered():
          nonlocal step
          sess.run(graph.draw.train_op, {graph.images: synthetic, graph.sync.step: step})
          step += 1

        rates, extra = [], []
        for run in (clustered, lambda: alone_sess.run(single.train_op, {x: synthetic})) * 2:
          run()  # warm-up: the first run also optimises the graph
        for _ in range(config.repeats):
          seconds = []
          for run in (clustered, lambda: alone_sess.run(single.train_op, {x: synthetic})):
            start = time.perf_counter()
            for _ in range(config.steps):
              run()
            seconds.append((time.perf_counter() - start) / config.steps)
          rates.append(b / seconds[0])
          extra.append(1000 * (seconds[0] - seconds[1]))
        return _rate(rates, "images/s"), float(np.median(extra)), moved
  finally:
    ps.kill()
    ps.wait()


def _forever(batches, batch_size):
  """Full batches from the loader, epoch after epoch."""
  epoch = 0
  while True:
    for batch in batches.epoch(epoch):
      if len(batch) == batch_size:
        yield batch
    epoch += 1


def _loader_rates(config, log):
  """The cache build's and the batches' images/s on the real data."""
  results = {}
  with tempfile.TemporaryDirectory() as cache_dir:
    samples = []
    for _ in range(max(1, config.repeats // 2)):
      for name in os.listdir(cache_dir):
        os.remove(os.path.join(cache_dir, name))
      start = time.perf_counter()
      images = celeba.load(config.data_dir, "all", crop_size=config.crop_size,
                           image_size=config.model.image_size, cache_dir=cache_dir,
                           log=lambda _: None)
      samples.append(len(images) / (time.perf_counter() - start))
    results["cache_build"] = _rate(samples, "images/s")
    images = np.asarray(images)  # the cache stays in the page cache when training reads it
  batches = datasets.Batches(images, config.batch_size, seed=0)
  stream = _forever(batches, config.batch_size)
  results["batches"] = _time(lambda: next(stream), 200, config.repeats, config.batch_size)
  log("loader: %d images" % len(images))
  return results, batches


def run(config, log=logging.info):
  """Runs every measurement; returns the results as a dict and writes them as JSON."""
  results = {"config": config.model._asdict(), "batch_size": config.batch_size,
             "machine": "%d cores, TensorFlow %s" % (os.cpu_count(), tf.__version__)}
  log("timing numpy's 2048x2048 float32 matmul")
  results["matmul"] = matmul_gflops()
  batches = None
  if config.data_dir and os.path.isdir(os.path.join(config.data_dir, "img_align_celeba")):
    loader, batches = _loader_rates(config, log)
    results.update(loader)
  else:
    log("no CelebA at %s: skipping the loader rows" % config.data_dir)
  results.update(_graph_rates(config, batches, log))
  if len(config.devices) > 1:
    results["train_towers"] = _tower_rate(config, log)
    results["towers"] = list(config.devices)
  (results["train_cluster"], results["cluster_overhead_ms_per_step"],
   results["cluster_bytes_per_step"]) = _cluster_rate(config, log)
  limit = results["matmul"].median / results["train_matmul_gflop_per_step"]  # steps/s
  results["limit_images_per_s"] = limit * config.batch_size
  results["fraction_of_limit"] = results["train"].median / results["limit_images_per_s"]
  fileio.write_json(config.json_path, {
      k: v._asdict() if isinstance(v, Rate) else v for k, v in results.items()})
  return results


def table(results):
  """The results as a Markdown table."""
  rows = [("measurement", "median", "min", "max", "unit")]
  names = [("train", "training, synthetic data"),
           ("train_towers", "training, synthetic data, towers on %s"
            % ",".join(results.get("towers", []))),
           ("train_cluster", "training, synthetic data, localhost cluster of 1 ps + 1 worker"),
           ("forward", "forward only, synthetic data"),
           ("train_celeba", "training, CelebA through the loader"),
           ("cache_build", "loader: cache build"), ("batches", "loader: batches from the cache"),
           ("matmul", "numpy 2048x2048 float32 matmul")]
  for key, label in names:
    if key in results:
      r = results[key]
      rows.append((label, "%.0f" % r.median, "%.0f" % r.min, "%.0f" % r.max, r.unit))
  lines = ["| " + " | ".join(r) + " |" for r in rows]
  lines.insert(1, "| --- | ---: | ---: | ---: | --- |")
  lines.append("")
  lines.append("Matrix products per training step: %.2f GFLOP (forward %.2f). At the matmul rate "
               "the limit is %.0f images/s; training reaches %.0f%% of it."
               % (results["train_matmul_gflop_per_step"],
                  results["forward_matmul_gflop_per_step"], results["limit_images_per_s"],
                  100 * results["fraction_of_limit"]))
  if "train_cluster" in results:
    lines.append("")
    lines.append("The localhost cluster takes %.1f ms a step more than one process (the median "
                 "of turns); its ps moves %.1f MB a step (the variables to the worker, the "
                 "gradient back)."
                 % (results["cluster_overhead_ms_per_step"],
                    results["cluster_bytes_per_step"] / 1e6))
  return "\n".join(lines)
