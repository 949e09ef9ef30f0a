"""Resuming what real runs meet: copied and moved logdirs, damaged checkpoints, changed flags."""

import json
import os
import shutil

import numpy as np
import pytest

from draw_color import fileio
from draw_color import runs
from draw_color import train
from draw_color.fileio import UserError
from fakes import TINY_RUN as TINY
from fakes import checkpoint_weights as weights
from fakes import run_config
from fakes import run_main
from fakes import write_jpeg


@pytest.fixture
def data_dir(celeba_dir):
  return celeba_dir


def config(data_dir, logdir, **overrides):
  return run_config(data_dir, logdir, **{"model": TINY, **overrides})


def assert_same_weights(found, expected):
  assert found["global_step"] == expected["global_step"]
  for name in expected:
    np.testing.assert_allclose(found[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_copied_logdir_resumes_from_its_own_files(data_dir, tmp_path, resumable,
                                                    straight_to_4):
  original, copy = resumable("original"), tmp_path / "copy"
  shutil.copytree(original, copy)
  # The original moves on; the copy must not follow it.
  train.train(config(data_dir, original, max_steps=6))
  assert runs.checkpoints(str(copy)) == [str(copy / "model.ckpt-2")]
  assert train.train(config(data_dir, copy, max_steps=4)) == 4
  assert_same_weights(weights(copy), straight_to_4)
  assert sorted(f for f in os.listdir(copy) if f.endswith(".index")) == [
      "model.ckpt-2.index", "model.ckpt-4.index"]


def test_a_moved_logdir_resumes(data_dir, tmp_path, resumable, straight_to_4, caplog):
  os.rename(resumable("before"), tmp_path / "after")
  caplog.set_level("INFO")
  assert train.train(config(data_dir, tmp_path / "after", max_steps=4)) == 4
  assert "resumed from %s" % (tmp_path / "after" / "model.ckpt-2") in caplog.text
  assert_same_weights(weights(tmp_path / "after"), straight_to_4)


def test_keep_checkpoints_holds_across_resumes(data_dir, resumable):
  logdir = resumable("run")  # the first session, to step 2
  for last in (4, 6):
    train.train(config(data_dir, logdir, max_steps=last))
  assert sorted(f for f in os.listdir(logdir) if f.endswith(".index")) == [
      "model.ckpt-4.index", "model.ckpt-6.index"]


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def test_a_damaged_latest_checkpoint_is_named_and_the_one_before_it_resumes(
    data_dir, tmp_path, straight_to_4, caplog):
  train.train(config(data_dir, tmp_path, max_steps=3))  # checkpoints 2 and 3
  truncate(tmp_path / "model.ckpt-3.data-00000-of-00001")
  caplog.set_level("INFO")
  assert train.train(config(data_dir, tmp_path, max_steps=4)) == 4
  assert "model.ckpt-3 is damaged (Read less bytes than requested)" in caplog.text
  assert "resumed from %s" % (tmp_path / "model.ckpt-2") in caplog.text
  assert_same_weights(weights(tmp_path), straight_to_4)


def test_eval_and_pictures_fall_back_to_the_newest_checkpoint_that_reads(data_dir, tmp_path):
  train.train(config(data_dir, tmp_path, max_steps=4))
  truncate(tmp_path / "model.ckpt-4.index")
  assert runs.latest_run(str(tmp_path))[0] == str(tmp_path / "model.ckpt-2")
  truncate(tmp_path / "model.ckpt-2.data-00000-of-00001")
  with pytest.raises(UserError, match="no checkpoint in %s restores: model.ckpt-4 .*; "
                     "model.ckpt-2 " % tmp_path):
    runs.latest_run(str(tmp_path))
  with pytest.raises(UserError, match="no checkpoint in .* restores"):
    train.train(config(data_dir, tmp_path, max_steps=6))
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".index") and "-6" in f]


def test_resume_refuses_what_changes_the_data_order_naming_each_flag(data_dir, resumable):
  logdir = resumable("run")
  with pytest.raises(UserError) as e:
    train.train(config(data_dir, logdir, max_steps=4, batch_size=2, seed=7, split="train",
                       crop_size=20))
  message = str(e.value)
  for expected in ("--batch_size=2 (the checkpoint has 4)", "--seed=7 (the checkpoint has 1)",
                   "--split=train (the checkpoint has all)",
                   "--crop_size=20 (the checkpoint has 24)", str(logdir)):
    assert expected in message
  assert weights(logdir)["global_step"] == 2


