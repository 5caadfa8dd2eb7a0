"""Waivers and attestations: loading (one error listing every problem) and their effect on the
sign-off, as pure tables over verdict.decide."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pytest_release import waivers as wv
from pytest_release.contract import Contract, summary_lines, verdict_line
from pytest_release.deviations import THRESHOLDS, Deviation
from pytest_release.gates import GATES, GATES_BY_ID
from pytest_release.verdict import CheckRecord, Measurement, SignOff, decide

TODAY = dt.date(2026, 12, 2)
ITEMS = {f"{g.id}.{i.id}" for g in GATES for i in g.items}
SETTINGS = {t.setting for t in THRESHOLDS}
OK = (Measurement("value", 1, None, "==", 1, True),)
BAD = (Measurement("value", 2, None, "==", 1, False),)


def load(tmp_path: Path, text: str, today: dt.date = TODAY) -> wv.Exceptions:
    path = tmp_path / "waivers.toml"
    path.write_text(text)
    return wv.load([path], known_items=ITEMS, known_settings=SETTINGS, today=today)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(wv.WaiverFileError) as info:
        load(tmp_path, text)
    return info.value.problems


GOOD = """
[[waiver]]
item = "security.trivy"
reason = "CVE-2026-1234: no fix upstream; not reachable"
approver = "jane.doe"
ticket = "SEC-812"
expires = 2026-12-31

