"""Fixtures shared across test files: the tiny run most training tests start from, trained once
a session. Tests copy its logdir before they change it."""

import shutil

import pytest

from draw_color import train
from fakes import TINY_RUN
from fakes import checkpoint_weights
from fakes import make_celeba
from fakes import run_config


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "serial: races the clock (cluster timeouts, signals at chosen moments), so "
      "`make test` runs it alone, after the others have run in parallel")


@pytest.fixture(scope="session")
def celeba_dir(tmp_path_factory):
  """make_celeba's 10 faces (and, once trained on, their cache); no test changes them."""
  return make_celeba(tmp_path_factory.mktemp("celeba"), 10)


@pytest.fixture(scope="session")
def run_at_2(celeba_dir, tmp_path_factory):
  """The logdir of TINY_RUN trained by run_config's settings to step 2 (a checkpoint at 2)."""
  logdir = tmp_path_factory.mktemp("run_at_2")
  train.train(run_config(celeba_dir, logdir, model=TINY_RUN, max_steps=2))
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
  logdir = tmp_path_factory.mktemp("straight_to_4")
  train.train(run_config(celeba_dir, logdir, model=TINY_RUN, max_steps=4))
  return checkpoint_weights(logdir)
