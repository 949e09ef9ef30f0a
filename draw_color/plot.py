"""--mode=plot: the training and valid curves of one or more runs, from their event files and
valid histories, as PNG.

Each panel is one quantity per image: the generation loss and the KL (and, for runs with the
Bernoulli loss, their sum, the bound, beside given reference bounds), the training curve a
moving average (solid) and the valid split where the run evaluated it (dashed, dots); one
colour per run, labelled with the run's folder and the settings in which the runs differ, in
one legend under the panels.
matplotlib is an optional extra (`pip install -e .[plot]`).
"""

import collections
import glob
import json
import os

import numpy as np
import tensorflow as tf

from draw_color import fileio
from draw_color import runs

PlotConfig = collections.namedtuple(
    "PlotConfig",
    [
        "logdirs",  # The run directories, one curve colour each.
        "path",  # The PNG written.
        "smooth",  # Steps in the moving average of the training curves; 1 for none.
        "references",  # Bounds (nats) drawn as horizontal lines in the bound panel, e.g. a
        #                paper's; () for none.
        "reference_points",  # (x, bound) marked in the bound panel, x in the x axis's unit
        #                      (a step, or an epoch), e.g. reproductions' bounds after some
        #                      epochs; () for none.
        "epoch_steps",  # Steps in an epoch, for an x axis in epochs; 0: in steps.
    ],
    defaults=((), (), 0))

# (panel title, training tag or None, valid tag): what train.py writes. A panel is drawn when
# some run has one of its tags: the last seven only where runs evaluated the valid split.
PANELS = (("generation loss per image", "loss/generation_per_image", "valid/generation"),
          ("KL per image (nats)", "loss/latent", "valid/kl"),
          ("prior gap (nats; 0: the prior has the posteriors' moments)", None, "valid/prior_gap"),
          ("PSNR of the reconstructions (dB)", None, "valid/psnr"),
          ("sharpness (reconstructions / real)", None, "valid/sharpness"),
          ("blank samples (fraction)", None, "valid/blank_fraction"),
          ("sample diversity (samples / real)", None, "valid/diversity"),
          ("sample distinctness (samples / real)", None, "valid/distinctness"),
          ("sample SWD x 1000 (0: patches as real ones')", None, "valid/swd"))
# First of all, for the runs whose loss is the paper's Bernoulli likelihood, where the total
# loss is the negative log-likelihood bound in nats that the DRAW paper reports.
BOUND_PANEL = ("negative log-likelihood bound per image (nats)", "loss/total", "valid/bound")
BOUND_LOSS = "bernoulli"
BOUND_ZOOM = 1.5  # the bound panel shows up to this times the lowest bound in it
BOUND_MARGIN = 0.02  # and no more than this fraction above its highest valid bound
LABEL_GAP = 0.02  # stage labels nearer than this fraction of a panel's width are staggered
STAGGER_POINTS = 24  # how far down a staggered stage label starts: one label's length
LEGEND_ROW_INCHES = 0.22  # the height of a row of the legend, in "small" type


def read_scalars(logdir):
  """{tag: {step: value}} of every scalar in the event files of `logdir`, and the valid
  evaluations of its runs.HISTORY, which go back beyond the run to the runs it went on from
  (the only curve of an export, which has no event files).

  Files are read oldest first and a later value of a step replaces an earlier one: a run
  resumed after a kill logs again the steps after its checkpoint. A file cut short by a kill
  is read up to its last whole record.
  """
  scalars = collections.defaultdict(dict)
  for row in runs.read_history(logdir):
    for field in runs.HISTORY_RESULTS:
      if row[field] is not None:
        scalars["valid/" + field][row["step"]] = row[field]
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    try:
      for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
          if value.HasField("simple_value"):
            scalars[value.tag][event.step] = value.simple_value
    except tf.errors.DataLossError:
      continue
  return dict(scalars)


def _settings(logdir):
  """{name: value} of every setting in the run's hparams.json; {} without one."""
  try:
    with open(os.path.join(logdir, runs.HPARAMS)) as f:
      hparams = json.load(f)
  except (OSError, ValueError):
    return {}
  return {name: value for section in hparams.values() if isinstance(section, dict)
          for name, value in section.items()}