[[attestation]]
item = "gitops.tag"
statement = "tag pushed by the release bot"
by = "ops.lead"
when = 2026-12-01
ticket = "OPS-7"
"""


def test_a_good_file_loads_waivers_and_attestations(tmp_path: Path) -> None:
    loaded = load(tmp_path, GOOD)
    (w,) = loaded.waivers
    assert (w.item, w.approver, w.ticket, w.expires) == ("security.trivy", "jane.doe", "SEC-812",
                                                         dt.date(2026, 12, 31))
    assert w.scope == "item security.trivy"
    (a,) = loaded.attestations
    assert (a.item, a.by, a.when, a.ticket) == ("gitops.tag", "ops.lead", "2026-12-01", "OPS-7")


def test_an_expired_date_is_not_a_load_error_it_is_expired_at_run_time(tmp_path: Path) -> None:
    (w,) = load(tmp_path, GOOD.replace("2026-12-31", "2026-01-31")).waivers
    assert w.expired(TODAY)
    assert not w.expired(dt.date(2026, 1, 31))  # inclusive: valid through its expiry day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[waiver\nitem=", ["not valid TOML"]),
        ('[[waiver]]\nitem = "security.trivy"\n', [
            "waiver[1].reason: missing", "waiver[1].approver: missing",
            "waiver[1].ticket: missing", "waiver[1].expires: missing"]),
        ('[[waiver]]\nitem = "security.trivvy"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         "expires = 2026-12-31\n", ["waiver[1].item: unknown item 'security.trivvy' (did you "
                                    "mean 'security.trivy'?)"]),
        ('[[waiver]]\nreason = "r"\napprover = "a"\nticket = "T"\nexpires = 2026-12-31\n',
         ["waiver[1]: no scope"]),
        ('[[waiver]]\nsetting = "redis.url"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         "expires = 2026-12-31\n", ["waiver[1].setting: 'redis.url' is not a threshold setting"]),
        ('[[waiver]]\ncheck = "test_x"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         "expires = 2026-12-31\n", ["waiver[1].check: 'test_x' is not a node id"]),
        ('[[waiver]]\nitem = "redis.ttl"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         'expires = "soon"\n', ["waiver[1].expires: 'soon' is not a date"]),
        ('[[waiver]]\nitem = "redis.ttl"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         "expires = 2026-06-01\ncreated = 2026-07-01\n",
         ["waiver[1].expires: 2026-06-01 is before the waiver was created (2026-07-01): it was "
          "in the past at creation"]),
        ('[[waiver]]\nitem = "redis.ttl"\nreason = "r"\napprover = "a"\nticket = "T"\n'
         "expires = 2027-06-01\ncreated = 2027-01-01\n", ["waiver[1].created: 2027-01-01 is in "
                                                         "the future"]),
        ('[[waiver]]\nitem = "redis.ttl"\nreason = ""\napprover = "a"\nticket = "T"\n'
         "expires = 2026-12-31\nowner = 'x'\n", ["waiver[1].owner: unknown key",
                                                 "waiver[1].reason: expected a non-empty string"]),
        ('[[attestation]]\nitem = "gitops.tag"\nstatement = "s"\nby = "b"\nwhen = 2027-01-01\n',
         ["attestation[1].ticket: missing", "attestation[1].when: 2027-01-01 is in the future"]),
        ("[waivers]\nx = 1\n", ["waivers: unknown table"]),
    ],
)
def test_every_problem_is_listed_with_its_file_and_key(tmp_path: Path, text: str,
                                                       expected: list[str]) -> None:
    found = problems(tmp_path, text)
    assert len(found) == len(expected), found
    for problem, wanted in zip(found, expected, strict=True):
        assert problem.startswith(str(tmp_path / "waivers.toml")), problem
        assert wanted in problem, (wanted, problem)


def test_two_bad_entries_are_one_error_listing_both(tmp_path: Path) -> None:
    found = problems(tmp_path, '[[waiver]]\nitem = "nope.x"\n[[waiver]]\nitem = "redis.ttl"\n')
    assert any("waiver[1].item: unknown item" in p for p in found)
    assert any("waiver[2].reason: missing" in p for p in found)


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(wv.WaiverFileError, match="file not found"):
        wv.load([tmp_path / "none.toml"], known_items=ITEMS, known_settings=SETTINGS, today=TODAY)


def test_node_ids_match_across_rootdirs() -> None:
    assert wv.nodeid_matches("test_gate_redis.py::test_x", "tests_release/test_gate_redis.py::test_x")
    assert not wv.nodeid_matches("redis.py::test_x", "tests_release/test_gate_redis.py::test_x")


# -- effect on the sign-off -----------------------------------------------------------------------
def rec(gate: str, item: str | None, outcome: str = "passed",
        measurements: tuple[Measurement, ...] = OK) -> CheckRecord:
    return CheckRecord(nodeid=f"tests_release/test_gate_{gate}.py::test_{item}", gate=gate,
                       item=item, title=str(item), outcome=outcome, measurements=measurements)


def records(**bad: tuple[str, tuple[Measurement, ...]]) -> list[CheckRecord]:
    out = []
    for g in GATES:
        for i in g.items:
            key = f"{g.id}.{i.id}"
            if key in bad:
                out.append(rec(g.id, i.id, *bad[key]))
            else:
                out.append(rec(g.id, i.id))
    return out


def waiver(**kw: Any) -> wv.Waiver:
    base: dict[str, Any] = {"reason": "accepted risk", "approver": "jane.doe", "ticket": "SEC-812",
                            "expires": dt.date(2026, 12, 31)}
    return wv.Waiver(**{**base, **kw})


def run(checks: list[CheckRecord], *, waivers: tuple[wv.Waiver, ...] = (),
        attestations: tuple[wv.Attestation, ...] = (), deviations: tuple[Deviation, ...] = (),
        attestable: frozenset[str] = frozenset()) -> SignOff:
    contract = Contract(today=TODAY, deviations=deviations,
                        exceptions=wv.Exceptions(waivers, attestations),
                        wording={"redis_ttl": "7 days"}, attestable=attestable)
    return decide({"version": "v5.7.1"}, checks, generated_at="2026-12-02T07:00:00Z",
                  contract=contract)


def item(signoff: SignOff, key: str) -> Any:
    gate_id, _, item_id = key.partition(".")
    (g,) = [g for g in signoff.gates if g.gate.id == gate_id]
    return [i for i in g.items if i.id == item_id][0], g


TTL = Deviation("redis.ttl_max_seconds", 604800, 99999999, "release.toml:redis.ttl_max_seconds",
                ("redis.ttl", "api.stored_ttl"), "s")


def test_no_contract_input_is_plain_approved_with_schema_2() -> None:
    signoff = run(records())
    assert signoff.verdict == "APPROVED" and verdict_line(signoff) == "APPROVED"
    data = signoff.to_dict()
    assert data["schema"] == 2
    assert (data["deviations"], data["waivers"], data["attestations"], data["baseline"],
            data["uncovered"]) == ([], [], [], None, [])


def test_a_deviation_is_never_an_unqualified_pass() -> None:
    signoff = run(records(), deviations=(TTL,))
    ttl, gate = item(signoff, "redis.ttl")
    assert ttl.status == "deviation"
    assert ttl.text == "TTL: 7 days configured (in force: 99999999 s — deviation)"
    assert gate.status == "incomplete" and "deviation not waived" in gate.reason
    assert item(signoff, "api.stored_ttl")[0].status == "deviation"
    assert signoff.verdict == "INCOMPLETE"
    (row,) = signoff.to_dict()["deviations"]
    assert row["where_set"] == "release.toml:redis.ttl_max_seconds" and row["waived"] is False


def test_a_waived_deviation_is_approved_with_waivers_and_says_so() -> None:
    w = waiver(setting="redis.ttl_max_seconds", ticket="OPS-1")
    signoff = run(records(), deviations=(TTL,), waivers=(w,))
    ttl, gate = item(signoff, "redis.ttl")
    assert ttl.status == "waived" and gate.status == "passed"
    assert ttl.text.endswith("(in force: 99999999 s — deviation, waived)")
    assert signoff.verdict == "APPROVED"
    assert verdict_line(signoff) == "APPROVED with waivers"
    assert "OPS-1" in signoff.reason
    data = signoff.to_dict()
    assert data["verdict_line"] == "APPROVED with waivers"
    assert data["waivers"][0]["status"] == "active"
    assert data["waivers"][0]["applied_to"] == ["redis.ttl", "api.stored_ttl"]
    redis_items = {i["id"]: i for i in data["gates"][0]["items"]}
    assert redis_items["ttl"]["deviations"][0]["waived"] is True
    assert redis_items["ttl"]["waivers"][0]["ticket"] == "OPS-1"


def test_a_waived_failure_shows_waived_with_all_four_fields_never_passed() -> None:
    signoff = run(records(**{"security.trivy": ("failed", BAD)}),
                  waivers=(waiver(item="security.trivy"),))
    trivy, gate = item(signoff, "security.trivy")
    assert trivy.status == "waived" and gate.status == "passed"
    (note,) = trivy.notes.lines()
    assert note == "WAIVED by jane.doe until 2026-12-31 (SEC-812): accepted risk"
    assert verdict_line(signoff) == "APPROVED with waivers"
    # the check itself keeps its true outcome
    assert [c.effective_outcome for c in trivy.checks] == ["failed"]


def test_an_expired_waiver_waives_nothing_and_is_listed_expired() -> None:
    w = waiver(item="security.trivy", expires=dt.date(2026, 12, 1))
    signoff = run(records(**{"security.trivy": ("failed", BAD)}), waivers=(w,))
    assert item(signoff, "security.trivy")[0].status == "failed"
    assert signoff.verdict == "REJECTED"
    assert signoff.to_dict()["waivers"][0]["status"] == "expired"
    assert any(line.startswith("waiver expired: item security.trivy")
               for line in summary_lines(signoff))


def test_a_waiver_matching_nothing_is_listed_unused() -> None:
    signoff = run(records(), waivers=(waiver(item="security.trivy"),))
    assert signoff.verdict == "APPROVED" and verdict_line(signoff) == "APPROVED"
    assert signoff.to_dict()["waivers"][0]["status"] == "unused"


def test_a_measurement_waiver_covers_only_that_measurement() -> None:
    two_bad = (Measurement("p95", 300, "ms", "<", 120, False),
               Measurement("p99", 400, "ms", "<", 300, False))
    check = "test_gate_load.py::test_p95"
    only_p95 = waiver(check=check, measurement="p95")
    signoff = run(records(**{"load.p95": ("failed", two_bad)}), waivers=(only_p95,))
    assert item(signoff, "load.p95")[0].status == "failed"
    both = (only_p95, waiver(check=check, measurement="p99", ticket="PERF-2"))
    signoff = run(records(**{"load.p95": ("failed", two_bad)}), waivers=both)
    assert item(signoff, "load.p95")[0].status == "waived"
    assert [w["status"] for w in signoff.to_dict()["waivers"]] == ["active", "active"]


def test_an_error_without_measurements_needs_an_item_or_check_waiver() -> None:
    broken = records(**{"redis.aof": ("error", ())})
    assert item(run(broken, waivers=(waiver(item="redis.aof", measurement="x"),)),
                "redis.aof")[0].status == "failed"
    assert item(run(broken, waivers=(waiver(check="test_gate_redis.py::test_aof"),)),
                "redis.aof")[0].status == "waived"


def test_a_setting_waiver_does_not_waive_a_failure() -> None:
    signoff = run(records(**{"redis.ttl": ("failed", BAD)}), deviations=(TTL,),
                  waivers=(waiver(setting="redis.ttl_max_seconds"),))
    assert item(signoff, "redis.ttl")[0].status == "failed"
    assert signoff.verdict == "REJECTED"


def test_attestation_of_an_attestable_unmeasured_item() -> None:
    checks = [c for c in records() if not (c.gate == "gitops" and c.item == "tag")]
    a = wv.Attestation("gitops.tag", "tag verified by hand", "ops.lead", "2026-12-01", "OPS-7")
    signoff = run(checks, attestations=(a,), attestable=frozenset({"gitops.tag"}))
    tag, gate = item(signoff, "gitops.tag")
    assert tag.status == "attested" and gate.status == "passed"
    assert tag.notes.lines() == ["ATTESTED by ops.lead on 2026-12-01 (OPS-7): tag verified by hand"]
    assert verdict_line(signoff) == "APPROVED with attestations"
    assert signoff.to_dict()["attestations"][0]["status"] == "applied"


def test_an_attestation_never_replaces_a_measurement() -> None:
    a = wv.Attestation("gitops.tag", "fine", "ops.lead", "2026-12-01", "OPS-7")
    failed = run(records(**{"gitops.tag": ("failed", BAD)}), attestations=(a,),
                 attestable=frozenset({"gitops.tag"}))
    assert item(failed, "gitops.tag")[0].status == "failed"
    row = failed.to_dict()["attestations"][0]
    assert row["status"] == "ignored" and "measured by a check" in row["note"]
    not_attestable = run([c for c in records() if c.item != "aof"],
                         attestations=(wv.Attestation("redis.aof", "on", "x", "2026-12-01", "T"),))
    assert item(not_attestable, "redis.aof")[0].status == "not_run"
    assert "not attestable" in not_attestable.to_dict()["attestations"][0]["note"]


def test_gate_catalogue_ids_used_here_exist() -> None:
    assert GATES_BY_ID["security"].item("trivy")


def test_the_example_waivers_file_is_valid() -> None:
    from pytest_release import gates
    from pytest_release.bundled import examples_path
    from pytest_release.checklist_source import catalogue_ids

    catalogue = getattr(gates, "CATALOGUE", gates.GATES)
    loaded = wv.load([examples_path("waivers.toml")], today=dt.date(2026, 12, 2),
                     known_items=catalogue_ids(catalogue), known_settings=SETTINGS)
    assert [w.ticket for w in loaded.waivers] == ["SEC-812", "PERF-77", "OPS-40"]
    assert [a.item for a in loaded.attestations] == ["postdeploy.security"]
