"""`python -m draw_color.main` end to end on tiny sizes, as a user runs it."""

import json
import os

import pytest

from fakes import make_celeba
from fakes import parsing
from fakes import refusal
from fakes import run_main

TINY_FLAGS = ["--image_size=8", "--crop_size=24", "--timesteps=2", "--latent_size=2",
              "--hidden_size=8", "--read_n=3", "--write_n=3", "--batch_size=4", "--split=all",
              "--device=cpu", "--progress_secs=0", "--checkpoint_every=2", "--image_every=2"]


def assert_one_line_error(result, *expected):
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  lines = [l for l in result.stderr.splitlines() if "error" in l.lower()]
  assert lines, result.stderr
  for text in expected:
    assert text in lines[-1], result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return make_celeba(tmp_path_factory.mktemp("celeba"), 10)


def test_train_resume_and_refuse_mismatched_flags(data_dir, tmp_path):
  common = TINY_FLAGS + ["--data_dir=" + data_dir, "--logdir=" + str(tmp_path),
                         "--cache_dir=" + str(tmp_path / "cache")]
  first = run_main(*common, "--max_steps=3")
  assert first.returncode == 0, first.stderr
  assert "step 3/3" in first.stderr and "img/s" in first.stderr and "ETA" in first.stderr
  assert os.path.exists(tmp_path / "model.ckpt-3.index")

  # --write_sigma_floor adds no variable: a run may take it up when resumed.
  second = run_main(*common, "--max_steps=5", "--write_sigma_floor=0.5")
  assert second.returncode == 0, second.stderr
  with open(tmp_path / "hparams.json") as f:
    assert json.load(f)["model"]["write_sigma_floor"] == 0.5
  assert "resumed from" in second.stderr and "model.ckpt-3" in second.stderr
  # Once, in absl's format; no deprecation notice about TensorFlow's own calls.
  assert second.stderr.count("Restoring parameters from") == 1, second.stderr
  assert "deprecat" not in second.stderr, second.stderr
  assert "step 5/5" in second.stderr and "step 1/" not in second.stderr

  third = run_main(*common, "--max_steps=7", "--hidden_size=16")
  assert_one_line_error(third, "--hidden_size=16 (the checkpoint has 8)", str(tmp_path))

  # Another logdir started from this run's weights: it goes on from step 5.
  warm = run_main(*common[:-2], "--logdir=" + str(tmp_path / "warm"),
                  "--cache_dir=" + str(tmp_path / "cache"), "--init_from=" + str(tmp_path),
                  "--max_steps=6")
  assert warm.returncode == 0, warm.stderr
  assert "a new run from the weights of %s" % (tmp_path / "model.ckpt-5") in warm.stderr
  assert "step 6/6" in warm.stderr and os.path.exists(tmp_path / "warm" / "model.ckpt-6.index")


# Flags each refused by a validator, and what its one-line error says.
BAD_FLAGS = [
    (["--compat=nonsense"], ["compat"]),
    (["--device=tpu"], ["--device must be auto, cpu or gpu:N"]),
    (["--read_n=1"], ["read_n"]),
    (["--devices=cpu:0,gpu:1"], ["--devices must be distinct entries of one kind"]),
    (["--devices=cpu:0,cpu:1", "--loss=vaegan"], ["--loss=vaegan trains on one device only"]),
    (["--cluster_timeout=0"], ["--cluster_timeout must be a positive number of seconds"]),
    (["--patience=3"], ["--patience counts evaluations: it needs --eval_every"]),
    (["--patience=3", "--eval_every=10", "--loss=vaegan"],
     ["--patience keeps the lowest valid bound, which --loss=vaegan does not minimise"]),
    (["--write_sigma_floor=0.5", "--nowrite_attn"],
     ["--write_sigma_floor bounds the write filters: it needs --write_attn"]),
    (["--lr_schedule=900:1e-4,800:3e-5"], ["--lr_schedule takes STEP:RATE pairs"]),
    (["--lr_schedule=900:1e-4", "--lr_decay_steps=100"],
     ["--lr_schedule and --lr_decay_steps are two schedules"]),
    (["--mode=sample", "--temperature=nan"], ["--temperature must be a number float32 holds"]),
]


def test_bad_flag_values_are_refused_at_parse_time():
  for argv, expected in BAD_FLAGS:
    message = refusal(*argv)
    assert message and all(text in message for text in expected), (argv, message)
  # As a user sees it: one line, no traceback.
  assert_one_line_error(run_main(*BAD_FLAGS[-1][0]), *BAD_FLAGS[-1][1])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e39", "-1e39", "1e-50"])
def test_every_float_flag_refuses_what_float32_would_change(value):
  from absl import flags  # pylint: disable=import-outside-toplevel
  from draw_color import main  # pylint: disable=import-outside-toplevel
  defined = {f.name for f in main.FLAGS.get_flags_for_module(main.__name__)
             if isinstance(f.parser, flags.FloatParser)}
  assert set(main.FLOAT_FLAGS) == defined
  assert all(refusal("--%s=%s" % (name, value)) for name in defined)
  with parsing() as parse:
    parse(["draw_color", "--temperature=0", "--learning_rate=2e-38", "--clip=3e38"])
    assert (parse.temperature, parse.learning_rate, parse.clip) == (0, 2e-38, 3e38)


