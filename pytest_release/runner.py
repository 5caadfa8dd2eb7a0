"""The check-running rules, on objects the plugin registers (like ``_pytest/junitxml``'s LogXML).

- :class:`CheckRunner` (every process, registered as ``release-runner``): each check runs
  under its wall-clock budget (``release.check_deadline_s``); a
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
import os
import re
import tempfile
import warnings
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .evidence import CHECK, not_measured
from .keys import evidence_key
from .verdict import EXIT_INCOMPLETE, EXIT_REJECTED

if TYPE_CHECKING:
    from .collector import SignOffCollector
    from .redact import Redactor
    from .verdict import SignOff


class ReleaseReportWarning(pytest.PytestWarning):
    """A sign-off artifact could not be written (the run itself is unaffected)."""


ARTIFACT_OPTIONS = ("release_signoff", "release_checklist")
_MARKER_NAME = re.compile(r"\b((?:gate|stage)_[a-z]+)\b")


class CheckRunner:
    """Runs each gate check under the rules above (hook wrappers around setup, call, report)."""

    def __init__(self, redactor: Redactor, check_deadline_s: float | None = None) -> None:
        self.redact = redactor
        self.check_deadline_s = check_deadline_s

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item,
                                nextitem: pytest.Item | None) -> Generator[None, object, object]:
        """Each check's setup, call and teardown run under one budget: no probe call inside
        lasts past ``release.check_deadline_s`` (see :mod:`~pytest_release.probes.deadline`)."""
        from .probes.deadline import check_budget

        with check_budget(self.check_deadline_s):
            return (yield)

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


#: The artifacts a run may be asked to write, by their spelling on the command line: the sign-off's
#: own, and (for a release run) pytest-html's report and pytest's JUnit XML.
RAW_ARTIFACT_FLAGS = ("--release-signoff", "--release-checklist")
RAW_REPORT_FLAGS = ("--html", "--junitxml", "--junit-xml")


def artifacts_in_args(args: Sequence[str]) -> list[str]:
    """The artifact paths named in raw command-line arguments (``--opt PATH`` and ``--opt=PATH``):
    the sign-off's always, the HTML and JUnit reports of a run that names ``--release``."""
    release_run = any(a == "--release" or a.startswith("--release=") for a in args)
    flags = RAW_ARTIFACT_FLAGS + (RAW_REPORT_FLAGS if release_run else ())
    found = _values(args, flags)
    # the baseline is never removed: a run that names it as its output too is refused later
    keep = {Path(v).expanduser().absolute() for v in _values(args, ("--release-baseline",))}
    return [f for f in found if f and Path(f).expanduser().absolute() not in keep]


def _values(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    values = []
    for i, arg in enumerate(args):
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in flags:
            values.append(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
    return [v for v in values if v]


def remove_paths(paths: Sequence[str], base: Path) -> None:
    for target in paths:
        path = Path(target).expanduser()
        with contextlib.suppress(OSError):  # unwritable: warned about when writing
            (path if path.is_absolute() else base / path).unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half
    of one (a temporary file in the same directory, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the artifact from others
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
        self._signoff: SignOff | None = None

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
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            collector.interrupted = True
            collector._signoff = None
        signoff = self._signoff = collector.signoff()
        for option, render in (("release_signoff", json_report.render),
                               ("release_checklist", markdown.render)):
            target = self.config.getoption(option)
            if not target:
                continue
            path = Path(target).expanduser().resolve()
            try:
                write_atomically(path, render(signoff))
            except OSError as exc:
                warnings.warn(ReleaseReportWarning(f"could not write {path}: {exc.strerror}"),
                              stacklevel=1)
        if collector.settings.release.version is None:
            return  # no release under sign-off: pytest's status stands
        summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:  # CI job page: a short summary (verdict, gate table, failures)
            try:
                with open(summary_path, "a", encoding="utf-8") as stream:
                    stream.write(markdown.step_summary(signoff))
            except OSError as exc:
                warnings.warn(ReleaseReportWarning(
                    f"could not append to GITHUB_STEP_SUMMARY={summary_path}: {exc.strerror}"),
                    stacklevel=1)
        session.exitstatus = signoff.exit_status(
            session.exitstatus, requested=self.requested(),
            require_approval=bool(self.config.getoption("release_require_approval")))

    def requested(self) -> set[str]:
        """Gate and stage markers named in ``-m`` (a gate asked for, even one with no checks)."""
        return set(_MARKER_NAME.findall(str(self.config.getoption("markexpr", "") or "")))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        collector = self.collector
        if collector.usage_error:
            terminalreporter.write_line(f"ERROR: {collector.usage_error}", red=True, bold=True)
            return
        if self._collect_only():
            return
        if collector.settings.release.version is None:
            return  # not a release run (the refusal, if any, is the usage error above)
        # the sign-off of pytest_sessionfinish (no later report can change it): built once
        signoff = self._signoff or collector.signoff()
        from .report import terminal

        terminal.write(signoff, terminalreporter)
        for gate in signoff.selected_gates(self.requested()):
            if not gate.checks:
                terminalreporter.write_line(
                    f"{gate.gate.marker} was selected but {gate.reason}: nothing of "
                    f"{gate.gate.label} {gate.gate.title} was measured (is the bundled suite "
                    "collected? see --release-suite, or the path you named)", yellow=True)
        for option in ARTIFACT_OPTIONS:
            target = self.config.getoption(option)
            if target:
                terminalreporter.write_line(
                    f"{option.replace('_', ' ')}: {Path(target).resolve()}")
        session = getattr(terminalreporter, "_session", None)
        status = int(session.exitstatus) if session is not None else 0  # set by sessionfinish
        if status in (EXIT_REJECTED, EXIT_INCOMPLETE):
            word = "a selected gate failed" if status == EXIT_REJECTED else \
                "a selected gate was not measured or not run"
            terminalreporter.write_line(f"exit status {status}: {word} (verdict {signoff.verdict})",
                                        red=status == EXIT_REJECTED,
                                        yellow=status == EXIT_INCOMPLETE)
