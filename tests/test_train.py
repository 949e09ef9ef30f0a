"""Training on tiny generated faces: outputs, exact resume, refusals, Ctrl-C and NaN."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from draw_color import cluster
from draw_color import datasets
from draw_color import runs
from draw_color import train
from draw_color.fileio import UserError
from fakes import TINY_RUN as TINY
from fakes import checkpoint_weights as weights
from fakes import run_config
from fakes import script_valid_bounds

@pytest.fixture
def data_dir(celeba_dir):
  return celeba_dir


def config(data_dir, logdir, **overrides):
  return run_config(data_dir, logdir, **{"model": TINY, **overrides})


def test_training_writes_checkpoints_hparams_summaries_and_pictures(data_dir, tmp_path):
  assert train.train(config(data_dir, tmp_path, max_steps=5)) == 5
  files = os.listdir(tmp_path)
  assert sorted(f for f in files if f.endswith(".index")) == ["model.ckpt-4.index",
                                                              "model.ckpt-5.index"]
  with open(tmp_path / "hparams.json") as f:
    assert json.load(f)["model"] == TINY._asdict()
  assert any(f.startswith("events.out.tfevents") for f in files)
  pictures = sorted(os.listdir(tmp_path / "images"))
  assert pictures == ["step%07d_t%02d.png" % (s, t) for s in (2, 4, 5) for t in (1, 2)]


def test_each_evaluation_is_checkpointed_so_a_resume_never_repeats_one(data_dir, tmp_path):
  train.train(config(data_dir, tmp_path, max_steps=7, eval_every=3, checkpoint_every=100,
                     keep_checkpoints=5))
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".index")) == [
      "model.ckpt-3.index", "model.ckpt-6.index", "model.ckpt-7.index"]


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(data_dir, resumable,
                                                                     straight_to_4):
  # 4 steps cross the epoch boundary after step 3.
  resumed = resumable("resumed")  # a first session to step 2
  assert train.train(config(data_dir, resumed, max_steps=4)) == 4
  straight, resumed = straight_to_4, weights(resumed)
  assert resumed["global_step"] == 4
  for name in straight:
    np.testing.assert_allclose(resumed[name], straight[name], rtol=1e-5, atol=1e-6,
                               err_msg=name)


def test_mismatched_architecture_is_refused_naming_each_flag(data_dir, resumable):
  other = TINY._replace(hidden_size=9, compat="original", learning_rate=0.1)
  with pytest.raises(UserError) as e:
    train.train(config(data_dir, resumable("run"), model=other, max_steps=4))
  message = str(e.value)
  assert "--hidden_size=9 (the checkpoint has 8)" in message
  assert "--compat=original (the checkpoint has paper)" in message
  assert "learning_rate" not in message  # optimiser settings may change on resume


def test_a_resume_may_change_the_prior_rate_but_not_whether_the_prior_has_its_own_optimiser():
  """--vaegan_prior_rate: 3 -> 10 restores (the same slots, another rate), 3 -> 1 does not (the
  prior's optimiser and its slots would be gone)."""
  saved = TINY._replace(loss="vaegan", prior="learned", vaegan_prior_rate=3.0)
  assert train._architecture_mismatches(  # pylint: disable=protected-access
      saved, saved._replace(vaegan_prior_rate=10.0)) == []
  assert train._architecture_mismatches(  # pylint: disable=protected-access
      saved, saved._replace(vaegan_prior_rate=1.0)) == [
          "--vaegan_prior_rate=1.0 (the checkpoint has 3.0)"]


def interrupt_at(monkeypatch, bad_step, exception=None, batch_values=None):
  """Makes the training batches raise `exception` or take `batch_values` at `bad_step`."""
  epoch = datasets.Batches.epoch

  def patched(self, epoch_index, start_step=0):
    for i, batch in enumerate(epoch(self, epoch_index, start_step)):
      step = epoch_index * self.steps_per_epoch + start_step + i + 1
      if step == bad_step:
        if exception:
          raise exception
        batch = np.full_like(batch, batch_values)
      yield batch

  monkeypatch.setattr(datasets.Batches, "epoch", patched)


def test_ctrl_c_checkpoints_and_the_run_resumes(data_dir, tmp_path, monkeypatch):
  interrupt_at(monkeypatch, 4, exception=KeyboardInterrupt)
  with pytest.raises(KeyboardInterrupt):
    train.train(config(data_dir, tmp_path, max_steps=6, checkpoint_every=100))
  assert weights(tmp_path)["global_step"] == 3
  monkeypatch.undo()
  assert train.train(config(data_dir, tmp_path, max_steps=6, checkpoint_every=100)) == 6


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path,
                                                                 monkeypatch):
  interrupt_at(monkeypatch, 3, batch_values=np.nan)
  with pytest.raises(UserError, match="loss became nan at step 3"):
    train.train(config(data_dir, tmp_path, max_steps=6))
  good = weights(tmp_path)
  assert good["global_step"] == 2
  assert all(np.isfinite(v).all() for v in good.values())


