"""Fixtures shared across test files: the tiny run most training tests start from, trained once
a session. Tests copy its logdir before they change it.

TensorFlow is imported inside the fixtures: pytest-xdist's controller loads this file without
running a test, and an import here would print TensorFlow's start-up lines into its output
(they come before absl's logging starts, so TF_CPP_MIN_LOG_LEVEL does not hide them)."""

import shutil

import pytest


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "serial: races the clock (cluster timeouts, signals at chosen moments), so "
      "`make test` runs it alone, after the others have run in parallel")


@pytest.fixture(scope="session")
def celeba_dir(tmp_path_factory):
  """make_celeba's 10 faces (and, once trained on, their cache); no test changes them."""
  import fakes  # pylint: disable=import-outside-toplevel
  return fakes.make_celeba(tmp_path_factory.mktemp("celeba"), 10)


@pytest.fixture(scope="session")
def run_at_2(celeba_dir, tmp_path_factory):
  """The logdir of TINY_RUN trained by run_config's settings to step 2 (a checkpoint at 2)."""
  from draw_color import train  # pylint: disable=import-outside-toplevel
  import fakes  # pylint: disable=import-outside-toplevel
  logdir = tmp_path_factory.mktemp("run_at_2")
  train.train(fakes.run_config(celeba_dir, logdir, model=fakes.TINY_RUN, max_steps=2))
  return logdir


@pytest.fixture
def resumable(run_at_2, tmp_path):
  """Returns a function that copies run_at_2 to tmp_path / name, to go on from step 2."""
  def copy(name):
    shutil.copytree(run_at_2, tmp_path / name)
    return tmp_path / name
  return copy


@pytest.fixture(scope="session")
def straight_to_4(celeba_dir, tmp_path_factory):
  """{variable: value} of TINY_RUN trained by run_config's settings to step 4 in one go."""
  from draw_color import train  # pylint: disable=import-outside-toplevel
  import fakes  # pylint: disable=import-outside-toplevel
  logdir = tmp_path_factory.mktemp("straight_to_4")
  train.train(fakes.run_config(celeba_dir, logdir, model=fakes.TINY_RUN, max_steps=4))
  return fakes.checkpoint_weights(logdir)
