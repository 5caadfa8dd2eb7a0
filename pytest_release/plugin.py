"""pytest entry point (``pytest11: release``): options, markers and registration only.

The rules live on registered objects (``runner.CheckRunner``, ``collector.SignOffCollector``,
``runner.SignOffWriter``), the fixtures in ``pytest_release.fixtures`` (entry point
``release_fixtures``), the stash keys in ``keys``. Imports here are stdlib + pytest only.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .gates import GATES, ITEM_MARKER
from .keys import USAGE_ERROR_KEY, collector_key, evidence_key, index_key, settings_key
from .settings import Settings, SettingsError, load_settings

#: The stash keys live in ``keys``; re-exported for code that imported them from here.
__all__ = ["collector_key", "evidence_key", "index_key", "settings_key"]

DEFAULT_CONFIG = "release.toml"
_PLUGINS = ("release-html", "release-writer", "release-signoff", "release-runner", "release-index")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("release", "release sign-off (pytest-release)")
    add = group.addoption
    add("--release", metavar="VERSION", default=None,
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
    config.addinivalue_line(
        "markers", f"{ITEM_MARKER}(item_id): the checklist item of its gate that this check earns")
    manager = config.pluginmanager
    if not manager.has_plugin("release_fixtures"):  # loaded by -p, not from its entry points
        manager.import_plugin("pytest_release.fixtures")
    worker = hasattr(config, "workerinput")
    if not worker:
        remove_stale_artifacts(config)
    settings = config.stash[settings_key] = _load(config)
    index = config.stash[index_key] = CheckIndex(config)
    manager.register(index, "release-index")
    manager.register(CheckRunner(settings.redactor), "release-runner")
    if worker:
        return
    collector = config.stash[collector_key] = SignOffCollector(config, settings, index)
    manager.register(collector, "release-signoff")
    manager.register(SignOffWriter(config, collector), "release-writer")
    if manager.hasplugin("html"):
        from .report.html import HtmlSignOff

        manager.register(HtmlSignOff(collector), "release-html")


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in _PLUGINS:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .collector import describe

    if config.stash[settings_key].release.version is not None:
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


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(settings_key, None)
    if settings is None or settings.release.version is None:
        return None
    return [f"release: {settings.release.version} (settings: {settings.source or 'defaults'})"]