@pytest.mark.parametrize("interrupted", [False, True])
def test_an_update_to_nonfinite_weights_stops_before_its_checkpoint(data_dir, tmp_path,
                                                                   monkeypatch, interrupted):
  """A rate of 3.4e38 (float32's largest is 3.403e38) from step 3 on: step 3's loss, of the
  weights before its update, is finite, the update is not (Adam's step exceeds the rate where a
  gradient grew: some weight passes float32's largest). The run stops at once (a checkpoint
  every step), or at Ctrl-C before step 4 (a checkpoint every 2 steps), and the checkpoint of
  step 2 is the last one, its weights finite: the broken ones are not saved as step 3's."""
  if interrupted:
    interrupt_at(monkeypatch, 4, exception=KeyboardInterrupt)
  cfg = config(data_dir, tmp_path, max_steps=6, checkpoint_every=2 if interrupted else 1)
  cfg = cfg._replace(model=cfg.model._replace(lr_schedule="2:3.4e38"))
  with pytest.raises(BaseException) as e:  # a KeyboardInterrupt would end the session
    train.train(cfg)
  assert e.type is UserError
  e.match("the update of step 3 made weights inf or NaN; the last good checkpoint is kept in")
  good = weights(tmp_path)
  assert good["global_step"] == 2
  assert all(np.isfinite(v).all() for v in good.values())


@pytest.mark.parametrize("split, warned", [("all", True), ("valid", True), ("train", False)])
def test_training_on_the_valid_split_says_its_bound_is_not_held_out(data_dir, tmp_path, caplog,
                                                                    split, warned):
  caplog.set_level("INFO")
  train.train(config(data_dir, tmp_path, max_steps=1, eval_every=1, split=split))
  assert "valid at step 1" in caplog.text
  assert ("--split=%s trains on the valid split that --eval_every evaluates: its bound is not "
          "held out" % split in caplog.text) == warned


def test_gpu_device_without_gpu_is_a_clear_error():
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this machine has a GPU")
  with pytest.raises(UserError, match="--device=gpu:0 but TensorFlow sees 0 GPU"):
    runs.device_scope("gpu:0")


def test_training_beyond_the_machines_memory_is_one_line_before_its_first_step(
    data_dir, tmp_path, monkeypatch):
  """Every global variable (the model's, Adam's slots, the step), as the Saver writes them,
  and of each step and image x_hat (A^2 C), each LSTM's h and four gates (2 * 5 H) and z:
  T * B * (8 * 8 * 3 + 10 * 8 + 2) * 4 = 8,768 bytes. A machine of a byte less refuses (the
  kernel would kill the run at its first step); one of that many trains."""
  train.train(config(data_dir, tmp_path / "once", max_steps=1))
  reader = tf.train.load_checkpoint(str(tmp_path / "once"))
  dtypes = reader.get_variable_to_dtype_map()
  variables = sum(int(np.prod(shape)) * dtypes[name].size
                  for name, shape in reader.get_variable_to_shape_map().items())
  needed = variables + 2 * 4 * (8 * 8 * 3 + 10 * 8 + 2) * 4
  monkeypatch.setattr(runs, "machine_memory", lambda: needed - 1)
  with pytest.raises(UserError, match=r"^--batch_size=4 at --hidden_size=8 and --timesteps=2 "
                     r"needs at least 0\.0 GB of memory for training, more than this "
                     r"machine's 0\.0 GB: ask for less$"):
    train.train(config(data_dir, tmp_path / "run"))
  assert runs.checkpoints(str(tmp_path / "run")) == []
  monkeypatch.setattr(runs, "machine_memory", lambda: needed)
  assert train.train(config(data_dir, tmp_path / "run")) == 4


