"""Gate 1 against real redis-server processes: every check is shown to pass and to fail."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import quote, quote_plus

import pytest
from pytest_release.verdict import EXIT_REJECTED, EXIT_INCOMPLETE

from support.redis_server import free_port
from support.run import check, gate, item_statuses, measurement, output

REDIS_ITEMS = ("ttl", "maxmemory", "aof", "persisted_config", "retry", "p95")
WEEK = 7 * 24 * 3600


def seed(server, count=20, ttl=3600, prefix="feedback:"):
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.set(f"{prefix}{i}", "{}", ex=ttl)
    pipe.execute()
    return client


def failed_items(signoff):
    return {i for i, s in item_statuses(signoff, "redis").items() if s == "failed"}


def test_healthy_redis_passes_every_measured_item(redis_server, run_release, redis_release_args):
    server = redis_server(appendonly="yes", appendfsync="everysec")
    seed(server, 30, ttl=WEEK)
    result, signoff = run_release(*redis_release_args(server))
    assert result.ret == EXIT_INCOMPLETE, output(result)
    statuses = item_statuses(signoff, "redis")
    assert statuses == {"ttl": "passed", "maxmemory": "passed", "aof": "passed",
                        "persisted_config": "passed", "retry": "not_measured", "p95": "passed"}
    for item_id in ("ttl", "maxmemory", "aof", "persisted_config", "p95"):
        c = check(signoff, "redis", item_id)
        assert c["outcome"] == "passed" and c["measured"], c
        compared = [m for m in c["measurements"] if m["ok"] is not None]
        assert compared and all(m["ok"] for m in compared), c
        assert c["reproduce"]
    assert measurement(check(signoff, "redis", "ttl"), "keys sampled (feedback:*)")["value"] == 30
    assert measurement(check(signoff, "redis", "maxmemory"), "maxmemory-policy")["value"] == "noeviction"
    assert measurement(check(signoff, "redis", "aof"), "aof_enabled")["value"] == 1
    retry = check(signoff, "redis", "retry")
    assert retry["outcome"] == "skipped" and not retry["measured"]
    assert retry["message"].startswith("not measured: needs the service: set api.url")
    assert retry["measurements"] == []
    redis = gate(signoff, "redis")
    assert redis["status"] == "incomplete"
    assert redis["reason"] == "not measured: Retry strategy: Active"
    assert signoff["verdict"] == "INCOMPLETE"


def test_allkeys_lru_fails_only_the_maxmemory_item(redis_server, run_release, redis_release_args):
    server = redis_server(appendonly="yes", maxmemory="64mb", maxmemory_policy="allkeys-lru")
    seed(server)
    # Without redis.config_file the persisted-config item is not measured, so it cannot fail too.
    result, signoff = run_release(*redis_release_args(server, conf=False))
    assert result.ret == EXIT_REJECTED
    assert failed_items(signoff) == {"maxmemory"}
    c = check(signoff, "redis", "maxmemory")
    assert c["outcome"] == "failed"
    m = measurement(c, "maxmemory-policy")
    assert (m["value"], m["op"], m["threshold"], m["ok"]) == ("allkeys-lru", "==", "noeviction", False)
    assert "expected maxmemory-policy == noeviction, measured allkeys-lru" in c["message"]
    assert c["reproduce"].endswith("CONFIG GET maxmemory-policy")
    assert item_statuses(signoff, "redis")["persisted_config"] == "not_measured"
    assert gate(signoff, "redis")["status"] == "failed"
    assert signoff["verdict"] == "REJECTED"


def test_appendonly_no_fails_the_aof_item(redis_server, run_release, redis_release_args):
    server = redis_server(appendonly="no")
    seed(server)
    result, signoff = run_release(*redis_release_args(server, conf=False))
    assert failed_items(signoff) == {"aof"}
    c = check(signoff, "redis", "aof")
    m = measurement(c, "aof_enabled")
    assert (m["value"], m["ok"]) == (0, False)
    # the status fields read "ok" with AOF off: they must not rescue the check
    assert measurement(c, "aof_last_write_status")["ok"] is True
    assert signoff["verdict"] == "REJECTED"


def test_keys_without_ttl_or_over_the_bound_fail_the_ttl_item(redis_server, run_release,
                                                              redis_release_args):
    server = redis_server(appendonly="yes")
    client = seed(server, 40, ttl=3600)
    for i in range(3):
        client.set(f"feedback:forever:{i}", "{}")
    for i in range(2):
        client.set(f"feedback:month:{i}", "{}", ex=30 * 24 * 3600)
    client.set("ratelimit:caller", "1")  # outside redis.key_patterns: not audited
    result, signoff = run_release(*redis_release_args(server, conf=False))
    assert failed_items(signoff) == {"ttl"}
    c = check(signoff, "redis", "ttl")
    assert c["outcome"] == "failed"
    assert measurement(c, "keys sampled (feedback:*)")["value"] == 45
    no_expiry = measurement(c, "keys without expiry (feedback:*)")
    assert (no_expiry["value"], no_expiry["ok"]) == (3, False)
    over = measurement(c, "keys with TTL over the bound (feedback:*)")
    assert (over["value"], over["threshold"], over["ok"]) == (2, 0, False)
    max_ttl = measurement(c, "max TTL (feedback:*)")
    assert max_ttl["ok"] is False and WEEK < max_ttl["value"] <= 30 * 24 * 3600
    assert max_ttl["unit"] == "s" and max_ttl["threshold"] == WEEK
    examples = measurement(c, "keys without expiry, examples (feedback:*)")["value"]
    assert sorted(examples) == [f"feedback:forever:{i}" for i in range(3)]
    over_examples = measurement(c, "keys over the bound, examples (feedback:*)")["value"]
    assert sorted(e.split(" ")[0] for e in over_examples) == ["feedback:month:0", "feedback:month:1"]
    # soft checks: both problems are in the one failure message
    assert "keys without expiry (feedback:*) == 0, measured 3" in c["message"]
    assert "keys with TTL over the bound (feedback:*) == 0, measured 2" in c["message"]


def test_no_matching_keys_is_not_measured(redis_server, run_release, redis_release_args):
    server = redis_server(appendonly="yes")
    result, signoff = run_release(*redis_release_args(server))
    c = check(signoff, "redis", "ttl")
    assert c["outcome"] == "skipped" and not c["measured"]
    assert "no keys match feedback:*" in c["message"]
    assert gate(signoff, "redis")["status"] == "incomplete"


def test_renamed_config_command_reads_policy_from_info(redis_server, run_release,
                                                       redis_release_args):
    server = redis_server(appendonly="yes", rename_command=("CONFIG", ""))
    seed(server)
    with pytest.raises(Exception, match="unknown command"):
        server.client().config_get("maxmemory-policy")
    result, signoff = run_release(*redis_release_args(server))
    c = check(signoff, "redis", "maxmemory")
    assert c["outcome"] == "passed" and c["measured"]
    assert measurement(c, "read from")["value"] == "INFO memory"
    assert measurement(c, "maxmemory-policy")["value"] == "noeviction"
    assert c["reproduce"].endswith("INFO memory | grep maxmemory_policy")
    aof = check(signoff, "redis", "aof")
    assert aof["outcome"] == "passed"
    assert "CONFIG is disabled" in measurement(aof, "appendfsync")["value"]
    # the persisted-config check falls back to INFO for the running values
    persisted = check(signoff, "redis", "persisted_config")
    assert persisted["outcome"] == "passed", persisted
    assert measurement(persisted, f"appendonly in {server.conf_path}")["ok"] is True
    assert signoff["verdict"] == "INCOMPLETE"


def test_running_config_that_differs_from_the_file_fails(redis_server, run_release,
                                                          redis_release_args):
    server = redis_server(appendonly="yes")
    client = seed(server)
    client.config_set("appendonly", "no")
    result, signoff = run_release(*redis_release_args(server))
    c = check(signoff, "redis", "persisted_config")
    assert c["outcome"] == "failed"
    m = measurement(c, f"appendonly in {server.conf_path}")
    assert (m["value"], m["op"], m["threshold"], m["ok"]) == ("yes", "==", "no", False)
    # the file still says what the release needs; only the running server drifted
    assert measurement(c, "appendonly after a restart")["ok"] is True
    assert measurement(c, f"maxmemory-policy in {server.conf_path}")["ok"] is True
    assert failed_items(signoff) == {"persisted_config", "aof"}
    assert signoff["verdict"] == "REJECTED"


def test_redis_down_is_never_a_pass(run_release):
    port = free_port()  # nothing listens there
    result, signoff = run_release("--release-set", f"redis.url=redis://127.0.0.1:{port}/0")
    redis = gate(signoff, "redis")
    assert redis["status"] in ("failed", "incomplete")
    assert signoff["verdict"] != "APPROVED"
    for c in redis["checks"]:
        assert c["outcome"] != "passed" and not c["measured"], c
    for item_id in ("ttl", "maxmemory", "aof", "p95"):
        message = check(signoff, "redis", item_id)["message"]
        assert message.startswith("not measured: Redis at redis://127.0.0.1:") and "unreachable" in message
    assert "Traceback" not in output(result)


@pytest.mark.parametrize("password", ["S3cr3t-p4ss", "S3 cr/t@p4ss+"], ids=["plain", "encoded"])
def test_password_appears_in_no_output(redis_server, run_release, pytester, password):
    server = redis_server(appendonly="yes", requirepass=password,
                          maxmemory_policy="allkeys-lru")  # a failure, so tracebacks are printed
    seed(server)
    url = f"redis://:{quote(password, safe='')}@127.0.0.1:{server.port}/0"
    if password == "S3cr3t-p4ss":
        assert url == server.url == f"redis://:{password}@127.0.0.1:{server.port}/0"
    pytester.makefile(".toml", release=f"""
        [redis]
        url = "{url}"
        config_file = "{server.conf_path}"
    """)
    result, signoff = run_release(
        "-v", "-rA", "--showlocals", "--tb=long", "--junitxml=junit.xml", "--html=report.html",
        "--self-contained-html", "--release-checklist", "checklist.md",
    )
    # the password worked: the checks measured the server
    assert measurement(check(signoff, "redis", "aof"), "aof_enabled")["value"] == 1
    assert check(signoff, "redis", "maxmemory")["outcome"] == "failed"
    # ... and it leaked nowhere (the config file on disk is the server's own, outside the outputs)
    outputs = {
        "stdout/stderr": output(result),
        **{name: (pytester.path / name).read_text()
           for name in ("signoff.json", "checklist.md", "report.html", "junit.xml")},
    }
    for name, text in outputs.items():
        assert len(text) > 200, name
        for form in (password, quote(password, safe=""), quote(password), quote_plus(password)):
            assert form not in text, f"{form!r} leaked into {name}"
    assert "redis://:***@127.0.0.1" in outputs["signoff.json"]


def _shape(signoff):
    return {
        c["nodeid"]: (c["outcome"], c["measured"], [(m["name"], m["ok"]) for m in c["measurements"]])
        for g in signoff["gates"] for c in g["checks"]
    }


def test_xdist_gives_the_same_signoff_as_a_serial_run(redis_server, run_release,
                                                      redis_release_args):
    server = redis_server(maxmemory_policy="allkeys-lru", appendonly="yes")
    client = seed(server)
    client.set("feedback:forever", "{}")
    serial_result, serial = run_release(*redis_release_args(server))
    xdist_result, xdist = run_release("-n", "2", *redis_release_args(server))
    assert "gw0" in output(xdist_result) or "2 workers" in output(xdist_result)
    assert serial_result.ret == xdist_result.ret == EXIT_REJECTED
    assert _shape(xdist) == _shape(serial)
    assert len(_shape(serial)) == len(REDIS_ITEMS)
    for key in ("verdict", "reason", "totals"):
        assert xdist[key] == serial[key]
    assert [(g["id"], g["status"], g["reason"]) for g in xdist["gates"]] == \
           [(g["id"], g["status"], g["reason"]) for g in serial["gates"]]
    assert xdist["gates"][0]["items"] == serial["gates"][0]["items"]


def test_crashed_xdist_worker_is_an_error_in_the_signoff(redis_server, run_release, pytester,
                                                         redis_release_args):
    server = redis_server(appendonly="yes")
    seed(server, ttl=WEEK)
    suite = pytester.path / "tests_release"
    suite.mkdir(exist_ok=True)
    (suite / "test_crash.py").write_text(
        "import os\nimport pytest\n\n"
        "@pytest.mark.gate_redis\n"
        "def test_worker_dies_mid_check():\n"
        "    '''Redis survives a client crash'''\n"
        "    os._exit(1)\n"
    )
    result, signoff = run_release("-n", "2", *redis_release_args(server))
    assert "crashed" in output(result)
    redis = gate(signoff, "redis")
    crashed = [c for c in redis["checks"] if c["nodeid"].endswith("test_worker_dies_mid_check")]
    assert len(crashed) == 1, redis["checks"]
    assert crashed[0]["outcome"] == "error"
    assert "worker crashed" in crashed[0]["message"]
    assert crashed[0]["item"] == "Redis survives a client crash"
    assert redis["status"] != "passed"
    assert signoff["verdict"] != "APPROVED"
    # the other checks still ran to completion on the surviving/replacement worker
    assert item_statuses(signoff, "redis")["maxmemory"] == "passed"
    assert signoff["totals"]["error"] == 1
    assert json.dumps(signoff)  # the model stays serialisable with the synthetic report


def _seed_mixed(server):
    client = seed(server, 50, ttl=3600)
    for i in range(3):
        client.set(f"feedback:forever:{i}", "{}")
    for i in range(2):
        client.set(f"feedback:month:{i}", "{}", ex=30 * 24 * 3600)
    client.set("other:key", "{}")
    return client


@pytest.mark.parametrize("sample_size", [10_000, 55, 20])
def test_ttl_audit_script_and_pipeline_agree(redis_server, sample_size, monkeypatch):
    from pytest_release.probes.redis import RedisProbe

    fallbacks = []
    pipelined_audit = RedisProbe._ttl_audit_pipelined

    def spy(self, *args, **kwargs):
        fallbacks.append(self.url)
        return pipelined_audit(self, *args, **kwargs)

    monkeypatch.setattr(RedisProbe, "_ttl_audit_pipelined", spy)
    scripted_server = redis_server()
    no_eval_server = redis_server(rename_command=[("EVAL", ""), ("EVALSHA", "")])
    audits = []
    for server in (scripted_server, no_eval_server):
        _seed_mixed(server)
        probe = RedisProbe(server.url)
        audits.append(probe.ttl_audit("feedback:*", bound_seconds=WEEK, sample_size=sample_size,
                                      scan_count=7, batch=4, examples=2))
        probe.close()
    assert fallbacks == [no_eval_server.url]  # EVAL refused: the pipelined path took over
    for audit in audits:
        assert audit.scanned == min(sample_size, 55)
        assert audit.truncated is (sample_size < 55)
        assert audit.vanished == 0
        assert len(audit.no_expiry_examples) <= 2 and len(audit.over_bound_examples) <= 2
        assert set(audit.no_expiry_examples) <= {f"feedback:forever:{i}" for i in range(3)}
        assert all(e.startswith("feedback:month:") and e.endswith(" s)")
                   for e in audit.over_bound_examples)
    if sample_size >= 55:
        for audit in audits:
            assert (audit.no_expiry, audit.over_bound) == (3, 2)
            assert WEEK < audit.max_ttl <= 30 * 24 * 3600
            assert len(audit.no_expiry_examples) == len(audit.over_bound_examples) == 2


def test_ttl_item_is_measured_where_eval_is_disabled(redis_server, run_release, redis_release_args):
    server = redis_server(appendonly="yes", rename_command=[("EVAL", ""), ("EVALSHA", "")])
    _seed_mixed(server)
    result, signoff = run_release(*redis_release_args(server, conf=False))
    c = check(signoff, "redis", "ttl")
    assert c["outcome"] == "failed"
    assert measurement(c, "keys sampled (feedback:*)")["value"] == 55
    assert measurement(c, "keys without expiry (feedback:*)")["value"] == 3
    assert measurement(c, "keys with TTL over the bound (feedback:*)")["value"] == 2


def test_a_stalling_redis_fails_the_p95_item_with_the_measured_latency(
        redis_server, run_release, redis_release_args):
    """A real Redis that stalls: another client keeps it busy with DEBUG SLEEP 0.2 s."""
    import threading

    server = redis_server(appendonly="yes", enable_debug_command="yes")
    seed(server, ttl=WEEK)
    staller = server.client(socket_timeout=5)
    stop = threading.Event()

    def stall() -> None:
        while not stop.is_set():
            staller.execute_command("DEBUG", "SLEEP", "0.2")

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    try:
        result, signoff = run_release(*redis_release_args(server), "-k", "p95",
                                      "--release-set", "redis.latency_samples=20")
    finally:
        stop.set()
        thread.join(timeout=5)
    p95 = check(signoff, "redis", "p95")
    assert p95["outcome"] == "failed", p95
    client_p95 = measurement(p95, "client P95")
    assert client_p95["ok"] is False and client_p95["value"] > 120, client_p95
    assert p95["message"].startswith("Performance: P95 < 120ms: expected client P95 < 120 ms, "
                                     "measured "), p95["message"]
