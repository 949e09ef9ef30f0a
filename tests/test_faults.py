"""Faults that real runs meet: damaged caches, failing writes, and training killed at random."""

import errno
import fcntl
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from draw_color import celeba
from draw_color import fileio
from draw_color import model
from draw_color import runs
from draw_color import train
from fakes import MAIN
from fakes import checkpoint_weights
from fakes import make_celeba
from fakes import quiet_env
from fakes import run_config
from fakes import run_main

TINY_FLAGS = ["--image_size=8", "--crop_size=24", "--timesteps=2", "--latent_size=2",
              "--hidden_size=8", "--read_n=3", "--write_n=3", "--batch_size=4", "--split=all",
              "--device=cpu", "--progress_secs=0", "--image_every=2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return make_celeba(tmp_path_factory.mktemp("celeba"), 10)


def main_flags(data_dir, logdir, *flags):
  return [*TINY_FLAGS, "--data_dir=" + data_dir, "--cache_dir=" + os.path.join(data_dir, "cache"),
          "--logdir=" + str(logdir), *flags]


def contents(folder):
  """{path relative to folder: bytes} of every file under it."""
  found = {}
  for root, _, names in os.walk(folder):
    for name in names:
      with open(os.path.join(root, name), "rb") as f:
        found[os.path.relpath(os.path.join(root, name), folder)] = f.read()
  return found


def temporaries(folder):
  return [name for name in contents(folder) if "tmp" in name or "tempstate" in name]


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
  """A logdir trained to step 2 (a checkpoint at 2, every 2 steps)."""
  logdir = tmp_path_factory.mktemp("trained")
  result = run_main(*main_flags(data_dir, logdir, "--max_steps=2", "--checkpoint_every=2"))
  assert result.returncode == 0, result.stderr
  return logdir


@pytest.mark.parametrize("what", ["checkpoint", "meta", "best", "hparams"])
def test_a_failing_write_keeps_every_earlier_output_and_names_the_path(data_dir, trained,
                                                                       tmp_path, what):
  """A file-size limit that stops the checkpoint's weights, only its graph (.meta, written
  after the Saver lists the weights: those of step 4 are then the ones to resume from), the
  best checkpoint's weights (--patience: written before the run's own at an evaluation), or
  hparams.json."""
  logdir = tmp_path / "run"
  shutil.copytree(trained, logdir)
  before = contents(logdir)
  del before[fileio.LOCK]  # the pid of the process that trains, not an output
  checkpoint_size = os.path.getsize(logdir / "model.ckpt-2.data-00000-of-00001")
  meta_size = os.path.getsize(logdir / "model.ckpt-2.meta")  # ~20x the weights
  # hparams.json (~600 bytes), rewritten first on resume, fails under a 300-byte limit.
  limit = {"checkpoint": checkpoint_size - 1, "meta": meta_size // 2,
           "best": checkpoint_size - 1, "hparams": 300}[what]
  patience = ["--eval_every=2", "--patience=2"] if what == "best" else []
  result = run_main(*main_flags(data_dir, logdir, "--max_steps=4", "--checkpoint_every=2",
                                *patience), file_size_limit=limit)
  assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
  ckpt = logdir / "model.ckpt"
  expected = {
      "checkpoint": "error: cannot write checkpoint %s-4 (File too large); the last good one, "
                    "%s-2, is kept" % (ckpt, ckpt),
      "best": "error: cannot write the best checkpoint %s (File too large); the run's own "
              "checkpoints are as they were: a resume goes on from the last and evaluates this "
              "step again" % (logdir / "best" / "model.ckpt-4"),
      "meta": "error: cannot write checkpoint %s-4's graph file, %s-4.meta (File too large); "
              "its weights are written, and a resume goes on from them" % (ckpt, ckpt),
      "hparams": "error: cannot write %s (File too large); what was there before is kept"
                 % (logdir / "hparams.json"),
  }[what]
  assert result.stderr.strip().splitlines()[-1] == expected, result.stderr
  after = contents(logdir)
  if what == "meta":
    del before["checkpoint"]  # the list, which now holds step 4 too
  assert {name: after.get(name) for name in before} == before
  assert runs.readable_checkpoint(str(logdir)) == "%s-%d" % (ckpt, 4 if what == "meta" else 2)
  if what == "meta":  # the .meta's temporary goes at the next start
    assert [os.path.basename(p) for p in temporaries(logdir)] == [
        n for n in os.listdir(logdir) if n.startswith("model.ckpt-4.meta.tmp")]
  else:
    assert not temporaries(logdir)


def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path):
  data_dir = make_celeba(tmp_path / "celeba", 5)
  cache_dir = str(tmp_path / "cache")
  expected = np.stack([celeba.preprocess(p, 24, 8)
                       for p in celeba.list_images(data_dir, "all")])  # [5, 8, 8, 3]
  path = celeba.cache_path(celeba.list_images(data_dir, "all"), "all", 24, 8, cache_dir)
  np.testing.assert_array_equal(celeba.load(data_dir, "all", 24, 8, cache_dir, log=print),
                                expected)
  for damage in (lambda f: f.truncate(200), lambda f: f.write(b"not a numpy file")):
    with open(path, "r+b") as f:
      damage(f)
    said = []
    images = celeba.load(data_dir, "all", 24, 8, cache_dir, log=said.append)
    np.testing.assert_array_equal(images, expected)
    assert any(line.startswith("warning: cache %s is damaged" % path) for line in said), said


