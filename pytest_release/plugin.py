"""pytest entry point (``pytest11: release``): options, markers and wiring only.

The state lives in objects registered by name on the controller (``release-signoff``,
``release-html``) and in ``config.stash``, the way ``_pytest/junitxml.py`` keeps ``LogXML``.
Heavy clients (redis, requests, kubernetes, testinfra) are imported by the probes that use them,
never here.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .collector import USAGE_ERROR_KEY, CheckIndex, SignOffCollector, describe
from .evidence import CHECK, Evidence, not_measured
from .gates import CATALOGUE, GATES, ITEM_MARKER, PRE_DEPLOYMENT
from .settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from .probes import ProbeUnavailable as _ProbeUnavailable  # noqa: F401

settings_key = pytest.StashKey[Settings]()
index_key = pytest.StashKey[CheckIndex]()
collector_key = pytest.StashKey[SignOffCollector]()
evidence_key = pytest.StashKey[Evidence]()

DEFAULT_CONFIG = "release.toml"


class ReleaseReportWarning(UserWarning):
    """A sign-off artifact could not be written (the run itself is unaffected)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("release", "release sign-off (pytest-release)")
    group.addoption("--release", metavar="VERSION", default=None,
                    help="release under sign-off, e.g. v5.7.1 (required to run gate checks)")
    group.addoption("--release-config", metavar="PATH", default=None,
                    help=f"TOML settings (default: {DEFAULT_CONFIG} at rootdir when present); "
                         "${ENV_VAR} is interpolated")
    group.addoption("--release-set", metavar="KEY=VALUE", action="append", default=[],
                    help="override one setting, dotted and type-checked (repeatable), "
                         "e.g. --release-set load.p95_ms=100")
    group.addoption("--release-signoff", metavar="PATH", default=None,
                    help="write the JSON sign-off to PATH")
    group.addoption("--release-checklist", metavar="PATH", default=None,
                    help="write the Markdown checklist to PATH")
    group.addoption("--release-require-approval", action="store_true", default=False,
                    help="exit non-zero unless the verdict is APPROVED")


def _load(config: pytest.Config) -> Settings:
    explicit = config.getoption("release_config")
    path = Path(explicit) if explicit else config.rootpath / DEFAULT_CONFIG
    try:
        return load_settings(
            path=path,
            path_is_explicit=bool(explicit),
            overrides=list(config.getoption("release_set")),
            version=config.getoption("release"),
            rootdir=config.rootpath,
        )
    except SettingsError as exc:
        count = len(exc.problems)
        raise pytest.UsageError(
            f"pytest-release: {count} configuration problem{'s' if count > 1 else ''}:\n  "
            + "\n  ".join(exc.problems)
        ) from None