def test_resume_records_the_settings_it_may_change(data_dir, resumable):
  logdir = resumable("run")
  faster = TINY._replace(learning_rate=0.01)
  assert train.train(config(data_dir, logdir, model=faster, max_steps=4, epochs=20)) == 4
  with open(logdir / "hparams.json") as f:
    saved = json.load(f)
  assert saved["training"]["epochs"] == 20
  assert saved["model"]["learning_rate"] == 0.01


def test_a_checkpoint_without_hparams_is_checked_variable_by_variable(data_dir, resumable):
  """Checkpoints copied without their hparams.json: other flags are refused, variable by
  variable; the same flags resume and write hparams.json anew (until 2026-12-06 a traceback)."""
  logdir = resumable("run")
  os.remove(logdir / "hparams.json")
  with pytest.raises(UserError, match="checkpoint .*model.ckpt-2 does not match the flags "
                     "\\(there is no .*hparams.json\\): variable encoder/kernel is \\[70, 32\\] "
                     "there but \\[72, 36\\] for those settings"):
    train.train(config(data_dir, logdir, model=TINY._replace(hidden_size=9), max_steps=4))
  assert train.train(config(data_dir, logdir, max_steps=4)) == 4
  with open(logdir / "hparams.json") as f:
    assert json.load(f)["model"] == TINY._asdict()


def test_a_damaged_hparams_json_is_one_user_error_before_anything_is_written(data_dir,
                                                                             tmp_path):
  (tmp_path / "hparams.json").write_text('{"model": {"image_size": 8, ')  # cut short
  for read in (lambda: train.train(config(data_dir, tmp_path, max_steps=2)),
               lambda: runs.read_hparams(str(tmp_path))):
    with pytest.raises(UserError, match="cannot read the run's settings from .*hparams.json "
                       "\\(JSONDecodeError"):
      read()
  # And the lock of the logdir (fileio.exclusive), which holds only the pid of the trainer.
  assert sorted(os.listdir(tmp_path)) == [fileio.LOCK, "hparams.json"]


def test_a_negative_seed_is_refused_before_anything_is_written(tmp_path):
  result = run_main("--seed=-1", "--logdir=" + str(tmp_path / "run"))
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert "flag --seed=-1: -1 is not a non-negative integer" in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / "run")


def files(folder):
  """{path: (size, mtime)} of everything under `folder` but the lock, which holds the pid of
  whoever last trained there (fileio.exclusive)."""
  return {os.path.join(root, name): (os.stat(os.path.join(root, name)).st_size,
                                     os.stat(os.path.join(root, name)).st_mtime_ns)
          for root, _, names in os.walk(folder) for name in names if name != fileio.LOCK}


def test_a_resume_on_other_images_is_refused_and_on_the_same_moved_goes_on(
    data_dir, tmp_path, resumable, straight_to_4):
  """A resume that forgot its --data_dir (and found another CelebA) would train on other
  faces, silently; the same faces in another folder are the same run."""
  logdir = resumable("run")  # step 2, on data_dir's 10 faces
  fewer = tmp_path / "fewer"
  shutil.copytree(data_dir, fewer, ignore=shutil.ignore_patterns("cache"))
  os.remove(fewer / "img_align_celeba" / "000010.jpg")
  other = tmp_path / "other"
  shutil.copytree(data_dir, other, ignore=shutil.ignore_patterns("cache"))
  write_jpeg(other / "img_align_celeba" / "000005.jpg", seed=99)
  before = files(logdir)
  with pytest.raises(UserError, match=r"was trained on 10 images of the all split of %s; "
                     r"--data_dir=%s gives 9 images: pass the --data_dir it was trained on"
                     % (data_dir, fewer)):
    train.train(config(str(fewer), logdir))
  with pytest.raises(UserError, match=r"gives as many images but other ones: .* remove "
                     r"\"fingerprint\" from %s" % (logdir / "hparams.json")):
    train.train(config(str(other), logdir))
  assert files(logdir) == before  # refused before a write
  moved = tmp_path / "moved"
  shutil.copytree(data_dir, moved, ignore=shutil.ignore_patterns("cache"))
  assert train.train(config(str(moved), logdir)) == 4
  assert_same_weights(weights(logdir), straight_to_4)
  with open(logdir / "hparams.json") as f:
    data = json.load(f)["data"]
  assert data["data_dir"] == str(moved) and data["images"] == 10
