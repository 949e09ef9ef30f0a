"""--mode=plot on tiny event files written here: curves, labels, resumed runs, no matplotlib."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from draw_color import images
from draw_color import main
from draw_color import plot
from draw_color import runs
from draw_color.fileio import UserError
from fakes import run_main


def write_events(path, scalars, cut=False):
  """An events file of {step: {tag: value}} at `path`; `cut`: its last record half written."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(str(path)) as writer:
    for step, values in scalars.items():
      writer.write(tf.compat.v1.Event(
          step=step, summary=images.scalar_summary(values)).SerializeToString())
  if cut:
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) - 5)


def make_run(logdir, compat, offset):
  os.makedirs(logdir)
  with open(os.path.join(logdir, "hparams.json"), "w") as f:
    json.dump({"model": {"compat": compat, "hidden_size": 8},
               "data": {"data_dir": str(logdir)},
               "training": {"init_from": str(logdir / "export")}}, f)
  write_events(logdir / "events.out.tfevents.1000000000.host",
               {s: {"loss/generation_per_image": offset + s, "loss/latent": 1.0}
                for s in range(1, 6)})
  # Killed after step 5, resumed from step 3: steps 4 and 5 again, with other values.
  write_events(logdir / "events.out.tfevents.1000000100.host",
               {s: {"loss/generation_per_image": offset + 10 * s, "loss/latent": 2.0,
                    **({"valid/generation": 7.0} if s == 6 else {})} for s in range(4, 7)})


def test_read_scalars_takes_the_resumed_values_and_survives_a_cut_file(tmp_path):
  make_run(tmp_path / "a", "paper", 0.0)
  write_events(tmp_path / "a" / "events.out.tfevents.1000000200.host",
               {7: {"loss/latent": 3.0}, 8: {"loss/latent": 4.0}}, cut=True)
  scalars = plot.read_scalars(str(tmp_path / "a"))
  assert scalars["loss/generation_per_image"] == {1: 1, 2: 2, 3: 3, 4: 40, 5: 50, 6: 60}
  assert scalars["valid/generation"] == {6: 7.0}
  assert scalars["loss/latent"][7] == 3.0 and 8 not in scalars["loss/latent"]


def test_labels_name_each_run_by_the_settings_that_differ(tmp_path):
  # Where the data and the first weights came from differ too, but do not tell models apart.
  make_run(tmp_path / "paper_run", "paper", 0.0)
  make_run(tmp_path / "original_run", "original", 1.0)
  assert plot.labels([str(tmp_path / "paper_run"), str(tmp_path / "original_run")]) == [
      "paper_run: compat=paper", "original_run: compat=original"]
  assert plot.labels([str(tmp_path / "paper_run")]) == ["paper_run"]
  many = tmp_path / "many"
  os.makedirs(many)
  with open(many / "hparams.json", "w") as f:  # differs in 4 settings: the folder alone
    json.dump({"model": {"compat": "x", "hidden_size": 9, "a": 1, "b": 2}}, f)
  assert plot.labels([str(tmp_path / "paper_run"), str(many)]) == ["paper_run", "many"]
  assert plot.labels([str(tmp_path / "paper_run"), str(tmp_path / "original_run")],
                     leave_out=("compat",)) == ["paper_run", "original_run"]


def test_moving_average():
  np.testing.assert_allclose(plot.moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


def test_plot_writes_a_png_of_both_runs(tmp_path):
  pytest.importorskip("matplotlib")
  make_run(tmp_path / "a", "paper", 0.0)
  make_run(tmp_path / "b", "original", 1.0)
  path = plot.plot(plot.PlotConfig([str(tmp_path / "a"), str(tmp_path / "b")],
                                   str(tmp_path / "out" / "curves.png"), smooth=2))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.listdir(tmp_path / "out") == ["curves.png"]


def test_a_run_without_events_is_a_one_line_error(tmp_path):
  pytest.importorskip("matplotlib")
  os.makedirs(tmp_path / "empty")
  with pytest.raises(UserError, match="no training curves in %s" % (tmp_path / "empty")):
    plot.plot(plot.PlotConfig([str(tmp_path / "empty")], str(tmp_path / "x.png"), 1))


def test_missing_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "matplotlib", None)
  with pytest.raises(UserError, match=r"--mode=plot needs matplotlib .*pip install -e "
                     r"'\.\[plot\]'"):
    plot.plot(plot.PlotConfig([str(tmp_path)], str(tmp_path / "x.png"), 1))


def test_quality_panels_appear_where_a_run_evaluated_them(tmp_path):
  pytest.importorskip("matplotlib")
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  make_run(tmp_path / "a", "paper", 0.0)
  two = plot.plot(plot.PlotConfig([str(tmp_path / "a")], str(tmp_path / "two.png"), smooth=1))
  write_events(tmp_path / "a" / "events.out.tfevents.1000000200.host",
               {7: {"valid/psnr": 20.0, "valid/diversity": 0.5}})
  four = plot.plot(plot.PlotConfig([str(tmp_path / "a")], str(tmp_path / "four.png"), smooth=1))
  assert iio.imread(two).shape[:2] == (450, 1200)  # 1 row of 2 panels, 6 x 4.5 in at 100 dpi
  assert iio.imread(four).shape[:2] == (900, 1800)  # 2 rows of 3 places for 4 panels


