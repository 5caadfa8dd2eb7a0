"""Which release checks a run collects: the bundled suite, the team's own, or both.

The rule (``--release-suite`` / ini ``release_suite``):

``auto`` (default)
    With ``--release`` and *no test paths* (none on the command line, no ``testpaths`` in force)
    and no ``tests_release/`` directory of the rootdir's own, the run collects the bundled suite
    (:func:`pytest_release.bundled.suite_path`) instead of the invocation directory. That is
    what makes ``pytest --release v5.7.1 -m gate_redis`` work in any directory after a wheel
    install. Paths given on the command line or through ``testpaths`` are left alone, and so is
    a checkout (or a team's copy) that has its own ``tests_release/``.
``bundled``
    The bundled suite is collected *in addition to* the paths in force: a team's own checks next
    to the bundled ones (``testpaths = release_checks`` plus ``release_suite = bundled``).
``off``
    Never add the bundled suite.

A run with ``--release`` that ends up collecting no release check at all is refused with one
error saying why and how to fix it, instead of a silent ``collected 0 items``. Introspection
(``--collect-only``, ``--fixtures``, ``--fixtures-per-test``, ``--markers``) needs no
``--release``, runs no check and writes no sign-off.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .bundled import checkout_root, suite_path

CHOICES = ("auto", "bundled", "off")


def introspecting(config: pytest.Config) -> bool:
    """True for runs that only list things (tests, fixtures, markers) and execute no check."""
    option = config.option
    return bool(getattr(option, "collectonly", False) or getattr(option, "showfixtures", False)
                or getattr(option, "show_fixtures_per_test", False)
                or getattr(option, "markers", False))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("release")
    group.addoption("--release-suite", choices=CHOICES, default=None,
                    help="collect the bundled release suite: auto (default: when --release is "
                         "given without test paths and the rootdir has no tests_release/), "
                         "bundled (also next to the given paths), off")
    parser.addini("release_suite", "bundled release suite: auto, bundled or off (see "
                  "--release-suite)", default="auto")


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("release_suite") or str(config.getini("release_suite")).strip()
    if mode not in CHOICES:
        where = config.inipath or "ini"
        raise pytest.UsageError(f"{where}: release_suite = {mode!r}: use one of "
                                f"{', '.join(CHOICES)}")
    return mode


def _covers(arg: str, suite: Path, invocation_dir: Path) -> bool:
    """Whether a collection argument already takes in the suite (or a part of it)."""
    path = Path(arg.split("::", 1)[0])
    path = (path if path.is_absolute() else invocation_dir / path).resolve()
    if path == suite or suite in path.parents:
        return True
    # A directory above the suite collects it only in a checkout: pytest never recurses into a
    # virtualenv, so from the directory holding ``.venv`` an installed suite is not collected.
    return path in suite.parents and checkout_root() is not None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    mode = _mode(config)
    if mode == "off" or config.option.pyargs:
        return
    if not config.getoption("release") and not (mode == "bundled" and introspecting(config)):
        return
    suite = suite_path().resolve()
    if not suite.is_dir():
        return  # reported by the no-checks error below, naming the missing suite
    invocation_dir = config.invocation_params.dir
    if any(_covers(arg, suite, invocation_dir) for arg in config.args):
        return
    if mode == "auto":
        if config.args_source != pytest.Config.ArgsSource.INVOCATION_DIR:
            return  # paths on the command line or from testpaths: the user's choice
        if (config.rootpath / "tests_release").is_dir():
            return  # a checkout, or a team's own copy of the suite, wins
        config.args[:] = [str(suite)]
    else:
        config.args.append(str(suite))


def pytest_report_header(config: pytest.Config) -> str | None:
    suite = str(suite_path().resolve())
    if config.getoption("release") and suite in config.args:
        from . import __version__

        return f"release suite: bundled with pytest-release {__version__} ({suite})"
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    version = config.getoption("release")
    if not version or introspecting(config):
        return
    from .collector import USAGE_ERROR_KEY, describe

    if any(describe(item) is not None for item in session.items):
        return
    message = no_checks_message(config, version, len(session.items))
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None:
        raise pytest.UsageError(message)
    # As plugin.py does for a missing --release: a UsageError in an xdist worker is an
    # INTERNALERROR wall, so the worker runs nothing and the controller reports the one error.
    config.hook.pytest_deselected(items=list(session.items))
    session.items[:] = []
    workeroutput[USAGE_ERROR_KEY] = message


def no_checks_message(config: pytest.Config, version: str, others: int) -> str:
    """Why a ``--release`` run collected no release check, and what to run instead."""
    paths = " ".join(config.args)
    also = f" (only {others} other test{'s' if others != 1 else ''})" if others else ""
    lines = [f"--release {version}: no release check was selected to run from {paths}{also}."]
    suite = suite_path()
    if not suite.is_dir():
        lines.append(f"The bundled suite is missing ({suite}): reinstall pytest-release.")
    elif config.getoption("markexpr") or config.getoption("keyword"):
        from .gates import GATES

        lines.append("-m/-k selected none of them: check the expression (gate markers: "
                     f"{', '.join(g.marker for g in GATES)}; see pytest --markers).")
    if str(suite.resolve()) not in config.args:
        lines.append("To run the bundled suite: give no test paths (pytest --release "
                     f"{version}), or add it next to yours with --release-suite=bundled.")
    return "\n  ".join(lines)