def test_the_memory_check_leaves_gpus_and_clusters_to_their_own_errors(monkeypatch):
  """Only the CPU's memory is the machine's; a GPU's allocator and a cluster's tasks (whose
  variables live on the ps) are not compared with it."""
  monkeypatch.setattr(runs, "machine_memory", lambda: 0)
  task = cluster.parse(json.dumps({"cluster": {"ps": ["a:1"], "worker": ["a:2"]},
                                   "task": {"type": "worker", "index": 0}}), 600)
  with tf.Graph().as_default():
    tf.compat.v1.get_variable("w", [10])
    cpu = config("unused", "unused")
    for cfg, devices in [(cpu._replace(device="gpu:0"), []), (cpu._replace(cluster=task), []),
                         (cpu._replace(device="auto"), ["/gpu:0", "/gpu:1"])]:
      train._check_memory(cfg, devices)
    for cfg, devices in [(cpu, []), (cpu._replace(device="auto"), ["/cpu:0", "/cpu:1"])]:
      with pytest.raises(UserError, match="needs at least"):
        train._check_memory(cfg, devices)
    if not tf.config.list_physical_devices("GPU"):
      with pytest.raises(UserError, match="needs at least"):
        train._check_memory(cpu._replace(device="auto"), [])


def test_patience_keeps_the_best_and_stops_across_sessions(data_dir, tmp_path, monkeypatch):
  """--patience=2, an evaluation every step, scripted valid bounds: the best checkpoint
  follows the lowest bound (one kept, across sessions too) and training stops two
  evaluations after it; the same command then trains no further."""
  script_valid_bounds(monkeypatch, [5.0, 4.0, 4.5,  # session 1 (max_steps 3): best at step 2
                                    3.0, 3.5, 3.6])  # session 2: best at 4, stops at 6
  best = tmp_path / train.BEST

  def best_files():
    return sorted(f for f in os.listdir(best) if f.endswith(".index"))

  assert train.train(config(data_dir, tmp_path, max_steps=3, eval_every=1, patience=2)) == 3
  assert best_files() == ["model.ckpt-2.index"]
  with open(best / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 4.0, "step": 2}

  # Each evaluation is checkpointed: keep 4, 5 and 6 to compare BEST with the one at 4.
  assert train.train(config(data_dir, tmp_path, max_steps=20, eval_every=1, patience=2,
                            keep_checkpoints=3)) == 6
  assert best_files() == ["model.ckpt-4.index"]
  assert runs.latest_run(str(best))[0] == str(best / "model.ckpt-4")
  assert weights(tmp_path)["global_step"] == 6  # the stop is checkpointed
  assert weights(best)["global_step"] == 4
  np.testing.assert_array_equal(weights(best)["decoder/kernel"],
                                tf.train.load_checkpoint(str(tmp_path / "model.ckpt-4"))
                                .get_tensor("decoder/kernel"))

  assert train.train(config(data_dir, tmp_path, max_steps=20, eval_every=1, patience=2)) == 6
  with open(best / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 3.0, "step": 4}


def test_patience_passes_over_a_nan_bound(data_dir, tmp_path, monkeypatch):
  """A first evaluation of NaN is not the best: the best is step 2's, and the run stops two
  evaluations after it (a NaN kept as the best would never be beaten: a stop at step 3)."""
  script_valid_bounds(monkeypatch, [float("nan"), 4.0, 4.5, 4.6, 3.0])
  assert train.train(config(data_dir, tmp_path, max_steps=20, eval_every=1, patience=2)) == 4
  with open(tmp_path / train.BEST / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 4.0, "step": 2}


