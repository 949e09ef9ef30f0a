"""--mode=export: the weights to ship, without the optimiser, read back like the run."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from draw_color import evaluate
from draw_color import export
from draw_color import fileio
from draw_color import model
from draw_color import train
from fakes import checkpoint_weights
from fakes import make_mnist

MNIST = model.ModelConfig(image_size=28, channels=1, timesteps=2, latent_size=3, hidden_size=8,
                          read_n=2, write_n=3, loss="bernoulli", prior="learned")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp("export")
  data_dir = make_mnist(root / "mnist")
  logdir = str(root / "run")
  train.train(train.RunConfig(
      model=MNIST, dataset="mnist", data_dir=data_dir, split="train", crop_size=None,
      cache_dir=None, epochs=1, batch_size=4, max_steps=3, seed=0, logdir=logdir,
      checkpoint_every=100, keep_checkpoints=1, image_every=100, eval_every=0,
      progress_secs=0.0, device="cpu"))
  exported = str(root / "pretrained" / "tiny")
  path, step = export.export(logdir, exported)
  return logdir, exported, path, step


def test_export_keeps_the_models_weights_and_drops_the_optimisers(run):
  logdir, exported, path, step = run
  assert step == 3 and os.path.basename(path) == "model.ckpt-3"
  trained, shipped = checkpoint_weights(logdir), checkpoint_weights(exported)
  # Adam's slots and its beta powers are what training alone needs.
  optimiser = {name for name in trained if "Adam" in name or "beta1_power" in name
               or "beta2_power" in name}
  assert optimiser and set(shipped) == set(trained) - optimiser
  assert any(name.startswith("prior/") for name in shipped)
  for name, value in shipped.items():
    np.testing.assert_array_equal(value, trained[name], err_msg=name)
  with open(os.path.join(logdir, "hparams.json")) as a, \
      open(os.path.join(exported, "hparams.json")) as b:
    assert json.load(a) == json.load(b)
  # Paths relative to the folder, so the shipped folder works wherever it is cloned.
  listed = open(os.path.join(exported, "checkpoint")).read()
  assert os.path.dirname(exported) not in listed


def test_the_exported_folder_evaluates_as_the_run_does(run):
  logdir, exported, _, _ = run
  results = [evaluate.run(evaluate.EvalConfig(
      logdir=d, data_dir=None, split="test", crop_size=None, cache_dir=None, batch_size=4,
      seed=3, progress_secs=0.0, device="cpu", num_samples=4)) for d in (logdir, exported)]
  for result in results:
    result.pop("checkpoint")
  assert results[0] == results[1]
  assert os.path.exists(os.path.join(exported, "eval_test.json"))


def test_export_never_overwrites_and_names_a_missing_run(run, tmp_path):
  logdir, exported, _, _ = run
  with pytest.raises(fileio.UserError, match="already holds a checkpoint"):
    export.export(logdir, exported)
  with pytest.raises(fileio.UserError, match="no checkpoint in"):
    export.export(str(tmp_path / "nothing"), str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")
