"""pytest entry point (``pytest11: release``): options, markers and registration only.

The rules live on registered objects (``runner.CheckRunner``, ``collector.SignOffCollector``,
``runner.SignOffWriter``), the fixtures in ``pytest_release.fixtures`` (entry point
``release_fixtures``), the stash keys in ``keys``. Imports here are stdlib + pytest only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .gates import CATALOGUE, GATES, ITEM_MARKER, PRE_DEPLOYMENT
from .keys import USAGE_ERROR_KEY, collector_key, evidence_key, index_key, settings_key
from .settings import Settings, SettingsError, load_settings

#: The stash keys live in ``keys``; re-exported for code that imported them from here.
__all__ = ["collector_key", "evidence_key", "index_key", "settings_key"]

DEFAULT_CONFIG = "release.toml"
_PLUGINS = ("release-html", "release-writer", "release-signoff", "release-runner", "release-index")


def _release_version(value: str) -> str:
    """``--release``: a non-empty version on one line (it names the sign-off everywhere)."""
    import argparse
    import unicodedata

    if not value.strip():
        raise argparse.ArgumentTypeError("is empty: name the release under sign-off, e.g. "
                                         "--release v5.7.1")
    bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise argparse.ArgumentTypeError(
            f"contains a control character ({', '.join(sorted({f'U+{ord(c):04X}' for c in bad}))})"
            ": a release version is one printable line, e.g. --release v5.7.1")
    if value != value.strip() or len(value) > 128:
        raise argparse.ArgumentTypeError(
            "has surrounding blanks or is longer than 128 characters: e.g. --release v5.7.1")
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """The earliest hook that sees the raw arguments, before pytest parses them strictly: the
    artifacts this run was asked to write go now, so a usage error (an unknown flag), a config
    error or a refusal later cannot leave an earlier run's sign-off looking current."""
    from .runner import artifacts_in_args, remove_paths

    if hasattr(early_config, "workerinput"):
        return
    remove_paths(artifacts_in_args(list(args)), early_config.invocation_params.dir)


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("release", "release sign-off (pytest-release)")
    add = group.addoption
    add("--release", metavar="VERSION", default=None, type=_release_version,
        help="release under sign-off, e.g. v5.7.1 (required to run gate checks)")
    add("--release-config", metavar="PATH", default=None,
        help=f"TOML settings (default: {DEFAULT_CONFIG} at rootdir when present); ${{ENV_VAR}} "
             "is interpolated")
    add("--release-set", metavar="KEY=VALUE", action="append", default=[],
        help="override one setting, dotted and type-checked (repeatable), e.g. --release-set "
             "load.p95_ms=100")
    add("--release-signoff", metavar="PATH", default=None, help="write the JSON sign-off to PATH")
    add("--release-checklist", metavar="PATH", default=None,
        help="write the Markdown checklist to PATH")
    add("--release-require-approval", action="store_true", default=False,
        help="exit non-zero unless the verdict is APPROVED")
    # the contract (issue 12)
    add("--release-waivers", metavar="PATH", default=None,
        help="TOML file of [[waiver]] (and [[attestation]]) entries")
    add("--release-attestations", metavar="PATH", default=None,
        help="TOML file of [[attestation]] entries (may also sit in the waivers file)")
    add("--release-baseline", metavar="PATH", default=None,
        help="an earlier sign-off JSON to compare with (deltas, regressions)")
    add("--release-checklist-source", metavar="PATH", default=None,
        help="the team's own Markdown checklist: every box line bound to the catalogue; "
             "--release-checklist writes it back ticked")


def _baseline_is_not_the_output(config: pytest.Config) -> None:
    """The sign-off written by this run cannot be its own baseline."""
    baseline, target = config.getoption("release_baseline"), config.getoption("release_signoff")
    if baseline and target and Path(baseline).expanduser().resolve() == \
            Path(target).expanduser().resolve():
        raise pytest.UsageError(
            f"pytest-release: --release-baseline {baseline} is also the --release-signoff path: "
            "this run would overwrite the baseline it compares with; copy it first "
            "(cp signoff.json baseline.json)")


def _load_contract(config: pytest.Config, settings: Settings) -> Any:
    """Waivers, attestations, baseline, team checklist: every problem in one UsageError."""
    from datetime import UTC, datetime

    from .contract import ContractError, load_contract

    defaults = load_settings(path=None, path_is_explicit=False, overrides=[],
                             version=settings.release.version, rootdir=config.rootpath)
    try:
        return load_contract(
            settings, waivers=config.getoption("release_waivers"),
            attestations=config.getoption("release_attestations"),
            baseline=config.getoption("release_baseline"),
            checklist_source=config.getoption("release_checklist_source"),
            wording=defaults.checklist_values(), today=datetime.now(UTC).date())
    except ContractError as exc:
        count = len(exc.problems)
        raise pytest.UsageError(
            f"pytest-release: {count} problem{'s' if count > 1 else ''} in the waivers, "
            "attestations, baseline or checklist source:\n  " + "\n  ".join(exc.problems)
        ) from None


