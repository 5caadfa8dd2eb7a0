"""The exit status of a release run (README "Exit status"), by table: pure, no pytest run."""
from __future__ import annotations

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE, EXIT_REJECTED, decide

from test_verdict import BAD, RELEASE, all_gates, full_gate


def _signoff(checks, interrupted=False):
    return decide(RELEASE, checks, generated_at="2026-12-02T14:00:00Z", interrupted=interrupted)


ONLY_REDIS = full_gate("redis")
REDIS_FAILED = full_gate("redis", aof=("failed", BAD))
REDIS_SKIPPED = full_gate("redis", ttl=("skipped", ()))


@pytest.mark.parametrize("checks, pytest_status, requested, strict, expected", [
    (all_gates(), 0, (), False, 0),                               # APPROVED
    (all_gates(), 0, (), True, 0),
    (ONLY_REDIS, 0, (), False, 0),                                # the selected gate passed
    (ONLY_REDIS, 0, (), True, EXIT_INCOMPLETE),                   # ... but not APPROVED
    (ONLY_REDIS, 0, ("gate_security",), False, EXIT_INCOMPLETE),  # -m named a gate with no checks
    (REDIS_FAILED, 1, (), False, EXIT_REJECTED),
    (REDIS_SKIPPED, 0, (), False, EXIT_INCOMPLETE),               # nothing configured: never 0
    ([], 5, (), False, EXIT_INCOMPLETE),                          # never pytest's "no tests"
    (ONLY_REDIS, 1, (), False, 1),                                # a test outside the gates failed
    (REDIS_FAILED, 2, (), False, 2),                              # interrupted stays interrupted
    (REDIS_FAILED, 4, (), False, 4),                              # usage error stays
], ids=["approved", "approved-strict", "gate-passed", "gate-passed-strict", "requested-empty",
        "failed", "not-measured", "nothing-collected", "other-test-failed", "interrupted", "usage"])
def test_exit_status(checks, pytest_status, requested, strict, expected):
    assert _signoff(checks).exit_status(pytest_status, requested=requested,
                                        require_approval=strict) == expected


def test_an_interrupted_run_is_never_approved():
    signoff = _signoff(all_gates(), interrupted=True)
    assert signoff.verdict == "INCOMPLETE"
    assert signoff.reason == "the run was interrupted before every check finished"
    assert _signoff(all_gates()).verdict == "APPROVED"