def pytest_configure(config: pytest.Config) -> None:
    for gate in GATES:
        config.addinivalue_line(
            "markers", f"{gate.marker}: Gate {gate.number} ({gate.title}) release checks"
        )
    for stage in CATALOGUE:  # issue 10: the canary and post-deployment stages
        if stage.stage != PRE_DEPLOYMENT:
            config.addinivalue_line("markers", f"{stage.marker}: {stage.title} stage checks")
    config.addinivalue_line(
        "markers", f"{ITEM_MARKER}(item_id): the checklist item of its gate that this check earns"
    )
    if not hasattr(config, "workerinput"):
        # A refused or crashed run must not leave the last run's sign-off looking current.
        for option in ("release_signoff", "release_checklist"):
            target = config.getoption(option)
            if target:
                with contextlib.suppress(OSError):  # unwritable: warned about when writing
                    Path(target).expanduser().unlink(missing_ok=True)
    settings = _load(config)
    config.stash[settings_key] = settings
    index = CheckIndex(config)
    config.stash[index_key] = index
    config.pluginmanager.register(index, "release-index")
    if hasattr(config, "workerinput"):
        return
    # -- packaging: introspection (--collect-only, --fixtures, --markers) writes no sign-off --
    from .selection import introspecting

    if introspecting(config):
        return
    collector = SignOffCollector(config, settings, index)
    config.stash[collector_key] = collector
    config.pluginmanager.register(collector, "release-signoff")
    if config.pluginmanager.hasplugin("html"):
        from .report.html import HtmlSignOff

        config.pluginmanager.register(HtmlSignOff(collector), "release-html")


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in ("release-html", "release-signoff", "release-index"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[settings_key]
    from .selection import introspecting  # -- packaging: listing checks needs no --release --

    if introspecting(config):
        return
    if settings.release.version is None and any(describe(i) is not None for i in items):
        message = (
            "--release is required to run release gate checks: pass --release v5.7.1 "
            "(or set version in the [release] table of release.toml)"
        )
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is None:
            raise pytest.UsageError(message)
        # A UsageError inside an xdist worker surfaces as an INTERNALERROR wall: run nothing
        # and let the controller report the one error (collector.usage_error) with exit 4.
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        workeroutput[USAGE_ERROR_KEY] = message


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(settings_key, None)
    if settings is None or settings.release.version is None:
        return None
    return [f"release: {settings.release.version} (settings: {settings.source or 'defaults'})"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    from .probes import ProbeUnavailable

    info = describe(item)
    if info is not None:
        import json

        item.user_properties.append((CHECK, json.dumps(info, sort_keys=True)))
    try:
        return (yield)
    except ProbeUnavailable as exc:
        __tracebackhide__ = True
        not_measured(item.config.stash[settings_key].redact(str(exc)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    from .probes import ProbeUnavailable

    __tracebackhide__ = True
    evidence = item.stash.get(evidence_key, None)
    redact = item.config.stash[settings_key].redact
    try:
        result = yield
    except (ProbeUnavailable, pytest.skip.Exception) as exc:
        reason = redact(str(exc))
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
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    settings = item.config.stash.get(settings_key, None)
    if settings is not None and settings.secrets:
        _redact_report(report, settings)
    return report


def _redact_report(report: pytest.TestReport, settings: Settings) -> None:
    """Keep secrets out of tracebacks and captured output, whatever printed them."""
    if report.longrepr is not None:
        text = str(report.longrepr)
        if settings.redact(text) != text:
            if isinstance(report.longrepr, tuple):
                path, lineno, message = report.longrepr
                report.longrepr = (path, lineno, settings.redact(str(message)))
            else:
                report.longrepr = settings.redact(text)
    report.sections = [(title, settings.redact(body)) for title, body in report.sections]
    report.user_properties = [
        (key, settings.redact(value) if isinstance(value, str) else value)
        for key, value in report.user_properties
    ]


@pytest.fixture(scope="session")
def release_settings(request: pytest.FixtureRequest) -> Settings:
    """The frozen release settings (TOML + ``--release-set`` + ``--release``)."""
    return request.config.stash[settings_key]


@pytest.fixture
def evidence(request: pytest.FixtureRequest, release_settings: Settings) -> Evidence:
    """Record measured values for this check: ``evidence.check(name, value, op, threshold)``.

    Each measurement lands in the sign-off (JSON, HTML, Markdown) and as a JUnit property;
    ``evidence.not_measured(reason)`` ends the check as not measured (never a pass).
    """
    info = describe(request.node) or {"title": request.node.name}
    ev = Evidence(request.node, release_settings, info["title"])
    request.node.stash[evidence_key] = ev
    return ev


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    collector = config.stash.get(collector_key, None)
    if collector is None:
        return
    from .report import json as json_report
    from .report import markdown

    if collector.usage_error or exitstatus == pytest.ExitCode.USAGE_ERROR:
        # A refused run (no --release, bad option) must not leave a sign-off behind.
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    signoff = collector.signoff()
    redact = collector.settings.redact
    for option, render in (("release_signoff", json_report.render),
                           ("release_checklist", markdown.render)):
        target = config.getoption(option)
        if not target:
            continue
        path = Path(target).expanduser().resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(signoff, redact), encoding="utf-8")
        except OSError as exc:
            warnings.warn(ReleaseReportWarning(f"could not write {path}: {exc.strerror}"),
                          stacklevel=1)
    if (config.getoption("release_require_approval") and not signoff.approved
            and session.exitstatus == pytest.ExitCode.OK):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.stash.get(collector_key, None)
    if collector is not None and collector.usage_error:
        terminalreporter.write_line(f"ERROR: {collector.usage_error}", red=True, bold=True)
        return
    if collector is None:
        return
    signoff = collector.signoff()
    if not any(g.checks for g in signoff.gates):
        return
    from .report import terminal

    terminal.write(signoff, terminalreporter, collector.settings.redact)
    for option in ("release_signoff", "release_checklist"):
        target = config.getoption(option)
        if target:
            terminalreporter.write_line(f"{option.replace('_', ' ')}: {Path(target).resolve()}")
    if config.getoption("release_require_approval") and not signoff.approved:
        terminalreporter.write_line(
            "--release-require-approval: exit status is non-zero because the verdict is "
            f"{signoff.verdict}", red=True)


pytest_plugins = ["pytest_release.fixtures", "pytest_release.fixtures_observability",
                  "pytest_release.fixtures_cluster", "pytest_release.fixtures_security",
                  "pytest_release.fixtures_gitops", "pytest_release.fixtures_canary"]
# -- packaging: the bundled suite (selection.py) and the rootdir repair for `--opt value` (paths.py) --
pytest_plugins += ["pytest_release.selection", "pytest_release.paths"]