MAX_SETTINGS = 3  # runs that differ in more settings are told apart by their folders alone
# Where a run's data and first weights came from: they differ between runs of one model.
NOT_SETTINGS = ("data_dir", "init_from")


def labels(logdirs, leave_out=()):
  """Each run's folder name, followed by the settings in which it differs from the others
  when they are at most MAX_SETTINGS (more would not fit in a legend), other than those named
  in `leave_out`."""
  settings = [_settings(d) for d in logdirs]
  keys = sorted(set().union(*settings))
  differing = [k for k in keys if len({json.dumps(s.get(k)) for s in settings}) > 1
               and k not in NOT_SETTINGS + tuple(leave_out)]
  if len(differing) > MAX_SETTINGS:
    differing = []
  found = []
  for logdir, values in zip(logdirs, settings):
    name = os.path.basename(os.path.normpath(logdir))
    shown = ", ".join("%s=%s" % (k, values.get(k)) for k in differing)
    found.append("%s: %s" % (name, shown) if shown else name)
  return found


def moving_average(values, window):
  """The mean of each value and the window - 1 before it (fewer at the start)."""
  sums = np.cumsum(np.insert(np.asarray(values, np.float64), 0, 0.0))
  ends = np.arange(1, len(values) + 1)
  starts = np.maximum(ends - window, 0)
  return (sums[ends] - sums[starts]) / (ends - starts)


def stages(history):
  """[(step, learning rate)] of a runs.HISTORY: where each stage of the line of weights went
  on at a new learning rate, at the last evaluation at the rate before (which a stage started
  with --init_from a best, or --lr_schedule at an evaluation's step, went on from; one from a
  later checkpoint started up to --eval_every steps after it)."""
  found = []
  for before, row in zip(history, history[1:]):
    if None not in (before["learning_rate"], row["learning_rate"]) and (
        row["learning_rate"] != before["learning_rate"]):
      found.append((before["step"], row["learning_rate"]))
  return found


def _rate(rate):
  """A learning rate as the flags write it: 3e-4, 1e-3, 2.5e-5 (4 digits at most)."""
  mantissa, exponent = ("%.3e" % rate).split("e")
  return "%ge%d" % (float(mantissa), int(exponent))


def _mark_stages(ax, marks):
  """Where a line of weights went on at another learning rate: a dash-dot line at each (x,
  rate, colour) of `marks`, with the rate written down from the top; a label nearer than
  LABEL_GAP of the panel's width to the one before starts one label lower, so none overlap."""
  left, right = ax.get_xlim()
  before, level = None, 0
  for at, rate, colour in sorted(marks, key=lambda m: m[0]):
    near = before is not None and (at - before) / (right - left) < LABEL_GAP
    level = (level + 1) % 2 if near else 0
    before = at
    ax.axvline(at, color=colour, linestyle="-.", linewidth=0.8, alpha=0.6)
    ax.annotate(_rate(rate), (at, 1.0), xycoords=("data", "axes fraction"),
                xytext=(2, -2 - STAGGER_POINTS * level), textcoords="offset points",
                rotation=90, va="top", fontsize="x-small", color=colour)