def losses(events_path):
  """{step: loss/total} of one events file."""
  found = {}
  for event in tf.compat.v1.train.summary_iterator(events_path):
    for value in event.summary.value:
      if value.tag == "loss/total":
        found[event.step] = value.simple_value
  return found


@pytest.mark.serial
def test_training_killed_at_random_moments_resumes_exactly(data_dir, tmp_path):
  """SIGKILL at several random moments (a checkpoint is written every step, so some land in
  one), the same command each time; then the run ends, every checkpoint on disk restores, no
  temporary is left and the last session's losses are an uninterrupted run's."""
  logdir = tmp_path / "killed"
  flags = main_flags(data_dir, logdir, "--checkpoint_every=1", "--epochs=10")  # 30 steps
  seed = random.randrange(1 << 30)
  rng = random.Random(seed)
  moments = []  # (a step, seconds after its progress line)
  for target in sorted(rng.sample(range(2, 28), 3)):
    moments.append((target, round(rng.uniform(0, 0.1), 3)))  # a step and a save: ~0.1 s
    process = subprocess.Popen([*MAIN, *flags], env=quiet_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
      step = re.search(r"step (\d+)[/ ]", line)
      if step and int(step.group(1)) >= target:
        break
    time.sleep(moments[-1][1])
    process.kill()
    process.communicate()
  result = run_main(*flags)
  context = "random seed %d, killed at (step, s after it) %s: %s" % (seed, moments, result.stderr)
  assert result.returncode == 0, context
  resumed = re.search(r"resumed from .*model\.ckpt-(\d+)", result.stderr)
  assert "step 30/30" in result.stderr and resumed, context

  on_disk = sorted(name[:-len(".index")] for name in os.listdir(logdir)
                   if name.endswith(".index"))
  for prefix in on_disk:
    reader = tf.train.load_checkpoint(str(logdir / prefix))
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  assert "model.ckpt-30" in on_disk, context
  assert not temporaries(logdir), context

  with open(logdir / "hparams.json") as f:
    hparams = json.load(f)
  straight = tmp_path / "straight"
  train.train(run_config(data_dir, straight, model=model.ModelConfig(**hparams["model"]),
                         seed=0, max_steps=0, checkpoint_every=30, image_every=30))
  last_session = max(glob.glob(str(logdir / "events.*")), key=os.path.getmtime)
  found, expected = losses(last_session), losses(glob.glob(str(straight / "events.*"))[0])
  steps = range(int(resumed.group(1)) + 1, 31)
  assert sorted(found) == list(steps), context
  np.testing.assert_allclose([found[s] for s in steps], [expected[s] for s in steps],
                             rtol=1e-5, err_msg=context)


def test_training_removes_what_a_killed_writer_left(data_dir, tmp_path):
  left = ["model.ckpt-3.data-00000-of-00001.tempstate1234567890",
          "checkpoint.tmp" + "0123456789abcdef" * 2, ".hparams.json.abc123.tmp.json",
          "images/.step0000002_t01.png.x1y2z3.tmp.png"]
  kept = ["notes.tmp", "images/my.tmp.png"]
  for name in left + kept:
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_text("")
  train.train(run_config(data_dir, tmp_path, model=model.ModelConfig(
      image_size=8, timesteps=2, latent_size=2, hidden_size=8, read_n=3, write_n=3),
      max_steps=1))
  files = contents(tmp_path)
  assert not [name for name in left if name in files]
  assert all(name in files for name in kept)


def test_a_logdir_trains_in_one_process_at_a_time(data_dir, tmp_path):
  # A checkpoint's temporary of the holder, mid-write: a second trainer must not remove it.
  writing = tmp_path / "model.ckpt-9.index.tempstate1234567890"
  writing.write_text("")
  config = run_config(data_dir, tmp_path, model=TINY_MODEL, max_steps=1)
  with fileio.exclusive(str(tmp_path)):
    assert (tmp_path / fileio.LOCK).read_text() == "%d\n" % os.getpid()
    with pytest.raises(fileio.UserError, match=r"%s is in use by another process \(pid %d\)"
                       % (re.escape(str(tmp_path)), os.getpid())):
      train.train(config)
    assert writing.exists() and not list(tmp_path.glob("model.ckpt-1*"))
  assert train.train(config) == 1
  assert not writing.exists()


def test_the_lock_of_a_killed_process_is_free(tmp_path):
  folder = str(tmp_path)
  holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                             "from draw_color import fileio\n"
                             "with fileio.exclusive(sys.argv[1]):\n"
                             "  print('held', flush=True)\n"
                             "  time.sleep(600)\n", folder], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(fileio.UserError, match="pid %d" % holder.pid):
      with fileio.exclusive(folder):
        pass
  finally:
    holder.kill()
    holder.wait()
  with fileio.exclusive(folder):
    assert open(os.path.join(folder, fileio.LOCK)).read() == "%d\n" % os.getpid()