def _load(config: pytest.Config) -> Settings:
    explicit = config.getoption("release_config")
    path = Path(explicit) if explicit else config.rootpath / DEFAULT_CONFIG
    try:
        return load_settings(path=path, path_is_explicit=bool(explicit),
                             overrides=list(config.getoption("release_set")),
                             version=config.getoption("release"), rootdir=config.rootpath)
    except SettingsError as exc:
        count = len(exc.problems)
        raise pytest.UsageError(
            f"pytest-release: {count} configuration problem{'s' if count > 1 else ''}:\n  "
            + "\n  ".join(exc.problems)) from None


def pytest_configure(config: pytest.Config) -> None:
    from .collector import CheckIndex, SignOffCollector
    from .runner import CheckRunner, SignOffWriter, remove_stale_artifacts

    for gate in GATES:
        config.addinivalue_line("markers",
                                f"{gate.marker}: Gate {gate.number} ({gate.title}) release checks")
    for stage in CATALOGUE:  # the canary and post-deployment stages
        if stage.stage != PRE_DEPLOYMENT:
            config.addinivalue_line("markers", f"{stage.marker}: {stage.title} stage checks")
    config.addinivalue_line(
        "markers", f"{ITEM_MARKER}(item_id): the checklist item of its gate that this check earns")
    manager = config.pluginmanager
    if not manager.has_plugin("release_fixtures"):  # loaded by -p, not from its entry points
        manager.import_plugin("pytest_release.fixtures")
    worker = hasattr(config, "workerinput")
    if not worker:
        _baseline_is_not_the_output(config)  # before any file is removed
        remove_stale_artifacts(config)
        _handle_sigterm(config)
    settings = config.stash[settings_key] = _load(config)
    index = config.stash[index_key] = CheckIndex(config)
    manager.register(index, "release-index")
    manager.register(CheckRunner(settings.redactor, settings.release.check_deadline_s),
                     "release-runner")
    from .hygiene import install_log_redaction, scrub_debug_file

    if config.getoption("release") or settings.redactor:
        # a release run (or one holding secrets): every log record is masked; another project's
        # plain pytest run in the same environment keeps logging's own record factory
        install_log_redaction(settings.redactor)
    if config.getoption("debug", None):
        scrub_debug_file(config, settings.redactor)
    if worker:
        return
    from .selection import introspecting

    if introspecting(config):  # --collect-only, --fixtures, --markers write no sign-off
        return
    collector = config.stash[collector_key] = SignOffCollector(config, settings, index)
    collector.contract = _load_contract(config, settings)
    manager.register(collector, "release-signoff")
    manager.register(SignOffWriter(config, collector), "release-writer")
    if manager.hasplugin("html"):
        from .report.html import HtmlSignOff

        manager.register(HtmlSignOff(collector), "release-html")


def _handle_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a CI job cancelled, a pod evicted) ends the run the way Ctrl-C does: the checks
    stop, the sign-off is written INCOMPLETE (interrupted), nothing stale is left."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # someone else handles it (a runner, an embedding program)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    config.add_cleanup(restore)


def pytest_unconfigure(config: pytest.Config) -> None:
    from .hygiene import uninstall_log_redaction

    uninstall_log_redaction()
    for name in _PLUGINS:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .collector import describe
    from .selection import introspecting

    if config.stash[settings_key].release.version is not None or introspecting(config):
        return
    if not any(describe(i) is not None for i in items):
        return
    message = ("--release is required to run release gate checks: pass --release v5.7.1 "
               "(or set version in the [release] table of release.toml)")
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None:
        raise pytest.UsageError(message)
    # A UsageError inside an xdist worker surfaces as an INTERNALERROR wall: run nothing and
    # let the controller report the one error (collector.usage_error) with exit 4.
    config.hook.pytest_deselected(items=list(items))
    items[:] = []
    workeroutput[USAGE_ERROR_KEY] = message


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """pytest-metadata's Environment table: credentials and known secrets masked."""
    from .hygiene import scrub_metadata

    settings = config.stash.get(settings_key, None)
    from .redact import Redactor

    scrub_metadata(metadata, settings.redactor if settings is not None else Redactor())


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The metadata again, whatever plugin added values after ``pytest_metadata``."""
    config = session.config
    settings = config.stash.get(settings_key, None)
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is not None and settings is not None:
        from .hygiene import scrub_metadata

        scrub_metadata(metadata, settings.redactor)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(settings_key, None)
    if settings is None or settings.release.version is None:
        return None
    return [f"release: {settings.release.version} (settings: {settings.source or 'defaults'})"]


# The bundled suite (selection.py) and the rootdir repair for `--opt value` (paths.py).
pytest_plugins = ["pytest_release.selection", "pytest_release.paths"]
