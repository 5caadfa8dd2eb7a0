"""Controller-side gathering of reports into check records (xdist-safe).

Two objects:
- :class:`CheckIndex` runs wherever collection happens (the serial process or each xdist worker)
  and knows which collected test belongs to which gate and item, and what was deselected. On a
  worker it ships that map to the controller through ``config.workeroutput``.
- :class:`SignOffCollector` runs on the controller only. It folds the setup/call/teardown reports
  of every test (including the synthetic ``when="???"`` report of a crashed worker) into one
  outcome per check and hands everything to :func:`verdict.decide`.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import evidence as ev
from .gates import CATALOGUE, GATES_BY_ID, GATES_BY_MARKER, ITEM_MARKER
from .keys import USAGE_ERROR_KEY, WORKEROUTPUT_KEY, settings_key
from .verdict import SOURCE_KINDS, Attachment, CheckRecord, Measurement, SignOff, decide

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["USAGE_ERROR_KEY", "WORKEROUTPUT_KEY", "CheckIndex", "SignOffCollector", "describe"]

#: Crash attribution by file name: ``test_gate_<id>.py``, ``test_gate_<id>_<part>.py`` and the
#: stages' ``test_canary.py`` / ``test_postdeploy.py``.
_MODULE_GATE = re.compile(r"test_(?:gate_)?([a-z]+)(?:_[a-z0-9_]+)?\.py")
_MAX_MESSAGE = 600
LOST_PREFIX = ev.NOT_MEASURED_PREFIX


def describe(item: pytest.Item) -> dict[str, Any] | None:
    """Gate, item id and title of a collected test, or None if it belongs to no gate."""
    gate = None
    for marker in item.iter_markers():
        if marker.name in GATES_BY_MARKER:
            gate = GATES_BY_MARKER[marker.name]
            break
    if gate is None:
        return None
    item_marker = item.get_closest_marker(ITEM_MARKER)
    item_id = str(item_marker.args[0]) if item_marker and item_marker.args else None
    title = None
    if item_id is not None:
        try:
            settings = item.config.stash.get(settings_key, None)
            title = gate.item(item_id).render(settings.checklist_values() if settings else None)
        except KeyError:
            item_id = None
    if title is None:
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        title = doc.strip().splitlines()[0] if doc and doc.strip() else item.name
    from .provenance import is_bundled_file

    replaced = replaced_fixtures(item)
    bundled = is_bundled_file(Path(str(item.path))) and not replaced
    return {"gate": gate.id, "item": item_id, "title": title, "bundled": bundled,
            "replaced": replaced}


def replaced_fixtures(item: pytest.Item) -> list[str]:
    """The pytest-release fixtures this check uses in another definition (a conftest's or a
    plugin's ``redis_probe``...): the check is then not the bundled one (DESIGN.md, "Trust")."""
    info = getattr(item, "_fixtureinfo", None)
    replaced = []
    for name, defs in (getattr(info, "name2fixturedefs", None) or {}).items():
        modules = [getattr(d.func, "__module__", "") or "" for d in defs]
        ours = [m.split(".")[0] == "pytest_release" for m in modules]
        if any(ours) and not ours[-1]:
            replaced.append(name)
    return sorted(replaced)


class CheckIndex:
    """Which collected test is which gate check; what was deselected (per process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: Gate checks that will run (after -m/-k/--deselect and node-id selection).
        self.checks: dict[str, dict[str, Any]] = {}
        #: Every gate check the collected modules define, selected or not: a module named on
        #: the command line as ``file::test`` still reports all its tests here.
        self.known: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        # Every collector's children, before node-id arguments (file::test) pick among them:
        # pytest_collectreport is not called for modules matched by node id.
        report = yield
        for node in report.result or ():
            if isinstance(node, pytest.Item):
                info = describe(node)
                if info is not None:
                    self.known[node.nodeid] = info
        return report

    @pytest.hookimpl(trylast=True)
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            info = describe(item)
            if info is not None:
                self.known[item.nodeid] = info

    @property
    def deselected(self) -> dict[str, dict[str, Any]]:
        """Known gate checks that will not run, by node id."""
        return {n: i for n, i in self.known.items() if n not in self.checks}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # trylast: runs after -m/-k deselection, so `items` is what will run.
        for item in items:
            info = describe(item)
            if info is not None:
                self.checks[item.nodeid] = info
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKEROUTPUT_KEY] = json.dumps(
                {"checks": self.checks, "known": self.known}
            )


def _short_message(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: "):] if text.startswith("Skipped: ") else text
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        text = str(crash.message)
    else:
        text = str(longrepr).strip().splitlines()[-1] if str(longrepr).strip() else ""
    for prefix in ("AssertionError: ", "Failed: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def _rank(report: pytest.TestReport) -> int:
    return {"passed": 0, "skipped": 1, "failed": 2, "rerun": 2}.get(report.outcome, 2)


class _Phases:
    __slots__ = ("reports", "properties", "duration")

    def __init__(self) -> None:
        self.reports: dict[str, pytest.TestReport] = {}
        self.properties: list[tuple[str, Any]] = []
        self.duration = 0.0


class SignOffCollector:
    """Registered as ``release-signoff`` on the controller; builds the SignOff at the end."""

    def __init__(self, config: pytest.Config, settings: Settings, index: CheckIndex) -> None:
        self.config = config
        self.settings = settings
        self.index = index
        self.remote_checks: dict[str, dict[str, Any]] = {}
        self.remote_known: dict[str, dict[str, Any]] = {}
        self.phases: dict[str, _Phases] = {}
        self.started_at = datetime.now(UTC)
        self._signoff: SignOff | None = None
        self.usage_error: str | None = None
        self.collection_errors: dict[str, str] = {}
        self.contract: Any = None  # contract (issue 12): a contract.Contract, set by the plugin
        #: Node ids the xdist workers said they collected (before any of them ran a test): the
        #: controller's own record of the full set, should no worker live to ship its map.
        self.collected: dict[str, None] = {}
        self.interrupted = False
        from .provenance import BundledIndex

        self._bundled = BundledIndex(config.rootpath)

    # -- gathering -------------------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr).strip().splitlines()
            self.collection_errors[report.nodeid] = text[-1] if text else "collection failed"
            self._signoff = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The same test can report more than once (--dist each, reruns): the worst report of a
        # phase wins and the evidence of every run is kept, so a failure is never overwritten.
        phases = self.phases.setdefault(report.nodeid, _Phases())
        when = report.when or "???"
        previous = phases.reports.get(when)
        if previous is None or _rank(report) >= _rank(previous):
            phases.reports[when] = report
        phases.duration += float(getattr(report, "duration", 0.0) or 0.0)
        merged = dict.fromkeys([*phases.properties, *map(tuple, report.user_properties)])
        phases.properties = list(merged)  # type: ignore[arg-type]
        self._signoff = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if output.get(USAGE_ERROR_KEY):
            self.usage_error = str(output[USAGE_ERROR_KEY])
        payload = output.get(WORKEROUTPUT_KEY)
        if not payload:
            return
        data = json.loads(payload)
        self.remote_checks.update(data.get("checks", {}))
        # Every worker collects the same tests: a union, never a sum.
        self.remote_known.update(data.get("known", {}))
        self._signoff = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected.update(dict.fromkeys(ids))
        self._signoff = None

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:  # SIGINT, and SIGTERM (plugin)
        self.interrupted = True
        self._signoff = None

    # -- folding ---------------------------------------------------------------------------
    def _info(self, nodeid: str, properties: list[tuple[str, Any]],
              crashed: bool = False) -> dict[str, Any] | None:
        info = self.index.checks.get(nodeid) or self.remote_checks.get(nodeid)
        if info is not None:
            return info
        for key, value in properties:
            if key == ev.CHECK:
                return dict(json.loads(value))
        if not crashed and (self.remote_known or nodeid not in self.collected):
            # An unmarked test is no gate check, whatever its module is called; a test a worker
            # collected but whose map never arrived (interrupted) is attributed by its module.
            return None
        match = _MODULE_GATE.search(nodeid.split("::")[0])
        if match and match.group(1) in GATES_BY_ID:
            return {"gate": match.group(1), "item": None, "title": nodeid.split("::")[-1]}
        return None

    def _outcome(self, phases: _Phases) -> tuple[str, str | None, bool]:
        """(outcome, message, lost): lost means the check could not finish for reasons outside it."""
        reports = phases.reports
        if "???" in reports:
            message = _short_message(reports["???"]) or ""
            return ("error", f"{LOST_PREFIX}worker crashed while running this check {message}".strip(),
                    True)
        setup, call, teardown = reports.get("setup"), reports.get("call"), reports.get("teardown")
        if setup is not None and setup.failed:
            return "error", "error in setup: " + (_short_message(setup) or ""), False
        if setup is not None and setup.skipped:
            return "skipped", _short_message(setup), False
        if call is None:
            return "skipped", "never ran (session interrupted or worker lost)", False
        if hasattr(call, "wasxfail") and call.skipped:
            return "failed", f"expected failure (xfail) is not a pass: {call.wasxfail}".strip(), False
        if str(call.outcome) == "rerun":  # pytest-rerunfailures
            return "failed", "failed and was rerun: " + (_short_message(call) or "") + (
                " (a check that needs a rerun to pass is not a pass)"), False
        if call.failed:
            return "failed", _short_message(call), False
        if call.skipped:
            return "skipped", _short_message(call), False
        if teardown is not None and teardown.failed:
            return "error", "error in teardown: " + (_short_message(teardown) or ""), False
        if teardown is None:
            return "skipped", "did not finish (no teardown report)", False
        return "passed", None, False

    def records(self) -> list[CheckRecord]:
        known = dict(self.remote_checks)
        known.update(self.index.checks)
        nodeids = list(dict.fromkeys([*known, *self.phases, *self.collected]))
        records = []
        for nodeid in nodeids:
            phases = self.phases.get(nodeid, _Phases())
            info = self._info(nodeid, phases.properties, "???" in phases.reports)
            if info is None:
                continue
            if phases.reports:
                outcome, message, lost = self._outcome(phases)
            else:
                outcome, message, lost = ("skipped", "never ran (session interrupted or worker "
                                          "lost)", False)
            measurements, attachments, reproduce = [], [], None
            source: dict[str, Any] = {}
            for key, value in phases.properties:
                if key == ev.MEASUREMENT:
                    measurements.append(Measurement.from_dict(json.loads(value)))
                elif key == ev.ATTACHMENT:
                    data = json.loads(value)
                    attachments.append(Attachment(data["name"], data["media_type"], data["content"]))
                elif key == ev.REPRODUCE:
                    reproduce = json.loads(value)
                elif key == ev.SOURCE:
                    source = dict(json.loads(value))
            if message:
                message = self.settings.redact(message)
                if len(message) > _MAX_MESSAGE:
                    message = message[: _MAX_MESSAGE - 1] + "…"
            kind = source.get("kind")
            records.append(
                CheckRecord(
                    lost=lost,
                    nodeid=nodeid,
                    gate=info["gate"],
                    item=info["item"],
                    title=info["title"],
                    outcome=outcome,
                    measurements=tuple(measurements),
                    reproduce=reproduce,
                    message=message,
                    duration=phases.duration,
                    attachments=tuple(attachments),
                    source=kind if kind in SOURCE_KINDS else None,
                    source_detail=source.get("detail") if kind in SOURCE_KINDS else None,
                    bundled=self._is_bundled(nodeid, info),
                    replaced_fixtures=tuple(info.get("replaced") or ()),
                )
            )
        for nodeid, message in self.collection_errors.items():
            match = _MODULE_GATE.search(nodeid.split("::")[0])
            if match and match.group(1) in GATES_BY_ID:
                records.append(CheckRecord(
                    nodeid=nodeid, gate=match.group(1), item=None,
                    title=f"checks in {nodeid} (could not be collected)", outcome="error",
                    message=self.settings.redact(f"{LOST_PREFIX}collection error: {message}"),
                    lost=True,
                ))
        return records

    def _is_bundled(self, nodeid: str, info: Mapping[str, Any]) -> bool:
        """From the collected item's own file (any rootdir, any worker); a record without it
        (a lost check) falls back to the node id's file under the rootdir."""
        if "bundled" in info:
            return bool(info["bundled"])
        return self._bundled(nodeid)

    def signoff(self) -> SignOff:
        """The sign-off of everything reported so far, redacted once (cached until the next
        report): every view renders it as is."""
        if self._signoff is None:
            known = {**self.remote_known, **self.index.known}
            selected = {*self.remote_checks, *self.index.checks, *self.phases}
            deselected: dict[str, int] = {}
            deselected_items: dict[str, set[str | None]] = {}
            for nodeid, info in known.items():
                if nodeid not in selected:
                    deselected[info["gate"]] = deselected.get(info["gate"], 0) + 1
                    deselected_items.setdefault(info["gate"], set()).add(info["item"])
            release = self.settings.release
            self._signoff = decide(
                {"version": release.version, "commit": release.commit, "image": release.image},
                self.records(),
                generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                deselected=deselected,
                deselected_items=deselected_items,
                gates=[g.rendered(self.settings.checklist_values()) for g in CATALOGUE],  # + stages
                contract=self.contract,  # contract (issue 12)
                interrupted=self.interrupted,
            )
            from .provenance import active, suite_record

            self._signoff = dataclasses.replace(self._signoff, provenance={
                "suite": suite_record(), "active": active(self.config)})
            # the one pass: secrets masked and a target's control characters shown visibly
            from .redact import neutralise

            redact = self.settings.redactor
            self._signoff = self._signoff.redacted(
                lambda text: neutralise(redact(text), keep_newlines=True))
        return self._signoff