def test_a_folder_that_cannot_be_locked_is_used_with_a_warning(tmp_path, monkeypatch):
  def no_locks(fd, operation):
    raise OSError(errno.ENOLCK, "No locks available")
  monkeypatch.setattr(fcntl, "flock", no_locks)
  log, ran = [], []
  with fileio.exclusive(str(tmp_path / "run"), log=log.append):
    ran.append(True)
  assert ran and log == ["warning: cannot lock %s (No locks available): make sure that no other "
                         "process trains into %s" % (tmp_path / "run" / fileio.LOCK,
                                                     tmp_path / "run")]


def test_a_logdir_that_cannot_be_made_is_one_user_error(tmp_path, monkeypatch):
  def read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")
  monkeypatch.setattr(os, "makedirs", read_only)
  with pytest.raises(fileio.UserError, match=r"cannot write .*run/\.lock \(Read-only file "
                                             r"system\); choose a --logdir you can write"):
    with fileio.exclusive(str(tmp_path / "run")):
      pass


@pytest.mark.parametrize("under", ["", "run"], ids=["the_file", "below_it"])
def test_a_logdir_that_is_a_file_or_under_one_is_one_user_error(tmp_path, under):
  """A mistyped --logdir naming a file, or a folder under one: makedirs says EEXIST or
  ENOTDIR, which are write errors like a read-only folder's."""
  (tmp_path / "a_file").write_text("")
  logdir = os.path.join(str(tmp_path / "a_file"), under)
  with pytest.raises(fileio.UserError, match=r"cannot write .*a_file/%s\.lock \(.*\); "
                     r"choose a --logdir you can write" % (under and under + "/")):
    with fileio.exclusive(logdir.rstrip("/")):
      pass


def test_outputs_through_a_link_to_what_is_gone_are_one_user_error(tmp_path):
  """A --logdir or --output_dir under a link whose target is gone (an unmounted drive):
  makedirs says ENOENT; until 2026-12-06 a FileNotFoundError traceback."""
  os.symlink(tmp_path / "unmounted" / "drive", tmp_path / "link")
  with pytest.raises(fileio.UserError, match=r"cannot write .*link/run/\.lock \(No such file or "
                     r"directory\); choose a --logdir you can write"):
    with fileio.exclusive(str(tmp_path / "link" / "run")):
      pass
  with pytest.raises(fileio.UserError, match=r"cannot write .*link/out/samples\.png \(No such "
                     r"file or directory\); what was there before is kept"):
    with fileio.atomic_path(str(tmp_path / "link" / "out" / "samples.png")):
      pass
  # A file the writer reads that is missing is not the output's fault: its own error.
  with pytest.raises(FileNotFoundError):
    with fileio.atomic_path(str(tmp_path / "out.png")):
      open(tmp_path / "missing_input")


