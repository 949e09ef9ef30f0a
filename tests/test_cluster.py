"""Between-graph replication on a real localhost cluster: a ps and two workers as processes,
the tiny model, a few dozen steps; and TF_CONFIG's parsing."""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from draw_color import bench
from draw_color import celeba
from draw_color import cluster
from draw_color import model
from draw_color import train
from draw_color.fileio import UserError
from fakes import checkpoint_weights as weights
from fakes import make_celeba
from fakes import quiet_env
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
PARTIAL_WORKER = os.path.join(ROOT, "tests", "partial_worker.py")
# Every test here races the clock (tasks wait for each other up to --cluster_timeout).
pytestmark = pytest.mark.serial


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


class Tasks:
  """The tasks of one localhost cluster (1 ps and `workers` workers on free ports) as
  processes of `python -m draw_color.main --mode=train`, each logging into `folder`; on
  exit, every one still running is killed."""

  def __init__(self, folder, workers=2):
    ports = cluster.free_ports(1 + workers)
    self.spec = {"ps": ["localhost:%d" % ports[0]],
                 "worker": ["localhost:%d" % p for p in ports[1:]]}
    self.folder = folder
    self.running, self.logs = {}, {}  # task -> its latest process, its log's path
    self.starts = collections.Counter()  # task -> how often it was started
    folder.mkdir()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    for process in self.running.values():
      if process.poll() is None:
        process.kill()
      process.wait()

  def start(self, task, flags=(), script=None):
    """Starts `task` ((job, index)) anew, in a log of its own; as the trainer, or as the
    Python `script` given."""
    job, index = task
    self.starts[task] += 1
    path = self.folder / ("%s%d-%d.log" % (job, index, self.starts[task]))
    env = quiet_env(PYTHONPATH=ROOT, TF_CONFIG=json.dumps(
        {"cluster": self.spec, "task": {"type": job, "index": index}}))
    with open(path, "w") as log:
      command = [script] if script else ["-m", "draw_color.main", "--mode=train", *flags]
      self.running[task] = subprocess.Popen([sys.executable, *command], env=env, cwd=ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)
    self.logs[task] = path

  def log(self, task):
    return self.logs[task].read_text()

  def wait_for(self, task, text, deadline):
    """Waits until `task`'s log holds `text`; False if it exits or the deadline passes."""
    while text not in self.log(task):
      if self.running[task].poll() is not None or time.time() > deadline:
        return False
      time.sleep(0.05)
    return True

  def finish(self, tasks, deadline):
    """{task: (exit code, log)} of `tasks` once they exit or the deadline passes (None)."""
    for task in tasks:
      try:
        self.running[task].wait(timeout=max(1.0, deadline - time.time()))
      except subprocess.TimeoutExpired:
        pass
    return {task: (self.running[task].poll(), self.log(task)) for task in tasks}


def launch(flags, folder):
  """Starts the ps and the two workers with `flags` and waits for the workers; kills
  whatever still runs after TIMEOUT and the ps. Returns {(job, index): (exit code, log)}."""
  with Tasks(folder) as tasks:
    for task in TASKS:
      tasks.start(task, flags)
    return tasks.finish(TASKS[1:], time.time() + TIMEOUT)


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


def test_a_worker_killed_mid_run_rejoins_and_the_run_stays_exact(data_dir, tmp_path):
  logdir = tmp_path / "cluster"
  # 200 steps (50 epochs of 4), so that the worker is killed mid-run; the chief waits for it.
  flags = TINY_FLAGS + ["--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
                        "--logdir=" + str(logdir), "--epochs=50", "--cluster_timeout=300",
                        "--checkpoint_every=100", "--image_every=100"]
  deadline = time.time() + 2 * TIMEOUT
  with Tasks(tmp_path / "logs") as tasks:
    for task in TASKS:
      tasks.start(task, flags)
    worker = ("worker", 1)
    assert tasks.wait_for(worker, "worker 1: epoch 2/50  step 6/200", deadline), tasks.log(worker)
    tasks.running[worker].send_signal(signal.SIGKILL)
    tasks.running[worker].wait()
    killed = tasks.log(worker)
    tasks.start(worker, flags)
    found = tasks.finish(TASKS[1:], deadline)
  assert "done at step" not in killed
  (chief_code, chief), (other_code, other) = found["worker", 0], found[worker]
  assert chief_code == 0, chief
  assert other_code == 0, other
  assert "done: step 200, checkpoints in" in chief
  # The restarted worker began where the chief was, after the steps its first self trained.
  first_steps = [int(s) for s in re.findall(r"step (\d+)/200", killed)]
  rejoined = int(re.search(r"worker 1: step (\d+) took", other).group(1))
  assert max(first_steps) <= rejoined - 1 < 200, (killed, other)
  assert "worker 1: done at step 200" in other
  assert weights(logdir)["global_step"] == 200
  # The same weights as one process, which computes every step's whole batch itself.
  alone = tmp_path / "alone"
  assert train.train(config(data_dir, alone, epochs=50, max_steps=200)) == 200
  expected = weights(alone)
  for name, value in weights(logdir).items():
    np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


