"""The check-running rules, on objects the plugin registers (like ``_pytest/junitxml``'s LogXML).

- :class:`CheckRunner` (every process, registered as ``release-runner``): a
  :class:`~pytest_release.probes.ProbeUnavailable` in setup or call makes the check *not
  measured*; soft failures recorded by :class:`~pytest_release.evidence.Evidence` fail the check
  at its end (also when it then had to stop); secrets are masked in every report's longrepr,
  captured sections and user properties.
- :class:`SignOffWriter` (controller only, ``release-writer``): writes the JSON sign-off and the
  Markdown checklist, sets the exit status, writes the terminal summary.
"""
from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .evidence import CHECK, not_measured
from .keys import evidence_key

if TYPE_CHECKING:
    from .collector import SignOffCollector
    from .redact import Redactor


class ReleaseReportWarning(pytest.PytestWarning):
    """A sign-off artifact could not be written (the run itself is unaffected)."""


ARTIFACT_OPTIONS = ("release_signoff", "release_checklist")


class CheckRunner:
    """Runs each gate check under the rules above (hook wrappers around setup, call, report)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redact = redactor

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        from .collector import describe
        from .probes import ProbeUnavailable

        info = describe(item)
        if info is not None:
            item.user_properties.append((CHECK, json.dumps(info, sort_keys=True)))
        try:
            return (yield)
        except ProbeUnavailable as exc:
            __tracebackhide__ = True
            not_measured(self.redact(str(exc)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        from .probes import ProbeUnavailable

        __tracebackhide__ = True
        evidence = item.stash.get(evidence_key, None)
        try:
            result = yield
        except (ProbeUnavailable, pytest.skip.Exception) as exc:
            reason = self.redact(str(exc))
            if evidence is not None and evidence.soft_failures:
                # A violation measured before the check had to stop is still a failure.
                raise AssertionError("\n".join([*evidence.soft_failures,
                                                 f"(then stopped: {reason})"])) from None
            if isinstance(exc, ProbeUnavailable):
                not_measured(reason)
            raise
        if evidence is not None and evidence.soft_failures:
            raise AssertionError("\n".join(evidence.soft_failures))
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        redact_report(report, self.redact)
        return report


def redact_report(report: pytest.TestReport, redact: Redactor) -> None:
    """The one pass over pytest's own report: secrets masked (whole, encoded, fragments) and
    control characters neutralised in the longrepr, captured sections and user properties."""
    from .redact import neutralise

    def clean(text: str) -> str:
        return neutralise(redact(text), keep_newlines=True)

    if report.longrepr is not None:
        text = str(report.longrepr)
        if clean(text) != text:
            if isinstance(report.longrepr, tuple):
                path, lineno, message = report.longrepr
                report.longrepr = (path, lineno, clean(str(message)))
            else:
                report.longrepr = clean(text)
    report.sections = [(title, clean(body)) for title, body in report.sections]
    report.user_properties = [
        (key, clean(value) if isinstance(value, str) else value)
        for key, value in report.user_properties
    ]


def remove_stale_artifacts(config: pytest.Config) -> None:
    """A refused or crashed run must not leave the last run's sign-off looking current."""
    for option in ARTIFACT_OPTIONS:
        target = config.getoption(option)
        if target:
            with contextlib.suppress(OSError):  # unwritable: warned about when writing
                Path(target).expanduser().unlink(missing_ok=True)


class SignOffWriter:
    """Controller only: the artifacts, the exit status and the terminal summary of a run."""

    def __init__(self, config: pytest.Config, collector: SignOffCollector) -> None:
        self.config = config
        self.collector = collector

    def _collect_only(self) -> bool:
        return bool(self.config.getoption("collectonly", False))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from .report import json as json_report
        from .report import markdown

        collector = self.collector
        if collector.usage_error or exitstatus == pytest.ExitCode.USAGE_ERROR:
            # A refused run (no --release, bad option) must not leave a sign-off behind.
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if self._collect_only():
            return
        signoff = collector.signoff()
        for option, render in (("release_signoff", json_report.render),
                               ("release_checklist", markdown.render)):
            target = self.config.getoption(option)
            if not target:
                continue
            path = Path(target).expanduser().resolve()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render(signoff), encoding="utf-8")
            except OSError as exc:
                warnings.warn(ReleaseReportWarning(f"could not write {path}: {exc.strerror}"),
                              stacklevel=1)
        if (self.config.getoption("release_require_approval") and not signoff.approved
                and session.exitstatus == pytest.ExitCode.OK):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        collector = self.collector
        if collector.usage_error:
            terminalreporter.write_line(f"ERROR: {collector.usage_error}", red=True, bold=True)
            return
        if self._collect_only():
            return
        signoff = collector.signoff()
        if not any(g.checks for g in signoff.gates):
            return
        from .report import terminal

        terminal.write(signoff, terminalreporter)
        for option in ARTIFACT_OPTIONS:
            target = self.config.getoption(option)
            if target:
                terminalreporter.write_line(
                    f"{option.replace('_', ' ')}: {Path(target).resolve()}")
        if self.config.getoption("release_require_approval") and not signoff.approved:
            terminalreporter.write_line(
                "--release-require-approval: exit status is non-zero because the verdict is "
                f"{signoff.verdict}", red=True)
