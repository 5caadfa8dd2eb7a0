"""Issue 12 end to end: Gate 1 against a real redis-server (and the service for its retry item),
with deviations, waivers, attestations, a baseline and a team checklist, in every view."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE
from support.run import ReleaseRun, gate, item, output
from support.stacks import Stack

from pytest_release.bundled import examples_path

WEEK = 7 * 24 * 3600
GATE1 = ("-m", "gate_redis", "-p", "no:randomly")
TODAY = dt.datetime.now(dt.UTC).date()
LATER = (TODAY + dt.timedelta(days=30)).isoformat()
EARLIER = (TODAY - dt.timedelta(days=1)).isoformat()


def seed(client: Any, count: int = 20, ttl: int | None = WEEK) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"feedback:contract-{i}", "{}", ex=ttl)
    pipe.execute()


@pytest.fixture
def gate1(healthy_stack: Stack, release_suite: Any, pytester: pytest.Pytester) -> Any:
    """Run Gate 1 against the healthy stack; its Redis holds keys that expire within a week."""
    client = healthy_stack.redis.client()
    client.flushall()
    seed(client)

    def run(*args: str, toml: str = "") -> ReleaseRun:
        (pytester.path / "release.toml").write_text(toml)
        extra = {"redis.config_file": str(healthy_stack.redis.conf_path),
                 "redis.host": "local://"}
        return release_suite(*GATE1, *args, stack=healthy_stack, modules=("test_gate_redis.py",),
                             release_set=extra)
    return run


def waivers_file(pytester: pytest.Pytester, body: str) -> str:
    path = pytester.path / "waivers.toml"
    path.write_text(body)
    return str(path)


WAIVER_TTL = f"""
[[waiver]]
setting = "redis.ttl_max_seconds"
reason = "cache keys of the legacy importer live 30 days until OPS-41 lands"
approver = "jane.doe"
ticket = "OPS-40"
expires = {LATER}
"""
WAIVER_EXPIRED = f"""
[[waiver]]
item = "redis.p95"
reason = "old latency exception"
approver = "sam"
ticket = "PERF-1"
expires = {EARLIER}
"""
WAIVER_UNUSED = f"""
[[waiver]]
item = "redis.maxmemory"
reason = "would allow allkeys-lru"
approver = "sam"
ticket = "OPS-9"
expires = {LATER}
"""


def test_a_relaxed_threshold_is_a_deviation_and_not_approved(gate1: Any,
                                                              pytester: pytest.Pytester) -> None:
    run = gate1("--release-checklist", "checklist.md", "--release-require-approval",
                toml="[redis]\nttl_max_seconds = 9999999\n")
    assert run.result.ret == EXIT_INCOMPLETE, run.output  # not APPROVED
    signoff = run.signoff
    assert signoff is not None and signoff["schema"] == 2
    (dev,) = signoff["deviations"]
    assert (dev["setting"], dev["checklist_value"], dev["value_in_force"], dev["where_set"],
            dev["waived"]) == ("redis.ttl_max_seconds", 604800, 9999999,
                               "release.toml:redis.ttl_max_seconds", False)
    ttl = item(signoff, "redis", "ttl")
    assert ttl["status"] == "deviation", ttl
    assert ttl["text"] == "TTL: 7 days configured (in force: 9999999 s — deviation)"
    # the check itself really ran and passed against the looser bound
    assert run.check("redis", "ttl")["outcome"] == "passed"
    redis = gate(signoff, "redis")
    assert redis["status"] == "incomplete"
    assert "deviation not waived: TTL: 7 days configured" in redis["reason"]
    assert signoff["verdict"] != "APPROVED"
    markdown = (pytester.path / "checklist.md").read_text()
    assert ("- [ ] TTL: 7 days configured (in force: 9999999 s — deviation) — **DEVIATION**"
            in markdown)
    assert "- [x] TTL" not in markdown
    assert "redis.ttl\\_max\\_seconds = 9999999 s (checklist: 604800 s)" in markdown
    assert "deviation: redis.ttl_max_seconds = 9999999 s (checklist: 604800 s), set by " \
           "release.toml:redis.ttl_max_seconds — NOT WAIVED" in run.output


def test_a_waived_deviation_passes_the_gate_as_waived_and_lists_every_waiver(
        gate1: Any, pytester: pytest.Pytester) -> None:
    path = waivers_file(pytester, WAIVER_TTL + WAIVER_EXPIRED + WAIVER_UNUSED)
    run = gate1("--release-waivers", path, "--release-checklist", "checklist.md",
                "--html", "report.html", toml="[redis]\nttl_max_seconds = 9999999\n")
    assert run.result.ret == 0, run.output
    signoff = run.signoff
    assert signoff is not None
    ttl = item(signoff, "redis", "ttl")
    assert ttl["status"] == "waived"  # never "passed"
    assert ttl["text"].endswith("(in force: 9999999 s — deviation, waived)")
    (waiver,) = ttl["waivers"]
    assert (waiver["reason"], waiver["approver"], waiver["ticket"], waiver["expires"]) == (
        "cache keys of the legacy importer live 30 days until OPS-41 lands", "jane.doe", "OPS-40",
        LATER)
    redis = gate(signoff, "redis")
    assert redis["status"] == "passed", redis
    assert signoff["deviations"][0]["waived"] is True
    statuses = {w["ticket"]: w["status"] for w in signoff["waivers"]}
    assert statuses == {"OPS-40": "active", "PERF-1": "expired", "OPS-9": "unused"}
    # other gates were not run, so the release itself is not APPROVED (no qualifier yet)
    assert signoff["verdict"] == "INCOMPLETE" and signoff["qualifier"] is None
    markdown = (pytester.path / "checklist.md").read_text()
    assert "- [ ] TTL: 7 days configured (in force: 9999999 s — deviation, waived) — " \
           "**WAIVED**" in markdown
    assert "WAIVED by jane.doe until " + LATER + " (OPS-40)" in markdown
    assert "waiver expired: item redis.p95 (PERF-1" in markdown
    assert "waiver unused: item redis.maxmemory (OPS-9" in markdown
    assert "waiver expired: item redis.p95 (PERF-1" in run.output
    html = (pytester.path / "report.html").read_text()
    assert "WAIVED by jane.doe until " + LATER + " (OPS-40)" in html
    assert "waiver unused: item redis.maxmemory (OPS-9" in html


def test_malformed_inputs_are_one_usage_error_before_any_check_runs(
        release_suite: Any, pytester: pytest.Pytester) -> None:
    bad_waivers = waivers_file(pytester, '[[waiver]]\nitem = "redis.tll"\nreason = "r"\n')
    (pytester.path / "baseline.json").write_text("{not json")
    (pytester.path / "team.md").write_text("- [ ] TTL <!-- release-item: redis.nope -->\n")
    run = release_suite("--release-waivers", bad_waivers, "--release-baseline",
                        str(pytester.path / "baseline.json"), "--release-checklist-source",
                        str(pytester.path / "team.md"), *GATE1, modules=("test_gate_redis.py",))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    text = run.output
    assert "problems in the waivers, attestations, baseline or checklist source" in text
    for expected in ("waiver[1].item: unknown item 'redis.tll' (did you mean 'redis.ttl'?)",
                     "waiver[1].approver: missing", "waiver[1].expires: missing",
                     "baseline.json: --release-baseline is not JSON",
                     "team.md:1: release-item 'redis.nope' is not in the catalogue"):
        assert expected in text, expected
    assert "Traceback" not in text and "passed" not in text
    assert run.signoff is None


def test_bad_toml_and_a_waiver_in_the_past_at_creation(release_suite: Any,
                                                       pytester: pytest.Pytester) -> None:
    path = waivers_file(pytester, "[[waiver]\n")
    run = release_suite("--release-waivers", path, *GATE1, modules=("test_gate_redis.py",))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "waivers.toml: not valid TOML" in run.output
    path = waivers_file(pytester, WAIVER_TTL + f"created = {LATER}\n".replace(
        LATER, (TODAY + dt.timedelta(days=60)).isoformat()))
    run = release_suite("--release-waivers", path, *GATE1, modules=("test_gate_redis.py",))
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is before the waiver was created" in run.output or "is in the future" in run.output


def test_baseline_without_and_with_a_regression(redis_server: Any, run_release: Any,
                                               redis_release_args: Any,
                                               pytester: pytest.Pytester) -> None:
    server = redis_server(appendonly="yes")
    seed(server.client())
    first = run_release(*GATE1, *redis_release_args(server, conf=False))
    assert first.signoff is not None
    baseline = pytester.path / "baseline.json"
    baseline.write_text(json.dumps(first.signoff))

    same = run_release(*GATE1, *redis_release_args(server, conf=False),
                       "--release-baseline", str(baseline))
    assert same.signoff is not None
    compared = same.signoff["baseline"]
    assert compared["identity"]["release"] == "v5.7.1"
    assert compared["identity"]["generated_at"] == first.signoff["generated_at"]
    assert compared["identity"]["schema"] == 2
    names = {d["name"] for d in compared["deltas"]}
    assert "keys without expiry (feedback:*)" in names
    assert compared["newly_failing"] == []
    assert not [r for r in compared["regressions"] if r["item"] == "redis.ttl"]
    assert "baseline: v5.7.1 commit None of " + first.signoff["generated_at"] in output(same.result)

    server.client().set("feedback:forever", "{}")  # a key without expiry: 0 → 1
    worse = run_release(*GATE1, *redis_release_args(server, conf=False),
                        "--release-baseline", str(baseline), "--release-checklist", "out.md")
    assert worse.signoff is not None
    compared = worse.signoff["baseline"]
    (ttl_check,) = [c["nodeid"] for c in gate(worse.signoff, "redis")["checks"]
                    if c["item_id"] == "ttl"]
    assert compared["newly_failing"] == [ttl_check]
    (regression,) = [r for r in compared["regressions"] if r["item"] == "redis.ttl"]
    assert (regression["name"], regression["before"], regression["after"], regression["rule"],
            regression["severity"]) == ("keys without expiry (feedback:*)", 0, 1,
                                        "redis.ttl/keys without expiry* from 0", "failure")
    ttl = item(worse.signoff, "redis", "ttl")
    assert ttl["status"] == "failed" and ttl["regressions"][0]["rule"] == regression["rule"]
    text = output(worse.result)
    first_line = text.index("baseline: passed before, fails now: " + ttl_check)
    assert first_line < text.index("baseline regression (failure): redis.ttl")
    assert "regressed vs baseline (failure)" in (pytester.path / "out.md").read_text()


def test_an_incompatible_baseline_is_a_clear_error(run_release: Any,
                                                   pytester: pytest.Pytester) -> None:
    path = pytester.path / "old.json"
    path.write_text(json.dumps({"schema": 7, "gates": []}))
    result, signoff = run_release(*GATE1, "--release-baseline", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "old.json: --release-baseline has sign-off schema 7" in output(result)
    assert signoff is None


TEAM = """# Our release checklist

