"""Keep ``--release-config /abs/release.toml`` (a value after a space) from moving the rootdir.

The cause, in pytest's ``Config.parse`` (``_pytest/config/__init__.py``): the rootdir and the
ini file are chosen by ``determine_setup`` (``findpaths.py``) from the positional arguments of a
*first* parse of the command line, made before entry-point plugins are loaded and so before
their options (``--release-config``, ``--release-signoff``, pytest-html's ``--html``) exist.
That parse reads ``--release-config`` as an unknown flag and ``/abs/release.toml`` as a test
path; an existing path outside the project makes the common ancestor (often ``/``) the rootdir,
no ini file is found, ``testpaths``/``addopts`` are lost, and pytest collects the invocation
directory (``tests/`` next to ``tests_release/``: "import file mismatch"). ``--opt=value`` and
``-c``/``--rootdir`` are immune; a value that does not exist yet (a first sign-off) is too.

The repair runs in ``pytest_load_initial_conftests`` (the first hook after this plugin's options
exist, before conftests, rootdir-relative settings or collection): it repeats
``determine_setup`` with the positional arguments the full parser sees and, when the answer
differs, puts pytest's rootdir, ini file, ini values, ``addopts`` and default ``confcutdir``
where they would have been. That touches private attributes (``_rootpath``, ``_inipath``,
``_inicfg``, ``_inicache``) and ``findpaths.determine_setup``; where they are not as expected
(another pytest version), or the wrong guess already had effects that cannot be undone here (an
ini file with ``addopts``/``pythonpath`` of its own, capture or assert mode, plugins), the run
stops with one UsageError naming the remedy instead.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest


class _CannotRepair(Exception):
    pass


def _determine_setup(config: pytest.Config, namespace: Any) -> tuple[Path, Path | None, Any]:
    from _pytest.config import findpaths

    determine = findpaths.determine_setup
    candidates = {
        "inifile": namespace.inifilename,
        "override_ini": getattr(namespace, "override_ini", None),
        "args": namespace.file_or_dir,
        "rootdir_cmd_arg": namespace.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    accepted = inspect.signature(determine).parameters
    result = determine(**{k: v for k, v in candidates.items() if k in accepted})
    return result[0], result[1], result[2]


def _misread(user_args: list[str], positionals: list[str]) -> list[tuple[str, str]]:
    """``(--option, value)`` pairs whose existing-path value the first parse took for a path."""
    found = []
    for option, value in zip(user_args, user_args[1:]):
        if (option.startswith("--") and "=" not in option and not value.startswith("-")
                and value not in positionals and Path(value).expanduser().exists()):
            found.append((option, value))
    return found


def _remedy(moved_to: Path, misread: list[tuple[str, str]], why: str) -> str:
    given = ", ".join(f"{option} {value}" for option, value in misread)
    spelled = ", ".join(f"{option}={value}" for option, value in misread)
    return (
        f"pytest-release: pytest read the value of {given} as a test path (it decides the "
        f"rootdir before plugin options are known), which moved the rootdir to "
        f"{moved_to} {why}. Write {spelled} (with '='), or pin the project with "
        "--rootdir=DIR or -c/--config-file=FILE."
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> None:
    config = early_config
    try:
        wrong_addopts = list(config.getini("addopts"))
        user_args = args[len(wrong_addopts):] if args[:len(wrong_addopts)] == wrong_addopts \
            else None
        if user_args is None:
            raise _CannotRepair("addopts not where pytest puts them")
        namespace = parser.parse_known_args(user_args, namespace=copy.copy(config.option))
        rootpath, inipath, inicfg = _determine_setup(config, namespace)
    except _CannotRepair:
        return
    except Exception:  # pytest internals not as expected: leave pytest's answer alone
        return
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    misread = _misread(user_args, list(namespace.file_or_dir))
    if not misread:
        return  # the difference has another cause than a misread option value: not ours
    moved_to = config.rootpath
    try:
        _repair(config, parser, args, user_args, wrong_addopts, rootpath, inipath, inicfg)
    except _CannotRepair as exc:
        raise pytest.UsageError(_remedy(moved_to, misread, str(exc))) from None


def _repair(config: pytest.Config, parser: pytest.Parser, args: list[str], user_args: list[str],
            wrong_addopts: list[str], rootpath: Path, inipath: Path | None, inicfg: Any) -> None:
    if wrong_addopts:
        raise _CannotRepair(f"and applied the addopts of {config.inipath}")
    if config.inipath is not None and config.getini("pythonpath"):
        raise _CannotRepair(f"and applied the pythonpath of {config.inipath}")
    # pytest 9 keeps the ini values in ``_inicfg``, pytest 8 in ``inicfg``.
    inicfg_attr = "_inicfg" if hasattr(config, "_inicfg") else "inicfg"
    for name in ("_rootpath", "_inipath", inicfg_attr, "_inicache"):
        if not hasattr(config, name):
            raise _CannotRepair("(this pytest version keeps its rootdir elsewhere)")
    before = config.known_args_namespace
    saved = (config._rootpath, config._inipath, getattr(config, inicfg_attr))
    config._rootpath = rootpath
    config._inipath = inipath
    setattr(config, inicfg_attr, inicfg)
    config._inicache.clear()
    try:
        addopts = list(config.getini("addopts"))
        if config.getini("pythonpath"):
            raise _CannotRepair(f"while {inipath} sets pythonpath, which pytest applies earlier")
        new_args = [*addopts, *user_args]
        namespace = parser.parse_known_args(new_args, namespace=copy.copy(config.option))
        for attr in ("capture", "assertmode"):
            if getattr(namespace, attr, None) != getattr(before, attr, None):
                raise _CannotRepair(f"while the addopts of {inipath} change --{attr}, which "
                                    "pytest applies earlier")
    except _CannotRepair:
        config._rootpath, config._inipath = saved[0], saved[1]
        setattr(config, inicfg_attr, saved[2])
        config._inicache.clear()
        raise
    args[:] = new_args
    if namespace.confcutdir is None:
        namespace.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    config.known_args_namespace = namespace
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    # ``-p name`` / ``-p no:name`` from the right ini's addopts (a blocked plugin is unregistered).
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    checkversion = getattr(config, "_checkversion", None)
    if checkversion is not None:
        checkversion()