def test_patience_starts_anew_when_a_resume_changes_the_likelihood(data_dir, tmp_path,
                                                                  monkeypatch, caplog):
  """--loss=gaussian: session 1 at sigma 0.5 keeps its best, 1.0 at step 1; session 2 resumes
  at sigma 0.3, whose bounds (scripted 5.0 and up) are of another likelihood: its first
  evaluation is the best anew, and the patience counts from it (the old best kept would have
  stopped the run at step 3). The same sigma again keeps the best."""
  script_valid_bounds(monkeypatch, [1.0, 2.0, 5.0, 6.0, 7.0])
  caplog.set_level("INFO")

  def run(sigma, max_steps):
    model = TINY._replace(loss="gaussian", pixel_sigma=sigma)
    return train.train(config(data_dir, tmp_path, model=model, max_steps=max_steps,
                              eval_every=1, patience=2))

  assert run(0.5, 2) == 2
  assert run(0.3, 20) == 5
  with open(tmp_path / train.BEST / runs.BEST_JSON) as f:
    assert json.load(f) == {"bound": 5.0, "step": 3}
  # Once, where the first evaluation replaces it.
  assert caplog.text.count("measured with") == 1
  assert "of %s, 1.0000, was measured with a Gaussian likelihood of sigma 0.5, this run's with " \
      "0.3: it is not this run's best" % (tmp_path / train.BEST) in caplog.text
  caplog.clear()
  assert run(0.3, 20) == 5
  assert "measured with" not in caplog.text


@pytest.mark.parametrize("lr_schedule, stop, since, counted", [
    ("", 4, "since it;", ["1", "2"]), ("1:0.5", 4, "since it;", ["1", "2"]),
    ("3:0.5", 5, "since the rate change at step 3;",
     ["0 @3", "1 @3", "2 @3"]),
    ("4:0.5,100:0.25", 6, "since the rate change at step 4;",
     ["1", "0 @4", "1 @4", "2 @4"])])
def test_patience_counts_from_the_last_rate_change_too(data_dir, tmp_path, monkeypatch, caplog,
                                                       lr_schedule, stop, since, counted):
  """--patience=2, the best bound at step 2 and none better after: the run stops two
  evaluations after the later of the best and the last rate change so far: a change at step 1
  is older than the best; one at 3 moves the stop to 5; one at 4 (the evaluation at 4 comes
  before its first update) moves it to 6, and one at 100 is not yet due. The log says which
  started the count, at the stop and at each evaluation from step 3 on (`counted`: how many
  evaluations of the patience are spent, @ the rate change they count from)."""
  bounds = [5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9]
  script_valid_bounds(monkeypatch, bounds)
  model = TINY._replace(lr_schedule=lr_schedule)
  caplog.set_level("INFO")
  assert train.train(config(data_dir, tmp_path, model=model, max_steps=7, eval_every=1,
                            patience=2)) == stop
  stopped = [r.getMessage() for r in caplog.records if "stopped early" in r.getMessage()]
  assert len(stopped) == 1
  assert "stopped early at step %d: the valid bound has not improved on 4.0000 (step 2)" % stop \
      in stopped[0]
  assert since in stopped[0], stopped[0]
  best = tmp_path / train.BEST
  expected = ["valid bound 5.0000: the best so far, kept in %s" % best,
              "valid bound 4.0000: the best so far, kept in %s" % best]
  for bound, count in zip(bounds[2:], counted):
    spent, _, change = count.partition(" @")
    expected.append("valid bound %.4f: not below the best, 4.0000 (step 2), for %s of the "
                    "--patience=2 evaluations%s" % (bound, spent, change and
                                                    " since the rate change at step " + change))
  assert [r.getMessage() for r in caplog.records
          if r.getMessage().startswith("valid bound ")] == expected


def test_each_evaluation_records_the_rate_of_the_steps_before_it(data_dir, tmp_path):
  """--lr_schedule=2:0.5: the updates from global step 2 on are at 0.5, so the evaluation
  after step 3 is the first to record it (the plot marks a stage where the rate changes)."""
  model = TINY._replace(lr_schedule="2:0.5")
  assert train.train(config(data_dir, tmp_path, model=model, max_steps=3, eval_every=1)) == 3
  assert [r["learning_rate"] for r in runs.read_history(str(tmp_path))] == pytest.approx(
      [TINY.learning_rate, TINY.learning_rate, 0.5])