def test_bound_panel_shows_bernoulli_runs_beside_the_references(tmp_path, monkeypatch):
  pytest.importorskip("matplotlib")
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  figures = []
  monkeypatch.setattr(pyplot, "close", figures.append)
  for name, loss in (("mnist", "bernoulli"), ("faces", "l2")):
    os.makedirs(tmp_path / name)
    with open(tmp_path / name / "hparams.json", "w") as f:
      json.dump({"model": {"loss": loss}}, f)
    # The bound falls from 500 to 100 nats; its last value is the lowest.
    write_events(tmp_path / name / "events.out.tfevents.1000000000.host",
                 {s: {"loss/generation_per_image": 1.0, "loss/latent": 1.0,
                      "loss/total": 500.0 / s} for s in range(1, 6)})
  plot.plot(plot.PlotConfig([str(tmp_path / "faces")], str(tmp_path / "faces.png"), 1,
                            references=(80.0,)))
  assert [ax.get_title() for ax in figures[0].axes if ax.axison] == [
      "generation loss per image", "KL per image (nats)"]
  plot.plot(plot.PlotConfig([str(tmp_path / "faces"), str(tmp_path / "mnist")],
                            str(tmp_path / "both.png"), 1, references=(80.0, 90.0)))
  bound = figures[1].axes[0]
  assert bound.get_title() == plot.BOUND_PANEL[0]
  lines = {line.get_label(): line.get_ydata() for line in bound.get_lines()}
  mnist = "mnist: loss=bernoulli (train)"
  assert set(lines) == {mnist, "reference 80", "reference 90"}  # not the l2 run
  np.testing.assert_allclose(lines[mnist], [500, 250, 500 / 3, 125, 100])
  np.testing.assert_allclose(lines["reference 90"], [90, 90])
  np.testing.assert_allclose(bound.get_ylim(), (0.95 * 80, 1.5 * 80))
  # One legend, under every panel, so that it covers no curve: a colour per run, then a style
  # per kind of curve.
  assert all(ax.get_legend() is None for ax in figures[1].axes)
  (legend,) = figures[1].legends
  assert [t.get_text() for t in legend.get_texts()] == [
      "faces: loss=l2", "mnist: loss=bernoulli", "training", "reference bounds 80, 90"]
  figures[1].canvas.draw()
  top = legend.get_window_extent().y1
  assert all(top < ax.get_tightbbox().y0 for ax in figures[1].axes if ax.axison)


def test_cli_refuses_references_that_are_not_numbers():
  refused = run_main("--mode=plot", "--plot_references=80.97,eighty")
  assert refused.returncode != 0 and "Traceback" not in refused.stderr
  assert "--plot_references takes numbers" in refused.stderr


def test_cli_refuses_reference_points_that_are_not_x_and_bound():
  assert main._x_bound_pairs(["78200:90", "0:82.5", "1e3:1e2"])
  for bad in (["78200"], ["78200:90:1"], ["-1:90"], ["a:90"], ["78200:nan"], ["1:2", "3"]):
    assert not main._x_bound_pairs(bad), bad
  refused = run_main("--mode=plot", "--plot_reference_points=78200")
  assert refused.returncode != 0 and "Traceback" not in refused.stderr
  assert "--plot_reference_points takes X:NATS pairs" in refused.stderr


def test_references_are_any_finite_number_float_reads():
  assert main._finite_numbers(["80.97", "1e2", "-3", "87"])
  for bad in (["80.97", "eighty"], ["nan"], ["inf"], ["1,5"]):
    assert not main._finite_numbers(bad), bad


