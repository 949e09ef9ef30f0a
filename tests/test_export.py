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
from draw_color import runs
from draw_color import train
from fakes import checkpoint_weights
from fakes import make_mnist
from fakes import script_valid_bounds

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


def _continue(exported, logdir, max_steps, **overrides):
  """Trains into `logdir` from `exported` to `max_steps`, as the fixture's run was trained."""
  config = dict(model=MNIST, dataset="mnist", data_dir=os.path.join(os.path.dirname(
      os.path.dirname(exported)), "mnist"), split="train", crop_size=None, cache_dir=None,
      epochs=2, batch_size=4, max_steps=max_steps, seed=0, logdir=str(logdir),
      checkpoint_every=100, keep_checkpoints=1, image_every=100, eval_every=0,
      progress_secs=0.0, device="cpu", init_from=exported)
  config.update(overrides)
  return train.train(train.RunConfig(**config))


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


def _evaluations(*logdirs):
  """evaluate.run's numbers of each logdir on the test split, with the same noise."""
  results = [evaluate.run(evaluate.EvalConfig(
      logdir=d, data_dir=None, split="test", crop_size=None, cache_dir=None, batch_size=4,
      seed=3, progress_secs=0.0, device="cpu", num_samples=4)) for d in logdirs]
  for result in results:
    result.pop("checkpoint")
  return results


def test_the_exported_folder_evaluates_as_the_run_does(run):
  logdir, exported, _, _ = run
  results = _evaluations(logdir, exported)
  assert results[0] == results[1]
  assert os.path.exists(os.path.join(exported, "eval_test.json"))


def test_pieces_are_row_blocks_with_their_place_in_the_whole():
  value = np.arange(15, dtype=np.float32).reshape(5, 3)  # rows of 12 bytes
  got = export.pieces("w", value, shard_bytes=24)
  # The V2 spec: the full shape, then start,length of the rows and "-" (all) of the columns.
  assert [(name, spec) for name, spec, _ in got] == [
      ("w", "5 3 0,2:-"), ("w", "5 3 2,2:-"), ("w", "5 3 4,1:-")]
  np.testing.assert_array_equal(np.concatenate([piece for _, _, piece in got]), value)
  assert [spec for _, spec, _ in export.pieces("w", value, shard_bytes=60)] == [""]
  assert [spec for _, spec, _ in export.pieces("v", np.zeros(7, np.int64), 16)] == [
      "7 0,2", "7 2,2", "7 4,2", "7 6,1"]
  assert [spec for _, spec, _ in export.pieces("step", np.int64(9), 1)] == [""]


def test_large_weights_go_into_files_of_at_most_the_shard_size_and_read_back_whole(run,
                                                                                  tmp_path):
  logdir, exported, _, _ = run
  sharded = str(tmp_path / "sharded")
  export.export(logdir, sharded, shard_bytes=1000)
  data = [name for name in os.listdir(sharded) if ".data-" in name]
  sizes = [os.path.getsize(os.path.join(sharded, name)) for name in data]
  assert len(data) > 3 and max(sizes) <= 1000, dict(zip(data, sizes))
  assert sorted(os.listdir(sharded)) == sorted(
      data + ["checkpoint", "hparams.json", "model.ckpt-3.index"])
  assert tf.train.list_variables(os.path.join(sharded, "model.ckpt-3")) == \
      tf.train.list_variables(os.path.join(exported, "model.ckpt-3"))
  whole, pieces = checkpoint_weights(exported), checkpoint_weights(sharded)
  assert set(pieces) == set(whole)
  for name, value in whole.items():
    np.testing.assert_array_equal(pieces[name], value, err_msg=name)
  results = _evaluations(logdir, sharded)
  assert results[0] == results[1]


def test_an_export_into_a_relative_folder_names_its_checkpoint_by_file_name(run, tmp_path,
                                                                          monkeypatch):
  logdir, _, _, _ = run
  monkeypatch.chdir(tmp_path)
  export.export(logdir, os.path.join("pretrained", "here"))
  with open(tmp_path / "pretrained" / "here" / "checkpoint") as f:
    assert f.read() == ('model_checkpoint_path: "model.ckpt-3"\n'
                        'all_model_checkpoint_paths: "model.ckpt-3"\n')
  assert tf.train.latest_checkpoint("pretrained/here") == "pretrained/here/model.ckpt-3"


