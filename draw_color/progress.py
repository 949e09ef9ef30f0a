"""Rate and ETA every few seconds, for every long loop: training, evaluation, the CelebA
cache build, the download and the unpacking. Each caller words its own line."""

import collections
import time

import numpy as np

Tick = collections.namedtuple(
    "Tick",
    [
        "seconds",  # Since the previous tick (the start, for the first).
        "count",  # Units done in those seconds.
        "rate",  # Units per second: over those seconds, or since the start (`recent`).
        "eta",  # Seconds left at that rate (`recent`: at the latest rates' median); inf at
                # rate 0, None without a total.
    ])


class Progress:
  """Says, at most every `every` seconds, how fast `done` grows and when it reaches `total`.

  `recent`: the rate of the time since the previous tick, which follows a speed that changes
  (training, where evaluations and checkpoints come between steps), and the ETA at the median
  of the last WINDOW such rates, which one slow stretch (an evaluation, a process stopped
  with SIGSTOP for an hour) does not throw to hundreds of hours; else the rate since the
  start, which smooths a steady one (downloads, decoding). `clock` is for tests.
  """

  WINDOW = 5

  def __init__(self, every, total=None, done=0, recent=False, clock=time.monotonic):
    self.every, self.total, self.recent, self.clock = every, total, recent, clock
    self.restart(done)

  def restart(self, done):
    """Measures from now and `done` on, as if the loop started here."""
    self.start_time = self.mark_time = self.clock()
    self.start_done = self.mark_done = done
    self.rates = collections.deque(maxlen=self.WINDOW)  # The latest ticks' rates (`recent`).

  def update(self, done, force=False):
    """A Tick when `every` seconds have passed since the previous one (or `force`) and the
    total is not yet reached (or `force`); else None."""
    now = self.clock()
    if not force and (now - self.mark_time < self.every
                      or self.total is not None and done >= self.total):
      return None
    since_time, since_done = ((self.mark_time, self.mark_done) if self.recent
                              else (self.start_time, self.start_done))
    rate = (done - since_done) / max(now - since_time, 1e-9)
    self.rates.append(rate)
    typical = float(np.median(self.rates)) if self.recent else rate
    eta = None
    if self.total is not None:
      eta = (self.total - done) / typical if typical else float("inf")
    tick = Tick(seconds=max(now - self.mark_time, 1e-9), count=done - self.mark_done,
                rate=rate, eta=eta)
    self.mark_time, self.mark_done = now, done
    return tick


def duration(seconds):
  """Seconds as 1h02m03s, or 2m03s under an hour; "unknown" for inf (a rate of 0)."""
  if seconds == float("inf"):
    return "unknown"
  seconds = int(max(seconds, 0))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return "%dh%02dm%02ds" % (h, m, s) if h else "%dm%02ds" % (m, s)