## Redis
- [x] TTL: 7 days configured
- [ ] Maxmemory policy: noeviction
- [ ] Feature flags reviewed <!-- the team's own line -->

## Sign-off
- [ ] Customer support briefed
"""


def test_a_team_checklist_with_two_uncovered_lines(redis_server: Any, run_release: Any,
                                                   redis_release_args: Any,
                                                   pytester: pytest.Pytester) -> None:
    server = redis_server(appendonly="yes")
    seed(server.client())
    (pytester.path / "team.md").write_text(TEAM)
    result, signoff = run_release(*GATE1, *redis_release_args(server, conf=False),
                                  "--release-checklist-source", "team.md",
                                  "--release-checklist", "ours.md")
    assert signoff is not None, output(result)
    assert [(u["id"], u["line"], u["status"]) for u in signoff["uncovered"]] == [
        ("team.feature-flags-reviewed", 6, "uncovered"),
        ("team.customer-support-briefed", 9, "uncovered")]
    assert "team checklist line not covered: 'Feature flags reviewed'" in \
        gate(signoff, "redis")["reason"]
    assert "team checklist lines not covered: 'Customer support briefed'" in signoff["reason"]
    ours = (pytester.path / "ours.md").read_text().splitlines()
    assert ours[0].startswith("> **pytest-release v5.7.1: INCOMPLETE**")
    body = ours[2:]
    assert body[0] == "# Our release checklist"
    assert body[3].startswith("- [x] TTL: 7 days configured — `keys without expiry (feedback:*) "
                              "= 0 (== 0)`")
    assert body[4].startswith("- [x] Maxmemory policy: noeviction")
    assert body[5].startswith("- [ ] Feature flags reviewed <!-- the team's own line --> — "
                              "**UNCOVERED")
    assert body[8].startswith("- [ ] Customer support briefed — **UNCOVERED")

    covering = waivers_file(pytester, f"""
