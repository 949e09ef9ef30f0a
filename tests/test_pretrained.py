"""The weights shipped in pretrained/ still load and give the test bounds they were shipped with,
and the README quotes those bounds: a change to the graph, its variable names or the evaluation
that would silently change what the shipped models mean fails here (needs the shared MNIST)."""

import json
import os

import pytest

from draw_color import evaluate
from draw_color import runs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(REPO_ROOT, "pretrained")
SHARED_MNIST = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist", "binarized")
MODELS = sorted(name for name in os.listdir(PRETRAINED)
                if os.path.exists(os.path.join(PRETRAINED, name, "eval_test.json")))


def shipped(name):
  with open(os.path.join(PRETRAINED, name, "eval_test.json")) as f:
    return json.load(f)["results"]


def test_mnist_models_are_shipped():
  assert {"mnist_attention", "mnist_noattn"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_shipped_weights_reproduce_their_test_bound(tmp_path, name):
  if not os.path.isdir(SHARED_MNIST):
    pytest.skip("no binarized MNIST at %s (the project's shared data)" % SHARED_MNIST)
  # The JSON goes to tmp_path: the shipped folder stays as it is.
  config = evaluate.EvalConfig(logdir=os.path.join(PRETRAINED, name), data_dir=SHARED_MNIST,
                               split="test", crop_size=None, cache_dir=None, batch_size=64,
                               seed=0, progress_secs=600.0, device="cpu", num_samples=64,
                               output_dir=str(tmp_path))
  results = evaluate.run(config)
  expected = shipped(name)
  assert results["step"] == expected["step"] and results["images"] == 10000
  assert results["bound"] == pytest.approx(expected["bound"], abs=0.005)
  assert results["kl"] == pytest.approx(expected["kl"], abs=0.005)


@pytest.mark.parametrize("name", MODELS)
def test_readme_table_quotes_the_shipped_test_bound(name):
  with open(os.path.join(REPO_ROOT, "README.md")) as f:
    rows = [line for line in f if line.startswith("|") and "`pretrained/%s`" % name in line]
  results = shipped(name)
  assert rows, "no README table row names pretrained/%s" % name
  assert any("%.2f" % results["bound"] in row and "{:,}".format(results["step"]) in row
             for row in rows), rows


@pytest.mark.parametrize("name", MODELS)
def test_the_shipped_history_ends_at_the_shipped_weights(name):
  """valid_history.csv (the README's MNIST figure) is the line of these weights: its last
  evaluation is theirs, as valid.json has it, and its steps only go forward."""
  history = runs.read_history(os.path.join(PRETRAINED, name))
  best = runs.read_best(os.path.join(PRETRAINED, name))
  steps = [row["step"] for row in history]
  assert steps == sorted(set(steps)) and steps[-1] == best["step"] == shipped(name)["step"]
  assert history[-1]["bound"] == pytest.approx(best["bound"], abs=1e-4)