def _wait_until_idle(tasks, task, deadline):
  """Waits until `task` uses under 0.05 s of CPU in 2 s: it waits for something."""
  def cpu_seconds():  # user and system, from Linux's /proc
    with open("/proc/%d/stat" % tasks.running[task].pid) as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
  used = cpu_seconds()
  while True:
    assert time.time() < deadline and tasks.running[task].poll() is None, tasks.log(task)
    time.sleep(2)
    used, before = cpu_seconds(), used
    if used - before < 0.05:
      return


def test_a_worker_killed_in_its_wait_for_the_chief_leaves_no_wait_behind(data_dir, tmp_path):
  # A worker waits for each step's token in a dequeue that runs on the ps. Killed in that
  # wait, it must not leave the wait there, to take the next token from the worker started
  # again (which would then wait for it until --cluster_timeout). The chief is paused
  # (SIGSTOP) so that the worker killed and the one started again wait for the same token.
  if not os.path.isdir("/proc/self"):
    pytest.skip("needs Linux's /proc to see that a process waits")
  flags = TINY_FLAGS + ["--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
                        "--logdir=" + str(tmp_path / "cluster"), "--cluster_timeout=60"]
  chief, worker = ("worker", 0), ("worker", 1)
  deadline = time.time() + TIMEOUT
  with Tasks(tmp_path / "logs") as tasks:
    for task in TASKS:
      tasks.start(task, flags)
    assert tasks.wait_for(worker, "worker 1: epoch 2/10  step 6/40", deadline), tasks.log(worker)
    tasks.running[chief].send_signal(signal.SIGSTOP)
    try:
      _wait_until_idle(tasks, worker, deadline)
      tasks.running[worker].send_signal(signal.SIGKILL)
      tasks.running[worker].wait()
      tasks.start(worker, flags)
      assert tasks.wait_for(worker, "training part 2 of 2", deadline), tasks.log(worker)
      _wait_until_idle(tasks, worker, deadline)
    finally:
      tasks.running[chief].send_signal(signal.SIGCONT)
    found = tasks.finish(TASKS[1:], deadline)
  (chief_code, chief_log), (code, log) = found[chief], found[worker]
  assert chief_code == 0 and "done: step 40, checkpoints in" in chief_log, chief_log
  assert code == 0 and "worker 1: done at step 40" in log, log
  # Its first step is where it waited, for the token of the step the chief was paused in.
  took = float(re.search(r"worker 1: step \d+ took ([\d.]+) s", log).group(1))
  assert took >= 2, log


def test_no_weight_changes_before_every_part_of_the_step_is_in(data_dir, tmp_path):
  # A worker killed mid-push leaves some of its parts in; the one started again recomputes
  # the rest from the weights it reads, which must still be the step's. Worker 1 here puts
  # in one variable's part only and watches the weights once the chief took it.
  flags = TINY_FLAGS + ["--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
                        "--logdir=" + str(tmp_path / "cluster"), "--cluster_timeout=300"]
  worker = ("worker", 1)
  with Tasks(tmp_path / "logs") as tasks:
    tasks.start(("ps", 0))
    tasks.start(("worker", 0), flags)
    tasks.start(worker, script=PARTIAL_WORKER)
    code, log = tasks.finish([worker], time.time() + TIMEOUT)[worker]
  assert code == 0, log
  assert log.strip().splitlines()[-1] == "unchanged", log