def test_every_integer_flag_refuses_what_int32_does_not_hold():
  from absl import flags  # pylint: disable=import-outside-toplevel
  from draw_color import main  # pylint: disable=import-outside-toplevel
  defined = {f.name for f in main.FLAGS.get_flags_for_module(main.__name__)
             if isinstance(f.parser, flags.IntegerParser)}
  assert set(main.INTEGER_FLAGS) == defined
  assert all(refusal("--%s=%d" % (name, 2**31)) for name in defined)
  with parsing() as parse:
    parse(["draw_color", "--seed=%d" % (2**31 - 1), "--max_steps=%d" % (2**31 - 1)])
    assert parse.seed == parse.max_steps == 2**31 - 1


def test_missing_data_is_one_line_naming_the_path(tmp_path):
  missing = str(tmp_path / "nowhere")
  result = run_main("--data_dir=" + missing, "--logdir=" + str(tmp_path / "run"))
  assert_one_line_error(result, missing, "make data")


def test_a_second_training_into_a_held_logdir_is_one_line(data_dir, tmp_path):
  from draw_color import fileio  # pylint: disable=import-outside-toplevel
  with fileio.exclusive(str(tmp_path)):
    result = run_main(*TINY_FLAGS, "--data_dir=" + data_dir, "--logdir=" + str(tmp_path))
  assert_one_line_error(result,
                        "%s is in use by another process (pid %d)" % (tmp_path, os.getpid()))


def test_subset_mode_links_the_listed_faces_and_says_what_is_missing(tmp_path):
  data_dir = make_celeba(tmp_path / "full", 3, {"000001.jpg": 0, "000002.jpg": 1, "000003.jpg": 2})
  (tmp_path / "list.txt").write_text("000001.jpg\n000003.jpg\n")
  flags = ["--mode=subset", "--data_dir=" + data_dir, "--subset_list=" + str(tmp_path / "list.txt"),
           "--subset_dir=" + str(tmp_path / "sub")]
  result = run_main(*flags)
  assert result.returncode == 0, result.stderr
  assert "linked the 2 images" in result.stderr
  assert sorted(os.listdir(tmp_path / "sub" / "img_align_celeba")) == ["000001.jpg", "000003.jpg"]
  (tmp_path / "list.txt").write_text("000001.jpg\n000004.jpg\n")
  assert_one_line_error(run_main(*flags[:-1], "--subset_dir=" + str(tmp_path / "sub2")),
                        "the first: 000004.jpg")


@pytest.mark.parametrize("name", sorted(
    f for f in os.listdir(os.path.join(os.path.dirname(__file__), "..", "draw_color", "configs"))
    if f.endswith(".cfg")))
def test_each_shipped_config_parses_and_builds_its_training_graph(name):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from draw_color import main  # pylint: disable=import-outside-toplevel
  from draw_color import runs  # pylint: disable=import-outside-toplevel
  path = os.path.join(os.path.dirname(main.__file__), "configs", name)
  with parsing() as parse:
    parse(["draw_color", "--flagfile=" + path])
    config = main.train_config_from_flags()
  assert config.logdir.startswith("runs/")
  # Each unrolled step is the same graph: 3 of them (a first, a middle and a last) build what
  # the configs' 10 or 64 would, whose gradients took 13-37 s (64 alone ~30 s).
  with tf.Graph().as_default():
    graph = runs.build_graph(config.model._replace(timesteps=min(config.model.timesteps, 3)),
                             config.seed)
    assert graph.draw.train_op is not None
    assert graph.samples.shape[1:] == (config.model.image_size,) * 2 + (config.model.channels,)


def test_running_out_of_memory_is_one_line_naming_the_tensor(monkeypatch, capsys):
  """A real ResourceExhaustedError (a 4 TiB tensor, which no allocator gives) where --mode=sample
  draws: its page of message and traceback become one line."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from draw_color import main  # pylint: disable=import-outside-toplevel

  def exhaust(config):
    del config
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
      sess.run(tf.reduce_sum(tf.random.normal([1 << 20, 1 << 20])))

  monkeypatch.setattr(main.gif, "make_samples", exhaust)
  with parsing() as parse:
    parse(["draw_color", "--mode=sample", "--logdir=unused", "--device=cpu"])
    assert main.main(["draw_color"]) == 1
  assert capsys.readouterr().err == (
      "error: out of memory: TensorFlow could not allocate a float tensor of shape "
      "[1048576,1048576] on /job:localhost/replica:0/task:0/device:CPU:0; ask for less (a "
      "smaller --batch_size, --num_samples or model); checkpoints and earlier outputs are as "
      "they were\n")


def test_an_out_of_memory_message_of_another_form_still_says_what_to_do():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from draw_color import main  # pylint: disable=import-outside-toplevel
  error = tf.errors.ResourceExhaustedError(None, None, "the allocator gave up")
  assert main.out_of_memory(error).startswith(
      "out of memory: TensorFlow could not allocate memory; ask for less (a smaller "
      "--batch_size")