def test_an_export_given_a_data_folder_records_it_and_reads_its_digits_from_there(
    run, tmp_path, monkeypatch):
  logdir, _, _, _ = run
  # Where users keep the digits, relative to their clone: other digits than the run's.
  monkeypatch.chdir(tmp_path)
  make_mnist(tmp_path / "data" / "mnist", seed=1)
  export.export(logdir, "shipped", data_dir=os.path.join("data", "mnist"))
  with open(os.path.join(logdir, "hparams.json")) as a, open("shipped/hparams.json") as b:
    trained, shipped = json.load(a), json.load(b)
  assert shipped["data"].pop("data_dir") == os.path.join("data", "mnist")
  trained["data"].pop("data_dir")
  assert shipped == trained
  # Evaluated without a data folder, the export reads the digits its hparams.json names.
  told = evaluate.run(evaluate.EvalConfig(
      logdir=logdir, data_dir=str(tmp_path / "data" / "mnist"), split="test", crop_size=None,
      cache_dir=None, batch_size=4, seed=3, progress_secs=0.0, device="cpu", num_samples=4))
  found = _evaluations("shipped")[0]
  assert found["bound"] == told["bound"] != _evaluations(logdir)[0]["bound"]


def test_export_never_overwrites_and_names_a_missing_run(run, tmp_path):
  logdir, exported, _, _ = run
  with pytest.raises(fileio.UserError, match="already holds a checkpoint"):
    export.export(logdir, exported)
  with pytest.raises(fileio.UserError, match="no checkpoint in"):
    export.export(str(tmp_path / "nothing"), str(tmp_path / "out"))
  assert not os.path.exists(tmp_path / "out")


def test_a_new_run_starts_from_the_exported_weights_and_step_with_a_fresh_adam(run, tmp_path):
  _, exported, _, _ = run
  assert _continue(exported, tmp_path / "warm", max_steps=4) == 4
  shipped, warm = checkpoint_weights(exported), checkpoint_weights(tmp_path / "warm")
  # Adam's beta1 power starts at beta1 and is multiplied by it at every step: one step of a
  # fresh Adam leaves beta1^2 (the run it was exported from had taken 3: beta1^4).
  np.testing.assert_allclose(warm["beta1_power"], MNIST.beta1 ** 2)
  assert warm["global_step"] == 4
  # The first step of a fresh Adam moves each weight by lr * |g| / (|g| + eps'), at most the
  # learning rate, and by it where the gradient is large: so the weights were the exported
  # ones (a new initialisation would be ~0.02 away).
  moves = np.concatenate([np.abs(warm[name] - value).ravel() for name, value in shipped.items()
                          if name != "global_step"])
  np.testing.assert_allclose(moves.max(), MNIST.learning_rate, rtol=1e-4)
  with open(tmp_path / "warm" / "hparams.json") as f:
    assert json.load(f)["training"]["init_from"] == exported


def test_init_from_is_ignored_once_the_run_has_a_checkpoint_and_stays_recorded(run, tmp_path):
  _, exported, _, _ = run
  _continue(exported, tmp_path / "warm", max_steps=4)
  _continue(exported, tmp_path / "warm", max_steps=5, init_from=None)
  _continue(exported, tmp_path / "warm", max_steps=6, init_from=str(tmp_path / "elsewhere"))
  # Resumed with its own Adam (three steps: beta1^4), not started again from the export, and
  # hparams.json still says where the run started from.
  np.testing.assert_allclose(checkpoint_weights(tmp_path / "warm")["beta1_power"],
                             MNIST.beta1 ** 4)
  with open(tmp_path / "warm" / "hparams.json") as f:
    assert json.load(f)["training"]["init_from"] == exported


def test_init_from_names_a_missing_folder_and_another_architecture(run, tmp_path):
  _, exported, _, _ = run
  with pytest.raises(fileio.UserError, match="--init_from: no checkpoint in .*nothing"):
    _continue(str(tmp_path / "nothing"), tmp_path / "a", max_steps=4)
  with pytest.raises(fileio.UserError, match=r"--hidden_size=16 \(the checkpoint has 8\)"):
    _continue(exported, tmp_path / "b", max_steps=4, model=MNIST._replace(hidden_size=16))


def _export_a_best(tmp_path, model_config):
  """(logdir, export): a run to step 2 evaluating every step with --patience, its BEST
  exported; the bounds are the test's script."""
  data_dir = make_mnist(tmp_path / "mnist")
  first = tmp_path / "first"
  train.train(train.RunConfig(
      model=model_config, dataset="mnist", data_dir=data_dir, split="train", crop_size=None,
      cache_dir=None, epochs=1, batch_size=4, max_steps=2, seed=0, logdir=str(first),
      checkpoint_every=100, keep_checkpoints=1, image_every=100, eval_every=1,
      progress_secs=0.0, device="cpu", patience=5))
  exported = str(tmp_path / "pretrained" / "best")
  assert export.export(str(first / train.BEST), exported)[1] == 2
  return first, exported