def test_a_task_waiting_past_cluster_timeout_stops_in_one_line_naming_whom(data_dir, tmp_path):
  flags = TINY_FLAGS + ["--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
                        "--epochs=50"]
  deadline = time.time() + TIMEOUT
  with Tasks(tmp_path / "no_ps", workers=1) as no_ps, \
      Tasks(tmp_path / "no_chief") as no_chief, Tasks(tmp_path / "lost", workers=3) as lost:
    # A chief whose ps never starts.
    no_ps.start(("worker", 0), flags + ["--logdir=" + str(tmp_path / "a"), "--cluster_timeout=3"])
    # A worker whose ps runs but whose chief never starts.
    no_chief.start(("ps", 0))
    # A chief and a worker of 3 whose third worker dies mid-run.
    lost.start(("ps", 0))
    assert no_chief.wait_for(("ps", 0), "serving on", deadline), no_chief.log(("ps", 0))
    no_chief.start(("worker", 1), flags + ["--logdir=" + str(tmp_path / "b"),
                                           "--cluster_timeout=3"])
    assert lost.wait_for(("ps", 0), "serving on", deadline), lost.log(("ps", 0))
    for index in range(3):
      lost.start(("worker", index), flags + ["--logdir=" + str(tmp_path / "c"),
                                             "--cluster_timeout=30"])
    assert lost.wait_for(("worker", 2), "step 4/200", deadline), lost.log(("worker", 2))
    lost.running["worker", 2].send_signal(signal.SIGKILL)
    found = {**no_ps.finish([("worker", 0)], deadline),
             **{("b",) + t: v for t, v in no_chief.finish([("worker", 1)], deadline).items()},
             **{("c",) + t: v for t, v in lost.finish([("worker", 0), ("worker", 1)],
                                                      deadline).items()}}
    spec = lost.spec
  expected = {
      ("worker", 0): "error: worker 0 waited 3 s (--cluster_timeout) for ps 0 (%s) to answer; "
                     "start it, or check the address in TF_CONFIG" % no_ps.spec["ps"][0],
      ("b", "worker", 1): "error: worker 1 waited 3 s (--cluster_timeout) for the chief, worker 0 "
                          "(%s), to initialise or restore the variables; start it"
                          % no_chief.spec["worker"][0],
      ("c", "worker", 0): "error: worker 0 waited 30 s (--cluster_timeout) for the parts of a "
                          "step of worker 1 (%s) and worker 2 (%s); a worker that stopped "
                          "rejoins when started again, else stop every task and launch them "
                          "again to resume from the chief's latest checkpoint"
                          % tuple(spec["worker"][1:]),
      ("c", "worker", 1): "error: worker 1 waited 30 s (--cluster_timeout) for the chief, worker 0 "
                          "(%s), to finish a step (it waits for every task's part); a worker "
                          "that stopped rejoins when started again, else stop every task and "
                          "launch them again to resume from the chief's latest checkpoint"
                          % spec["worker"][0],
  }
  for task, line in expected.items():
    code, log = found[task]
    assert code == 1 and "Traceback" not in log, log
    assert log.strip().splitlines()[-1] == line, log


def test_bench_times_a_localhost_cluster_and_counts_what_its_ps_moves(tmp_path):
  config = bench.BenchConfig(model=TINY, batch_size=4, steps=1, repeats=1, data_dir=None,
                             crop_size=24, json_path=None, device="cpu")
  rate, extra, moved = bench._cluster_rate(  # pylint: disable=protected-access
      config, log=lambda _: None)
  assert rate.unit == "images/s" and rate.median > 0 and np.isfinite(extra)
  # The variables of one process's graph, each to the worker and back as its gradient.
  with tf.Graph().as_default():
    model.build_draw(tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3]), TINY)
    assert moved == 2 * 4 * sum(int(np.prod(v.shape)) for v in tf.compat.v1.trainable_variables())
  table = bench.table({"train_cluster": rate, "cluster_overhead_ms_per_step": 2.5,
                       "cluster_bytes_per_step": 3.2e6, "train_matmul_gflop_per_step": 1.0,
                       "forward_matmul_gflop_per_step": 0.5, "limit_images_per_s": 10.0,
                       "fraction_of_limit": 0.5})
  assert "| training, synthetic data, localhost cluster of 1 ps + 1 worker | " in table
  assert ("The localhost cluster takes 2.5 ms a step more than one process (the median of "
          "turns); its ps moves 3.2 MB a step") in table


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
  env = quiet_env(PYTHONPATH=ROOT, TF_CONFIG=json.dumps(
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
  result = subprocess.run(
      [sys.executable, "-m", "draw_color.main", "--eval_every=10", "--patience=3",
       "--logdir=" + str(tmp_path / "run")], env=env, cwd=ROOT, capture_output=True,
      text=True, timeout=120)
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      "error: TF_CONFIG is set but --patience stops the chief alone"), result.stderr
  assert not os.path.exists(tmp_path / "run")


def test_the_chief_job_comes_first_then_the_workers():
  spec = {"ps": ["a:1"], "chief": ["a:2"], "worker": ["a:3", "a:4"]}
  parsed = cluster.parse(json.dumps({"cluster": spec, "task": {"type": "worker", "index": 1}}),
                         600)
  assert cluster.replica(parsed) == (2, 3)
  assert cluster.replica(parsed._replace(job="chief", index=0)) == (0, 3)


def test_a_task_lost_is_named_from_the_runtime_error():
  task = cluster.parse(json.dumps({"cluster": {"ps": ["a:1"], "worker": ["a:2", "a:3"]},
                                   "task": {"type": "worker", "index": 1}}), 600)
  error = tf.errors.UnavailableError(None, None, (
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Connection "
      "refused\nAdditional GRPC error information from remote target /job:ps/replica:0/task:0 "
      "while calling /tensorflow.WorkerService/RecvTensor:"))
  with pytest.raises(UserError) as raised:
    with cluster.guard(task):
      raise error
  assert str(raised.value) == (
      "worker 1 lost ps 0 (a:1) (UnavailableError: failed to connect to all addresses; last "
      "error: UNKNOWN: ipv4:127.0.0.1:1: Connection refused); stop every task and launch them "
      "again to resume from the chief's latest checkpoint")
