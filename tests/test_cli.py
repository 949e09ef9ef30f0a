"""The command line a new user meets: dataset defaults, export, the console command, plots."""

import json
import os
import runpy
import subprocess
import sys

from fakes import make_mnist
from fakes import refusal
from fakes import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_FLAGS = ["--timesteps=2", "--latent_size=2", "--hidden_size=8", "--read_n=3",
              "--write_n=3", "--batch_size=4", "--device=cpu", "--progress_secs=0"]


def test_mnist_brings_its_own_image_size_and_a_contradiction_is_refused(tmp_path):
  data_dir = make_mnist(tmp_path / "mnist")
  logdir = tmp_path / "run"
  result = run_main("--dataset=mnist", "--data_dir=" + data_dir, "--logdir=" + str(logdir),
                    "--max_steps=1", *TINY_FLAGS)
  assert result.returncode == 0, result.stderr
  with open(logdir / "hparams.json") as f:
    hparams = json.load(f)
  assert hparams["model"]["image_size"] == 28 and hparams["model"]["channels"] == 1
  assert hparams["data"]["crop_size"] is None
  # Shipped, it names the folder where users keep the digits, not this machine's.
  shipped = tmp_path / "pretrained" / "tiny"
  exported = run_main("--mode=export", "--logdir=" + str(logdir), "--export_dir=" + str(shipped),
                      "--data_dir=data/mnist")
  assert exported.returncode == 0, exported.stderr
  with open(shipped / "hparams.json") as f:
    assert json.load(f)["data"]["data_dir"] == "data/mnist"

  for contradiction in ("--image_size=64", "--crop_size=108"):
    assert "--dataset=mnist needs --image_size=28 (its default), no --crop_size" in refusal(
        "--dataset=mnist", contradiction)


def setup_arguments():
  """The keyword arguments setup.py gives setuptools.setup, without installing anything."""
  import setuptools  # pylint: disable=import-outside-toplevel
  found = {}
  real = setuptools.setup
  setuptools.setup = lambda **kwargs: found.update(kwargs)
  try:
    runpy.run_path(os.path.join(ROOT, "setup.py"))
  finally:
    setuptools.setup = real
  return found


def test_the_console_command_is_the_module_command(tmp_path):
  scripts = setup_arguments()["entry_points"]["console_scripts"]
  assert len(scripts) == 1 and scripts[0].startswith("draw-color=")
  module, function = scripts[0].split("=")[1].split(":")
  # What pip's draw-color script does: import the module and call the function.
  command = (sys.executable, "-c", "import sys, %s as m; sys.argv[0] = 'draw-color'; "
             "sys.exit(m.%s())" % (module, function))
  missing = str(tmp_path / "nowhere")
  result = run_main("--data_dir=" + missing, "--logdir=" + str(tmp_path / "run"),
                    command=command)
  assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith("error: no CelebA images: " + missing)


def test_make_tensorboard_installs_it_if_missing_and_serves_the_runs(tmp_path):
  venv = tmp_path / "venv"
  (venv / "bin").mkdir(parents=True)
  calls = tmp_path / "calls"
  for installed in (False, True):
    # A python that logs its arguments; `-c "import tensorboard"` fails until installed.
    (venv / "bin" / "python").write_text(
        "#!/bin/sh\necho \"$@\" >> %s\n[ \"$1\" = -c ] && exit %d\nexit 0\n"
        % (calls, 0 if installed else 1))
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".installed").touch()  # newer than setup.py: `make install` has nothing to do
    if calls.exists():
      calls.unlink()
    result = subprocess.run(["make", "-s", "-C", ROOT, "tensorboard", "VENV=" + str(venv)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = ["-c import tensorboard"] + (
        [] if installed else ["-m pip install --quiet tensorboard"]) + [
        "-m tensorboard.main --logdir runs"]
    assert calls.read_text().splitlines() == expected