def test_a_run_from_an_export_of_another_sigma_starts_its_best_anew(tmp_path, monkeypatch,
                                                                   caplog):
  """The same script, the Gaussian loss at sigma 0.5 then 0.3: the export's 4.0 is of another
  likelihood, so the run from it takes 4.5 at step 3 and 4.2 at 4 as its bests and trains on
  to 6, saying once why it did not carry the export's."""
  script_valid_bounds(monkeypatch, [5.0, 4.0, 4.5, 4.2, 4.6, 4.7])
  caplog.set_level("INFO")
  gaussian = MNIST._replace(loss="gaussian", pixel_sigma=0.5)
  _, exported = _export_a_best(tmp_path, gaussian)
  on = tmp_path / "on"
  assert _continue(exported, on, max_steps=6, eval_every=1, patience=2,
                   model=gaussian._replace(pixel_sigma=0.3)) == 6
  with open(on / train.BEST / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 4.2, "step": 4}
  assert caplog.text.count("measured with") == 1
  assert "of %s, 4.0000, was measured with a Gaussian likelihood of sigma 0.5, this run's with " \
      "0.3: it is not this run's best" % exported in caplog.text


def test_a_run_from_an_exported_best_counts_its_patience_from_that_evaluation(tmp_path,
                                                                             monkeypatch,
                                                                             caplog):
  """Scripted valid bounds: a first run's best is 4.0 at step 2; its export carries that, so a
  run from it with --patience=2 beats neither 4.5 nor 4.2 and stops at step 4 (from scratch
  it would take 4.5 at 3 and 4.2 at 4 as its bests and train on to 6)."""
  script_valid_bounds(monkeypatch, [5.0, 4.0, 4.5, 4.2, 4.6, 4.7])
  first, exported = _export_a_best(tmp_path, MNIST)
  with open(os.path.join(exported, runs.BEST_JSON)) as f:
    assert json.load(f) == {"bound": 4.0, "step": 2}
  # Each evaluation's bound, KL and generation loss, as the logged line has them.
  history = runs.read_history(str(first))
  assert [(r["step"], r["bound"]) for r in history] == [(1, 5.0), (2, 4.0)]
  assert all(r["learning_rate"] == pytest.approx(MNIST.learning_rate) and r["kl"] > 0
             and r["generation"] > 0 for r in history)
  assert runs.read_history(str(first / train.BEST)) == history
  assert runs.read_history(exported) == history

  on = tmp_path / "on"
  caplog.clear()
  caplog.set_level("INFO")
  assert _continue(exported, on, max_steps=6, eval_every=1, patience=2) == 4
  with open(on / train.BEST / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 4.0, "step": 2}
  # The export's best is carried, said once; each evaluation after it counts the patience.
  assert [r.getMessage() for r in caplog.records
          if r.getMessage().startswith(("the best", "valid bound"))] == [
      "the best valid bound so far is %s's: 4.0000 (step 2)" % exported,
      "valid bound 4.5000: not below the best, 4.0000 (step 2), for 1 of the --patience=2 "
      "evaluations",
      "valid bound 4.2000: not below the best, 4.0000 (step 2), for 2 of the --patience=2 "
      "evaluations"]
  # The run from the export goes on with the history of the weights it started from.
  assert [(r["step"], r["bound"]) for r in runs.read_history(str(on))] == [
      (1, 5.0), (2, 4.0), (3, 4.5), (4, 4.2)]
  assert runs.read_history(str(on / train.BEST)) == history
  kept, shipped = checkpoint_weights(on / train.BEST), checkpoint_weights(exported)
  for name, value in shipped.items():
    np.testing.assert_array_equal(kept[name], value, err_msg=name)


def test_a_resumed_run_forgets_the_evaluations_after_its_checkpoint(tmp_path):
  data_dir = make_mnist(tmp_path / "mnist")
  config = dict(model=MNIST, dataset="mnist", data_dir=data_dir, split="train",
                crop_size=None, cache_dir=None, epochs=2, batch_size=4, max_steps=2, seed=0,
                logdir=str(tmp_path / "run"), checkpoint_every=100, keep_checkpoints=1,
                image_every=100, eval_every=2, progress_secs=0.0, device="cpu")
  train.train(train.RunConfig(**config))
  # A run killed after evaluating step 5 but before its checkpoint there.
  rows = runs.read_history(config["logdir"]) + [
      {"step": 5, "learning_rate": 1e-3, "bound": 1.0, "kl": None, "generation": None}]
  runs.write_history(config["logdir"], rows)
  assert runs.read_history(config["logdir"]) == rows
  assert runs.read_history(config["logdir"], until=4) == rows[:-1]
  config["max_steps"] = 4
  train.train(train.RunConfig(**config))
  assert [r["step"] for r in runs.read_history(config["logdir"])] == [2, 4]


def test_a_history_that_does_not_read_is_one_line_naming_it(tmp_path):
  (tmp_path / runs.HISTORY).write_text("step,learning_rate,bound,kl,generation\n2,x,1,,\n")
  with pytest.raises(fileio.UserError, match="cannot read %s" % (tmp_path / runs.HISTORY)):
    runs.read_history(str(tmp_path))