def plot(config):
  """Writes the curves of config.logdirs to config.path; returns the path."""
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise fileio.UserError("--mode=plot needs matplotlib (%s): pip install -e '.[plot]', or "
                           ".venv/bin/pip install matplotlib" % e)
  curves = [read_scalars(d) for d in config.logdirs]
  changes = [stages(runs.read_history(d)) for d in config.logdirs]
  empty = [d for d, c in zip(config.logdirs, curves) if not c]
  if empty:
    raise fileio.UserError("no training curves in %s: it holds no events.out.tfevents.* "
                           "files with scalars, nor %s" % (", ".join(empty), runs.HISTORY))
  bernoulli = [_settings(d).get("loss") == BOUND_LOSS for d in config.logdirs]
  panels = [p for p in PANELS if any(tag in c for c in curves for tag in p[1:] if tag)]
  if any(bernoulli):
    panels.insert(0, BOUND_PANEL)
  cols = min(len(panels), 3)
  rows = -(-len(panels) // cols)
  figure, axes = pyplot.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
  axes = axes.ravel()
  for ax in axes[len(panels):]:
    ax.axis("off")
  # A line of weights trained in stages is at its last stage's learning rate: the stage marks
  # tell the rates, not the legend.
  run_labels = labels(config.logdirs, ("learning_rate",) if any(changes) else ())
  colours = ["C%d" % (k % 10) for k in range(len(config.logdirs))]
  unit = "epoch" if config.epoch_steps else "step"

  def x(step):
    """Where `step` is on the x axis: the step, or the epochs it has trained."""
    return step / config.epoch_steps if config.epoch_steps else step

  for panel, ax in zip(panels, axes):
    title, train_tag, valid_tag = panel
    valid_values = []
    for k, (scalars, label, colour) in enumerate(zip(curves, run_labels, colours)):
      if panel == BOUND_PANEL and not bernoulli[k]:
        continue  # another loss's total is no bound
      if train_tag in scalars:
        steps = sorted(scalars[train_tag])
        ax.plot([x(s) for s in steps],
                moving_average([scalars[train_tag][s] for s in steps], config.smooth),
                color=colour, label=label + " (train)")
      if valid_tag in scalars:
        steps = sorted(scalars[valid_tag])
        values = [scalars[valid_tag][s] for s in steps]
        ax.plot([x(s) for s in steps], values, "o--", color=colour, label=label + " (valid)")
        valid_values += values
    if panel == BOUND_PANEL:
      for bound in config.references:
        ax.axhline(bound, color="grey", linestyle=":", label="reference %g" % bound)
      for at, bound in config.reference_points:
        ax.plot([at], [bound], "x", color="black", markersize=9,
                label="reference %g at %s %g" % (bound, unit, at))
      # The first steps' bound is several times the last: show where the runs still differ,
      # which is all of the valid curves (they start after the first epochs).
      if ax.get_lines():
        lowest = min(min(line.get_ydata()) for line in ax.get_lines())
        marked = valid_values + [bound for _, bound in config.reference_points]
        top = BOUND_ZOOM * lowest
        if marked:
          top = min(top, (1 + BOUND_MARGIN) * max(marked))
        ax.set_ylim(0.95 * lowest, top)
      marks = []
      for run_changes, colour, bernoulli_run in zip(changes, colours, bernoulli):
        if bernoulli_run:
          marks += [(x(step), rate, colour) for step, rate in run_changes]
      _mark_stages(ax, marks)
    ax.set_title(title)
    ax.set_xlabel(unit)
    ax.grid(alpha=0.3)
  # One legend for the figure, under the panels, so that it covers no curve: a colour per run,
  # a line style per kind of curve.
  from matplotlib.lines import Line2D  # pylint: disable=import-outside-toplevel
  keys = [Line2D([], [], color=colour, label=label)
          for label, colour in zip(run_labels, colours)]
  if any(train_tag in c for c in curves for _, train_tag, _ in panels):
    keys.append(Line2D([], [], color="black", label="training (moving average of %d steps)"
                       % config.smooth if config.smooth > 1 else "training"))
  if any(valid_tag in c for c in curves for _, _, valid_tag in panels):
    keys.append(Line2D([], [], color="black", marker="o", linestyle="--", label="valid split"))
  if any(bernoulli) and config.references:
    keys.append(Line2D([], [], color="grey", linestyle=":", label="reference bounds %s"
                       % ", ".join("%g" % b for b in config.references)))
  if any(c and b for c, b in zip(changes, bernoulli)):
    keys.append(Line2D([], [], color="black", linestyle="-.", linewidth=0.8,
                       label="went on at the learning rate written beside it"))
  if any(bernoulli) and config.reference_points:
    keys.append(Line2D([], [], color="black", marker="x", linestyle="", label=(
        "reference points " + ", ".join("%g at %s %g" % (b, unit, at)
                                        for at, b in config.reference_points))))
  legend_rows = -(-len(keys) // cols)
  height = figure.get_figheight()
  figure.tight_layout(rect=(0, (LEGEND_ROW_INCHES * legend_rows + 0.1) / height, 1, 1))
  figure.legend(handles=keys, loc="lower center", ncol=cols, fontsize="small", frameon=False)
  with fileio.atomic_path(config.path) as tmp:
    figure.savefig(tmp, dpi=100)
  pyplot.close(figure)
  return config.path
