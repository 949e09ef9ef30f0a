"""The rate-and-ETA helper of every long loop, on a clock the test moves by hand."""

import pytest

from draw_color import progress


class Clock:
  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def test_ticks_every_few_seconds_with_the_rate_since_the_start_and_the_eta():
  clock = Clock()
  shown = progress.Progress(2.0, total=100, clock=clock)
  clock.now += 1.0
  assert shown.update(10) is None  # 1 s: too soon
  clock.now += 1.5
  tick = shown.update(25)  # 25 units in 2.5 s
  assert tick.rate == pytest.approx(10.0) and tick.eta == pytest.approx(75 / 10.0)
  assert tick.seconds == pytest.approx(2.5) and tick.count == 25
  clock.now += 1.0
  assert shown.update(30) is None  # 1 s after that tick
  clock.now += 2.5
  tick = shown.update(65)  # 65 units in 6 s since the start; 40 in the last 3.5 s
  assert tick.rate == pytest.approx(65 / 6.0) and tick.eta == pytest.approx(35 / (65 / 6.0))
  assert tick.seconds == pytest.approx(3.5) and tick.count == 40
  clock.now += 5.0
  assert shown.update(100) is None  # done: the caller's own line says so
  assert shown.update(100, force=True).eta == 0


def test_recent_rates_follow_a_speed_that_changes_and_restart_forgets_the_start():
  clock = Clock()
  shown = progress.Progress(1.0, total=50, done=10, recent=True, clock=clock)
  clock.now += 4.0
  assert shown.update(11, force=True).seconds == pytest.approx(4.0)  # a slow first step
  shown.restart(11)
  clock.now += 2.0
  tick = shown.update(21)  # 10 in 2 s
  assert tick.rate == pytest.approx(5.0) and tick.eta == pytest.approx(29 / 5.0)
  clock.now += 1.0
  tick = shown.update(41)  # 20 in the last 1 s
  # The ETA at the median of the rates since the restart: (5 + 20) / 2.
  assert tick.rate == pytest.approx(20.0) and tick.eta == pytest.approx(9 / 12.5)


def test_no_total_gives_no_eta_and_a_standstill_an_unknown_one():
  clock = Clock()
  assert progress.Progress(0.0, clock=clock).update(5, force=True).eta is None
  stalled = progress.Progress(0.0, total=10, done=3, clock=clock)
  clock.now += 1.0
  tick = stalled.update(3)
  assert tick.rate == 0 and tick.eta == float("inf")
  assert progress.duration(tick.eta) == "unknown"


def test_durations_read_as_hours_minutes_and_seconds():
  assert progress.duration(0) == "0m00s"
  assert progress.duration(61.9) == "1m01s"
  assert progress.duration(3 * 3600 + 2 * 60 + 5) == "3h02m05s"
  assert progress.duration(-4) == "0m00s"


def test_one_slow_stretch_moves_the_recent_rate_but_not_the_eta():
  clock = Clock()
  shown = progress.Progress(1.0, total=10_000, recent=True, clock=clock)
  for done in range(100, 500, 100):  # 100 units a second
    clock.now += 1.0
    shown.update(done)
  clock.now += 3600.0  # stopped for an hour (SIGSTOP), or a long evaluation
  tick = shown.update(401)
  assert tick.rate == pytest.approx(1 / 3600.0)
  # The median of the last five rates: 100, 100, 100, 100 and the slow one.
  assert tick.eta == pytest.approx((10_000 - 401) / 100.0)
  for done in range(501, 901, 100):  # back at speed, the slow stretch leaves the window
    clock.now += 1.0
    tick = shown.update(done)
  clock.now += 0.5
  tick = shown.update(1001)  # 200 units a second from now on
  for done in range(1201, 1801, 200):
    clock.now += 1.0
    tick = shown.update(done)
  assert tick.rate == pytest.approx(200.0)
  assert tick.eta == pytest.approx((10_000 - 1601) / 200.0)