TINY_MODEL = model.ModelConfig(image_size=8, timesteps=2, latent_size=2, hidden_size=8,
                               read_n=3, write_n=3)  # TINY_FLAGS' model
ENDLESS = 100000  # epochs: 300,000 steps, so a signal always finds the run in its loop


@pytest.mark.serial
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl_c"])
def test_training_stopped_by_a_signal_saves_and_resumes_to_the_same_weights(data_dir, tmp_path,
                                                                           signum):
  """SIGTERM (what a scheduler sends) or SIGINT (Ctrl-C) once the run passed step 3: it saves
  a checkpoint at step S, says so and exits 130; the same command with --max_steps=S+5 goes on
  from it, and its final weights are those of the run trained to S+5 in one go in-process
  (train.train, not the CLI). The run is endless so that however late the signal comes (a
  loaded machine), it comes inside the training loop."""
  logdir = tmp_path / "stopped"
  flags = main_flags(data_dir, logdir, "--checkpoint_every=1000", "--epochs=%d" % ENDLESS)
  # SIGINT as a terminal delivers it: raised as KeyboardInterrupt even if this process ignores it.
  process = subprocess.Popen([*MAIN, *flags], env=quiet_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  log = []
  for line in process.stderr:
    log.append(line)
    step = re.search(r"step (\d+)[/ ]", line)
    if step and int(step.group(1)) >= 3:
      break
  process.send_signal(signum)
  _, rest = process.communicate(timeout=300)
  log = "".join(log) + rest
  saved = re.search(r"interrupted; saved (\S+model\.ckpt-(\d+)); run the same command to resume",
                    log)
  assert process.returncode == 130 and saved, log
  stopped_at = int(saved.group(2))
  assert stopped_at >= 3, log
  assert runs.readable_checkpoint(str(logdir)) == str(logdir / ("model.ckpt-%d" % stopped_at))
  assert not temporaries(logdir), log

  last_step = stopped_at + 5
  result = run_main(*flags, "--max_steps=%d" % last_step)
  assert result.returncode == 0, result.stderr
  assert re.search(r"resumed from \S*model\.ckpt-%d\b" % stopped_at, result.stderr), \
      result.stderr
  with open(logdir / "hparams.json") as f:
    assert json.load(f)["model"] == TINY_MODEL._asdict()
  assert tf.train.latest_checkpoint(str(logdir)).endswith("model.ckpt-%d" % last_step)

  straight = tmp_path / "straight"
  train.train(run_config(data_dir, straight, model=TINY_MODEL, seed=0, epochs=ENDLESS,
                         max_steps=last_step, checkpoint_every=1000, image_every=2))
  found, expected = checkpoint_weights(logdir), checkpoint_weights(straight)
  assert sorted(found) == sorted(expected)
  for name in expected:
    np.testing.assert_allclose(found[name], expected[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_a_signal_stops_training_at_a_safe_point_and_a_second_at_once():
  """The first SIGTERM/SIGINT is only recorded (check() raises it between steps); a second, or
  one inside an `immediate` section, raises at once; a SIGINT ignored before stays ignored."""
  # Python's own SIGINT handler to start from: a process started in the background (`cmd &`
  # from a script) inherits SIGINT ignored, which _Interrupt rightly leaves ignored.
  # raise_signal signals this thread and runs the handler before it returns: no sleeps.
  inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with train._Interrupt() as interrupt:
      signal.raise_signal(signal.SIGTERM)
      assert interrupt.requested
      with pytest.raises(KeyboardInterrupt):
        interrupt.check()
      with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    with train._Interrupt() as interrupt:
      with pytest.raises(KeyboardInterrupt):
        with interrupt.immediate():
          signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with train._Interrupt() as interrupt:
      signal.raise_signal(signal.SIGINT)
      interrupt.check()
  finally:
    signal.signal(signal.SIGINT, inherited)

