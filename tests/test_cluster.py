"""Between-graph replication on a real localhost cluster: a ps and two workers as processes,
the tiny model, a few dozen steps; and TF_CONFIG's parsing."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from draw_color import celeba
from draw_color import cluster
from draw_color import model
from draw_color import train
from draw_color.fileio import UserError
from fakes import checkpoint_weights as weights
from fakes import make_celeba
from fakes import run_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3,
                         write_n=3)
# The same run as config() below. Batches of 3 of 10 images: 3, 3, 3, 1 an epoch, cut into
# parts of 2 and 1, and of 1 and 0.
TINY_FLAGS = ["--image_size=8", "--crop_size=24", "--timesteps=2", "--latent_size=2",
              "--hidden_size=8", "--read_n=3", "--write_n=3", "--batch_size=3", "--split=all",
              "--seed=1", "--epochs=10", "--progress_secs=0", "--checkpoint_every=8",
              "--image_every=8"]
TASKS = (("ps", 0), ("worker", 0), ("worker", 1))
TIMEOUT = 240  # seconds a launch may take


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = make_celeba(tmp_path_factory.mktemp("celeba"), 10)
  # Built once here, not by both workers at once.
  celeba.load(root, "all", crop_size=24, image_size=8, cache_dir=os.path.join(root, "cache"),
              log=lambda _: None)
  return root


def config(data_dir, logdir, **overrides):
  return run_config(data_dir, logdir, **{"model": TINY, "batch_size": 3,
                                         "checkpoint_every": 8, "image_every": 8,
                                         **overrides})


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("localhost", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def launch(flags, folder):
  """Starts the ps and the two workers with `flags` and waits for the workers; kills
  whatever still runs after TIMEOUT and the ps. Returns {(job, index): (exit code, log)}."""
  ports = free_ports(len(TASKS))
  spec = {"ps": ["localhost:%d" % ports[0]],
          "worker": ["localhost:%d" % p for p in ports[1:]]}
  folder.mkdir()
  running = {}
  try:
    for job, index in TASKS:
      env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, TF_CONFIG=json.dumps(
          {"cluster": spec, "task": {"type": job, "index": index}}))
      with open(folder / ("%s%d.log" % (job, index)), "w") as log:
        running[job, index] = subprocess.Popen(
            [sys.executable, "-m", "draw_color.main", "--mode=train", *flags], env=env,
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + TIMEOUT
    for task in TASKS[1:]:
      try:
        running[task].wait(timeout=max(1.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        pass
  finally:
    for process in running.values():
      if process.poll() is None:
        process.kill()
      process.wait()
  found = {}
  for (job, index), process in running.items():
    with open(folder / ("%s%d.log" % (job, index))) as f:
      found[job, index] = (process.returncode, f.read())
  return found


def test_a_cluster_trains_as_one_device_would_and_resumes(data_dir, tmp_path):
  logdir = tmp_path / "cluster"
  flags = TINY_FLAGS + ["--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
                        "--logdir=" + str(logdir)]
  first = launch(flags + ["--max_steps=24"], tmp_path / "first")
  (chief_code, chief), (other_code, other) = first["worker", 0], first["worker", 1]
  assert chief_code == 0, chief
  assert other_code == 0, other
  assert "done: step 24, checkpoints in" in chief
  # The other worker trained its part of every step and wrote nothing.
  assert "worker 1: training part 2 of 2" in other
  assert "worker 1: epoch 6/10  step 24/24" in other
  assert "worker 1: done at step 24" in other
  assert len([f for f in os.listdir(logdir) if f.startswith("events.out")]) == 1
  assert weights(logdir)["global_step"] == 24

  # One process, the same batches and noise: the same weights.
  alone = tmp_path / "alone"
  assert train.train(config(data_dir, alone, max_steps=24)) == 24
  expected = weights(alone)
  for name, value in weights(logdir).items():
    np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
  # The cluster's checkpoint restores in one process, which trains on from it.
  copy = tmp_path / "copy"
  shutil.copytree(logdir, copy)
  assert train.train(config(data_dir, copy, max_steps=25)) == 25

  second = launch(flags + ["--max_steps=32"], tmp_path / "second")
  (chief_code, chief), (other_code, other) = second["worker", 0], second["worker", 1]
  assert chief_code == 0 and other_code == 0, chief + other
  assert "resumed from %s" % (logdir / "model.ckpt-24") in chief
  assert "done: step 32" in chief and "worker 1: done at step 32" in other
  assert weights(logdir)["global_step"] == 32


@pytest.mark.parametrize("text, message", [
    ("{", "TF_CONFIG is not a cluster and task"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}',
     "needs a ps job and a worker"),
    ('{"cluster": {"ps": ["a:1"], "worker": ["a:2"]}, "task": {"type": "worker", "index": 1}}',
     "task worker 1 is not in its cluster"),
    ('{"cluster": {"ps": ["a:1"], "evaluator": ["a:2"]}, "task": {"type": "evaluator", '
     '"index": 0}}', "needs a ps job and a worker"),
    ('{"cluster": {"ps": ["a:1"], "worker": ["a:2"], "evaluator": ["a:3"]}, '
     '"task": {"type": "evaluator", "index": 0}}', "task type is evaluator; this trainer runs ps"),
])
def test_a_bad_tf_config_is_one_line_naming_it(text, message):
  with pytest.raises(UserError, match=message):
    cluster.parse(text, 600)


def test_tf_config_with_what_a_task_cannot_do_is_refused_in_one_line(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, TF_CONFIG=json.dumps(
      {"cluster": {"ps": ["localhost:1"], "worker": ["localhost:2"]},
       "task": {"type": "worker", "index": 0}}))
  result = subprocess.run(
      [sys.executable, "-m", "draw_color.main", "--loss=vaegan",
       "--logdir=" + str(tmp_path / "run")], env=env, cwd=ROOT, capture_output=True,
      text=True, timeout=120)
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: TF_CONFIG is set but --loss=vaegan trains in one process: its three optimisers (of "
      "the encoder, the decoder and the discriminator) are not replicated across tasks; unset "
      "TF_CONFIG to train it on one device, or train the cluster with --loss=l2, gaussian or "
      "bernoulli")
  assert not os.path.exists(tmp_path / "run")


def test_the_chief_job_comes_first_then_the_workers():
  spec = {"ps": ["a:1"], "chief": ["a:2"], "worker": ["a:3", "a:4"]}
  parsed = cluster.parse(json.dumps({"cluster": spec, "task": {"type": "worker", "index": 1}}),
                         600)
  assert cluster.replica(parsed) == (2, 3)
  assert cluster.replica(parsed._replace(job="chief", index=0)) == (0, 3)