[[waiver]]
item = "team.feature-flags-reviewed"
reason = "no flags in this release"
approver = "jane.doe"
ticket = "REL-3"
expires = {LATER}

[[attestation]]
item = "team.customer-support-briefed"
statement = "support briefed in the weekly sync"
by = "sam"
when = {TODAY.isoformat()}
ticket = "CS-12"
""")
    result, signoff = run_release(*GATE1, *redis_release_args(server, conf=False),
                                  "--release-checklist-source", "team.md",
                                  "--release-waivers", covering)
    assert signoff is not None
    assert [u["status"] for u in signoff["uncovered"]] == ["waived", "attested"]
    assert "team checklist" not in signoff["reason"]
    assert [a["status"] for a in signoff["attestations"]] == ["applied"]


def test_the_seed_checklist_round_trips(redis_server: Any, run_release: Any,
                                        redis_release_args: Any,
                                        pytester: pytest.Pytester) -> None:
    server = redis_server(appendonly="yes")
    seed(server.client())
    seed_path = examples_path("checklist-v5.7.1.md")
    result, signoff = run_release(*GATE1, *redis_release_args(server, conf=False),
                                  f"--release-checklist-source={seed_path}",
                                  "--release-checklist", "seed.md")
    assert signoff is not None, output(result)
    assert signoff["uncovered"] == []
    lines = signoff["checklist_source"]["lines"]
    assert len(lines) == 39 and all(line["targets"] for line in lines)
    written = (pytester.path / "seed.md").read_text().splitlines()
    source = seed_path.read_text().splitlines()
    assert len(written) >= len(source) + 2
    assert any(w.startswith("- [x] TTL: 7 days configured — `keys without expiry") for w in written)
    # what this run did not measure keeps an empty box, whatever the seed said
    assert any(w.startswith("- [ ] Trivy: CRITICAL = 0 — **NOT RUN**") for w in written)
    assert any(w.startswith("⬜ All gates PASS") for w in written)


def test_attestations_from_their_own_file(redis_server: Any, run_release: Any,
                                          redis_release_args: Any,
                                          pytester: pytest.Pytester) -> None:
    server = redis_server(appendonly="yes")
    seed(server.client())
    path = pytester.path / "attestations.toml"
    path.write_text(f"""
