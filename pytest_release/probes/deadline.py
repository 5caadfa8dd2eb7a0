"""Total wall-clock deadlines: one per probe call, and one per check that bounds them all.

A per-read timeout is no bound: a target that answers one byte per second never lets a read
time out. So every network call a probe makes (HTTP through :mod:`._http`, Redis through
:class:`~pytest_release.probes.redis.RedisProbe`, external tools through :mod:`.tools`) ends at
its own total deadline (the probe family's ``timeout_s`` setting), and none ends later than the
running check's budget (``release.check_deadline_s``, set by the runner around each check's
setup and call). A call that runs out raises :class:`~pytest_release.probes.ProbeUnavailable`
naming the target and the limit, so the check is *not measured*; the whole run is bounded by
checks × ``release.check_deadline_s``.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Setting that sets the per-check budget (see :func:`check_budget`).
CHECK_SETTING = "release.check_deadline_s"

# (ends at, seconds): checks run one at a time per process, so one slot is enough.
_budget: tuple[float, float] | None = None


@contextmanager
def check_budget(seconds: float | None) -> Iterator[None]:
    """Every probe call inside ends at the latest ``seconds`` from now (None: no budget)."""
    global _budget
    previous = _budget
    _budget = None if seconds is None else (time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _budget = previous


@dataclass(frozen=True)
class Deadline:
    """When one call must be over, and which limit set that."""

    at: float
    seconds: float
    setting: str | None
    check_budget: bool = False

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def describe(self) -> str:
        """``within 5 s (observability.timeout_s)``, or the check's budget when that is first."""
        if self.check_budget:
            return f"within the check's budget of {self.seconds:g} s ({CHECK_SETTING})"
        where = f" ({self.setting})" if self.setting else ""
        return f"within {self.seconds:g} s{where}"


def call_deadline(timeout_s: float, setting: str | None = None) -> Deadline:
    """The deadline of a call allowed ``timeout_s`` seconds, cut short by the check's budget."""
    own = Deadline(time.monotonic() + timeout_s, timeout_s, setting)
    budget = _budget
    if budget is not None and budget[0] < own.at:
        return Deadline(budget[0], budget[1], CHECK_SETTING, check_budget=True)
    return own