def test_a_bernoulli_run_without_its_total_still_plots(tmp_path):
  pytest.importorskip("matplotlib")
  make_run(tmp_path / "a", "paper", 0.0)  # generation and KL only
  with open(tmp_path / "a" / "hparams.json", "w") as f:
    json.dump({"model": {"loss": "bernoulli"}}, f)
  path = plot.plot(plot.PlotConfig([str(tmp_path / "a")], str(tmp_path / "a.png"), 1))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_an_export_plots_the_valid_history_of_its_line_of_weights(tmp_path, monkeypatch):
  pytest.importorskip("matplotlib")
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  figures = []
  monkeypatch.setattr(pyplot, "close", figures.append)
  shipped = tmp_path / "pretrained" / "mnist"
  os.makedirs(shipped)
  with open(shipped / "hparams.json", "w") as f:
    json.dump({"model": {"loss": "bernoulli"}}, f)
  # No event files; an early evaluation of the line knew only its bound.
  (shipped / runs.HISTORY).write_text("step,learning_rate,bound,kl,generation\n"
                                      "10,0.001,100.5,,\n20,0.0003,90.0,30.0,60.0\n")
  plot.plot(plot.PlotConfig([str(shipped)], str(tmp_path / "h.png"), 1, references=(80.0,),
                            reference_points=((30, 85.0),)))
  titles = [ax.get_title() for ax in figures[0].axes if ax.axison]
  assert titles == [plot.BOUND_PANEL[0], "generation loss per image", "KL per image (nats)"]
  bound = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
           for line in figures[0].axes[0].get_lines()}
  assert bound["mnist (valid)"] == ([10, 20], [100.5, 90.0])
  assert bound["reference 85 at step 30"] == ([30], [85.0])
  # The second evaluation came from a stage at 3e-4 that went on from the first.
  marks = [line for line in figures[0].axes[0].get_lines() if line.get_linestyle() == "-."]
  assert [list(line.get_xdata()) for line in marks] == [[10, 10]]
  assert [t.get_text() for t in figures[0].axes[0].texts] == ["3e-4"]
  kl = figures[0].axes[2].get_lines()[0]
  assert list(kl.get_xdata()) == [20] and list(kl.get_ydata()) == [30.0]
  (legend,) = figures[0].legends
  assert [t.get_text() for t in legend.get_texts()] == [
      "mnist", "valid split", "reference bounds 80",
      "went on at the learning rate written beside it", "reference points 85 at step 30"]


def test_stages_are_where_the_learning_rate_changes_and_rates_read_as_flags():
  rows = [{"step": s, "learning_rate": r} for s, r in
          ((5, 1e-3), (10, 1e-3), (12, 3e-4), (14, None), (16, 3e-4), (18, 9.99999975e-06))]
  assert plot.stages(rows) == [(10, 3e-4), (16, 9.99999975e-06)]
  rate = plot._rate  # pylint: disable=protected-access
  assert [rate(r) for r in (3e-4, 1e-3, 2.5e-5, 9.99999975e-06)] == [
      "3e-4", "1e-3", "2.5e-5", "1e-5"]


def test_an_epoch_axis_the_bound_range_of_the_valid_curves_and_staggered_stage_labels(
    tmp_path, monkeypatch):
  pytest.importorskip("matplotlib")
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  figures = []
  monkeypatch.setattr(pyplot, "close", figures.append)
  shipped = tmp_path / "mnist"
  os.makedirs(shipped)
  # Epochs of 10 steps. Stages at 1e-3 to epoch 2, 3e-4 to 98, 1e-4 to 99, then 3e-5: the
  # last two changes are 1 epoch apart, under 2% of an axis of 100 epochs.
  (shipped / runs.HISTORY).write_text(
      "step,learning_rate,bound,kl,generation\n20,0.001,100.0,,\n30,0.0003,95.0,,\n"
      "980,0.0003,90.0,,\n990,0.0001,89.0,,\n1000,3e-05,88.0,,\n")
  # A second line of weights, at one rate throughout, differs in the rate and the attention.
  other = tmp_path / "other"
  os.makedirs(other)
  with open(other / "hparams.json", "w") as f:
    json.dump({"model": {"loss": "bernoulli", "learning_rate": 1e-3, "read_attn": False}}, f)
  with open(shipped / "hparams.json", "w") as f:
    json.dump({"model": {"loss": "bernoulli", "learning_rate": 3e-5, "read_attn": True}}, f)
  (other / runs.HISTORY).write_text("step,learning_rate,bound,kl,generation\n20,0.001,99.0,,\n")
  plot.plot(plot.PlotConfig([str(shipped), str(other)], str(tmp_path / "h.png"), 1,
                            references=(80.0,), reference_points=((100, 82.0),),
                            epoch_steps=10))
  (ax,) = [ax for ax in figures[0].axes if ax.axison]
  # The stage marks tell the rates: the legend names the runs by the other difference.
  assert [t.get_text() for t in figures[0].legends[0].get_texts()][:2] == [
      "mnist: read_attn=True", "other: read_attn=False"]
  assert ax.get_xlabel() == "epoch"
  lines = {line.get_label(): list(line.get_xdata()) for line in ax.get_lines()}
  assert lines["mnist: read_attn=True (valid)"] == [2, 3, 98, 99, 100]
  assert lines["reference 82 at epoch 100"] == [100]
  marks = [line for line in ax.get_lines() if line.get_linestyle() == "-."]
  assert [list(line.get_xdata()) for line in marks] == [[2, 2], [98, 98], [99, 99]]
  # The labels run down from the top; the one a single epoch after the one before starts a
  # label's length lower, the others at the top.
  assert [(t.get_text(), t.xyann) for t in ax.texts] == [
      ("3e-4", (2, -2)), ("1e-4", (2, -2)), ("3e-5", (2, -2 - plot.STAGGER_POINTS))]
  # The valid curve's highest bound, not 1.5 times its lowest (the reference at 80), tops it.
  np.testing.assert_allclose(ax.get_ylim(), (0.95 * 80, 1.02 * 100))