[[attestation]]
item = "postdeploy.security"
statement = "no security incident opened in the 24 h after rollout"
by = "secops.oncall"
when = {TODAY.isoformat()}
ticket = "SECOPS-301"

[[attestation]]
item = "redis.aof"
statement = "AOF is on, trust me"
by = "someone"
when = {TODAY.isoformat()}
ticket = "OPS-1"
""")
    result, signoff = run_release(*GATE1, *redis_release_args(server, conf=False),
                                  "--release-attestations", str(path),
                                  "--release-checklist", "out.md")
    assert signoff is not None, output(result)
    security = item(signoff, "postdeploy", "security")
    assert security["status"] == "attested"  # never "passed": nothing measured it
    assert security["attestation"]["by"] == "secops.oncall"
    rows = {a["item"]: a for a in signoff["attestations"]}
    assert rows["postdeploy.security"]["status"] == "applied"
    assert rows["redis.aof"]["status"] == "ignored"
    assert "not attestable" in rows["redis.aof"]["note"]
    assert item(signoff, "redis", "aof")["status"] == "passed"  # the measurement stands
    text = (pytester.path / "out.md").read_text()
    assert "- [ ] No security incidents — **ATTESTED**" in text
    assert "ATTESTED by secops.oncall on " + TODAY.isoformat() + " (SECOPS-301)" in text
    assert "attestation ignored: redis.aof by someone" in output(result)


def test_the_baseline_cannot_be_this_runs_own_sign_off(run_release: Any,
                                                       pytester: pytest.Pytester) -> None:
    path = pytester.path / "both.json"
    path.write_text('{"schema": 2, "gates": []}')
    result, _ = run_release(*GATE1, "--release-baseline", str(path), "--release-signoff",
                            str(path), signoff=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is also the --release-signoff path" in output(result)
    assert path.read_text() == '{"schema": 2, "gates": []}'  # the baseline survives
