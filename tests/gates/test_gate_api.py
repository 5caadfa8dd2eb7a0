"""Gate 2 (API Validation) and Gate 1's retry item, both ways, against the real feedback service.

Each case starts a real redis-server and the bundled service (healthy, or with one fault switch
on), runs copies of ``tests_release/test_gate_api.py`` and the retry check of
``test_gate_redis.py`` in a pytester subprocess and asserts on the JSON sign-off: which checks
failed, the measured value that violated, and that the message names the checklist item. A fault
must fail its own checks and leave the others passing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_release.verdict import EXIT_REJECTED, EXIT_INCOMPLETE
from support.tools import missing_tool
from support.stacks import API_ITEMS, API_SELECTION, K6_SCRIPT, LOAD_ITEMS, RETRY_NODE, item_text


SUCCESS = (200, 201, 202)
TTL_BOUND = 604800  # [redis] ttl_max_seconds default: 7 days
RATE_LIMIT = 600  # start_service's default per-caller budget


def above(bound: float) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        return isinstance(value, (int, float)) and value > bound

    test.__name__ = f"> {bound}"
    return test


def not_success(value: Any) -> bool:
    return value not in SUCCESS


def success(value: Any) -> bool:
    return value in SUCCESS


# fault → {(gate, item): {measurement that must violate: expected value or predicate}}
FAULTS: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
    "no_ttl": {("api", "stored_ttl"): {"record has an expiry": -1}},
    "long_ttl": {("api", "stored_ttl"): {"record TTL": above(TTL_BOUND)}},
    "lenient_schema": {("api", "schema"): {
        "missing field status": success, "wrong type status": success,
        "extra field status": success, "generated bad inputs accepted": above(0)}},
    "error_500_on_bad_input": {
        ("api", "schema"): {"malformed JSON status": 500, "missing field status": 500,
                            "5xx answers to generated bad input": above(0)},
        ("api", "error_codes"): {"malformed JSON → 400": 500, "malformed JSON is not 5xx": 500},
    },
    "no_auth": {("api", "jwt"): {
        "no token status": success, "garbage token status": success,
        "signed by another key status": success, "expired status": success,
        "no token WWW-Authenticate": False}},
    "accept_alg_none": {("api", "jwt"): {
        "alg none status": success, "alg none WWW-Authenticate": False}},
    "no_rate_limit": {("api", "rate_limit"): {"first 429 at request": "none in 201"}},
    "wrong_status_codes": {("api", "error_codes"): {
        "wrong content type → 415": 400, "body over the limit → 413": 400,
        "unknown route → 404": 200, "wrong method → 405": 404}},
    "unlabelled_metrics": {("api", "metrics_labels"): {
        "aiops_feedback_total label names": [[]]}},
    "wrong_metric_labels": {("api", "metrics_labels"): {
        "aiops_feedback_total label names": [["note", "severity", "source", "type"]],
        "free text (note) exposed in metrics": True}},
    "no_redis_retry": {("redis", "retry"): {"first POST after the drop": not_success}},
}
#: Faults whose listed measurements are the only ones that may fail (the rest of the same check
#: must still hold: e.g. with alg none accepted, the other bad tokens are still refused).
EXACT = {"no_ttl", "long_ttl", "accept_alg_none", "no_rate_limit", "wrong_status_codes",
         "wrong_metric_labels", "no_redis_retry"}
#: The generated bad-input sweep is what these faults are about; the others run it with 0
#: examples and a service budget of 100 requests (the rate-limit check then needs 101 requests,
#: not 601), which keeps the matrix fast. The healthy run uses the checklist defaults.
SCHEMA_FAULTS = {"lenient_schema", "error_500_on_bad_input"}
QUICK_SERVICE = {"rate_limit": 100}
QUICK_SETTINGS = {"api.sweep_examples": "0", "api.rate_limit_max": "200"}
#: With auth off every caller is "anonymous" and shares one rate-limit budget, which the
#: rate-limit check spends on purpose; the checks after it would then fail with 429s that are a
#: consequence of this fault, not what they test. That check is left out for no_auth.
DESELECT = {"no_auth": ("-k", "not rate_limit")}


def _matches(expected: Any, value: Any) -> bool:
    return expected(value) if callable(expected) else value == expected


def _assert_violation(run: Any, gate: str, item: str, expected: dict[str, Any],
                      exact: bool) -> None:
    check = run.check(gate, item)
    text = item_text(gate, item)
    assert check["outcome"] == "failed" and check["measured"], check
    assert check["item"] == text
    failing = run.failing(gate, item)
    for name, want in expected.items():
        assert name in failing, f"{gate}.{item}: {name!r} did not fail; failing: {failing}"
        assert _matches(want, failing[name]), f"{gate}.{item}: {name} = {failing[name]!r}"
    # The message (shortened in the sign-off) leads with the first violation and its value.
    first, value = next(iter(failing.items()))
    assert check["message"].startswith(f"{text}: expected {first} "), check["message"]
    if isinstance(value, (int, str)):
        assert f"measured {value}" in check["message"], check["message"]
    if exact:
        assert set(failing) == set(expected), failing


def test_healthy_service_passes_all_api_checks_and_the_retry_item(healthy_stack, release_suite):
    run = release_suite(*API_SELECTION, stack=healthy_stack)

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    assert run.outcomes("api") == dict.fromkeys(API_ITEMS, "passed")
    assert all(c["measured"] for c in run.checks("api").values())
    assert run.gate("api")["status"] == "passed"
    retry = run.check("redis", "retry")
    assert retry["outcome"] == "passed" and retry["measured"]
    assert run.measurement("redis", "retry", "first POST after the drop")["value"] in SUCCESS
    # The measured facts, not just the outcomes.
    assert run.measurement("api", "rate_limit", "first 429 at request")["value"] == RATE_LIMIT + 1
    ttl = run.measurement("api", "stored_ttl", "record TTL")
    assert 0 < ttl["value"] <= TTL_BOUND and ttl["ok"] is True
    assert run.measurement("api", "jwt", "alg none status")["value"] == 401
    assert run.measurement("api", "schema", "5xx answers to generated bad input")["value"] == 0
    # A partial run (Gate 2 and one Gate 1 item) is never APPROVED.
    assert run.signoff["verdict"] == "INCOMPLETE"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_its_own_checks_with_the_violating_value(fault, stack_factory, release_suite):
    quick = fault not in SCHEMA_FAULTS
    stack = stack_factory(faults=(fault,), **(QUICK_SERVICE if quick else {}))
    run = release_suite(*API_SELECTION, *DESELECT.get(fault, ()), stack=stack,
                        release_set=QUICK_SETTINGS if quick else None)

    assert run.result.ret == EXIT_REJECTED, run.output
    expected = FAULTS[fault]
    for (gate, item), measurements in expected.items():
        _assert_violation(run, gate, item, measurements, exact=fault in EXACT)
    ran = {("api", i): o for i, o in run.outcomes("api").items()}
    ran[("redis", "retry")] = run.check("redis", "retry")["outcome"]
    untouched = {key: outcome for key, outcome in ran.items() if key not in expected}
    assert untouched == dict.fromkeys(untouched, "passed"), untouched
    if fault in DESELECT:
        assert "rate_limit" not in ran
    else:
        assert len(ran) == len(API_ITEMS) + 1
    assert run.signoff["verdict"] == "REJECTED"
    for gate in {g for g, _ in expected}:
        assert run.gate(gate)["status"] == "failed"


def test_rate_limit_without_a_caller_of_its_own_is_not_measured(healthy_stack, release_suite):
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", stack=healthy_stack,
                        release_set={"api.rate_limit_token": None})

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    rate_limit = run.check("api", "rate_limit")
    assert rate_limit["outcome"] == "skipped" and rate_limit["measured"] is False
    assert "not measured: api.rate_limit_token is not set" in rate_limit["message"]
    others = {i: o for i, o in run.outcomes("api").items() if i != "rate_limit"}
    assert others == dict.fromkeys(others, "passed") and len(others) == len(API_ITEMS) - 1
    # Five passes and one not measured: the gate is incomplete, never passed.
    assert run.gate("api")["status"] == "incomplete"
    assert run.signoff["verdict"] == "INCOMPLETE"


def test_unconfigured_targets_are_not_measured_never_passed(release_suite):
    """No api.url, no redis.url: every Gate 1 retry, Gate 2 and Gate 3 check says why."""
    run = release_suite(
        "-m", "gate_api or gate_redis or gate_load", *API_SELECTION[2:],
        "tests_release/test_gate_load.py",
        modules=("test_gate_api.py", "test_gate_redis.py", "test_gate_load.py"),
        release_set={"load.script": str(K6_SCRIPT)},
    )

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    checks = {**{("api", i): c for i, c in run.checks("api").items()},
              **{("load", i): c for i, c in run.checks("load").items()},
              ("redis", "retry"): run.check("redis", "retry")}
    assert len(checks) == len(API_ITEMS) + len(LOAD_ITEMS) + 1
    for (gate, item), check in checks.items():
        assert check["outcome"] == "skipped" and check["measured"] is False, check
        assert check["message"].startswith("not measured: "), check["message"]
    for item in API_ITEMS:
        assert "api.url is not configured" in checks[("api", item)]["message"]
    for item in LOAD_ITEMS:
        assert "api.url is not configured: there is no target to load" in \
            checks[("load", item)]["message"]
    assert "redis.url is not configured" in checks[("redis", "retry")]["message"]
    assert {run.gate(g)["status"] for g in ("redis", "api", "load")} == {"incomplete"}
    assert run.signoff["verdict"] == "INCOMPLETE"
    assert run.signoff["totals"]["passed"] == 0


def test_api_url_without_tokens_is_not_measured(healthy_stack, release_suite):
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", stack=healthy_stack,
                        release_set={"api.token": None, "api.rate_limit_token": None})

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    checks = run.checks("api")
    assert {c["outcome"] for c in checks.values()} == {"skipped"}
    assert not any(c["measured"] for c in checks.values())
    for item in set(API_ITEMS) - {"rate_limit"}:
        assert "not measured: api.token is not configured" in checks[item]["message"]
    assert run.gate("api")["status"] == "incomplete"


def test_no_token_reaches_any_report_or_output(stack_factory, release_suite):
    """Secrets appear nowhere: JSON, Markdown, HTML, JUnit XML, stdout/stderr, k6 files.

    The target fails checks (so failure messages and tracebacks are rendered) and the run asks
    for everything pytest can print (``-rA -vv --showlocals``). Besides each whole token, its
    signature segment is searched for too: with the (readable) header and claims it rebuilds
    the token.
    """
    from pytest_release.probes import ProbeUnavailable
    from pytest_release.probes.k6 import find_k6

    try:
        find_k6("k6")
    except ProbeUnavailable as exc:
        missing_tool(str(exc))
    stack = stack_factory(faults=("accept_alg_none", "no_ttl"), **QUICK_SERVICE)
    run = release_suite(
        "-m", "gate_api or gate_redis or gate_load", *API_SELECTION[2:],
        "tests_release/test_gate_load.py", "-rA", "-vv", "--showlocals",
        "--release-checklist", "checklist.md", "--html", "report.html", "--self-contained-html",
        "--junitxml", "junit.xml",
        stack=stack, modules=("test_gate_api.py", "test_gate_redis.py", "test_gate_load.py"),
        release_set={**QUICK_SETTINGS, "load.duration": "2s", "load.vus": "2"},
    )

    assert run.result.ret == EXIT_REJECTED, run.output
    assert run.outcomes("api")["jwt"] == "failed"
    assert run.outcomes("load") == dict.fromkeys(LOAD_ITEMS, "passed")
    cwd = run.outdir.parent
    artifacts = [run.outdir / "signoff.json", cwd / "checklist.md", cwd / "report.html",
                 cwd / "junit.xml"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in artifacts)
    texts = {str(p): p.read_text(errors="replace") for p in artifacts}
    texts["stdout+stderr"] = run.output
    for path in run.outdir.rglob("*"):  # k6 summary, run.json, tmp dirs
        if path.is_file():
            texts[str(path)] = path.read_text(errors="replace")
    assert "$API_TOKEN" in texts[str(run.outdir / "signoff.json")]  # reproduce commands
    assert len(run.secrets) == 3
    for name, token in run.secrets.items():
        signature = token.rsplit(".", 1)[1]
        for where, text in texts.items():
            assert token not in text, f"{name} found in {where}"
            assert signature not in text, f"{name}'s signature found in {where}"


def test_malformed_token_or_key_material_is_not_measured_with_the_setting(
        healthy_stack, release_suite, tmp_path):
    """A non-JWT api.token, or a signing key file that is not a PEM key, ends the JWT check as
    not measured naming the setting, never with a bare ValueError."""
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", "-k", "jwt",
                        stack=healthy_stack, release_set={"api.token": "opaque-api-key"})
    jwt = run.check("api", "jwt")
    assert jwt["measured"] is False, jwt
    assert "not measured: api.token is not a JWT" in jwt["message"], jwt["message"]
    assert "ValueError" not in run.output

    bad_key = tmp_path / "key.pem"
    bad_key.write_text("not a key\n")
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", "-k", "jwt",
                        stack=healthy_stack, release_set={"api.signing_key_file": str(bad_key)})
    jwt = run.check("api", "jwt")
    assert jwt["measured"] is False, jwt
    assert "not measured: api.signing_key_file" in jwt["message"], jwt["message"]
    assert "ValueError" not in run.output


def test_retry_check_without_api_token_is_not_measured_not_a_401_failure(healthy_stack,
                                                                          release_suite):
    """api.url set, api.token unset: the retry check used to post without a token and fail on
    the service's 401 — a configuration gap reported as a product failure."""
    run = release_suite("-m", "gate_redis", RETRY_NODE, stack=healthy_stack,
                        release_set={"api.token": None})

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    retry = run.check("redis", "retry")
    assert retry["outcome"] == "skipped" and retry["measured"] is False, retry
    assert retry["message"].startswith("not measured: api.token is not configured"), retry


def test_retry_check_with_a_token_the_service_refuses_is_not_measured(healthy_stack,
                                                                       release_suite):
    run = release_suite("-m", "gate_redis", RETRY_NODE, stack=healthy_stack,
                        env={"API_TOKEN": "not-a-jwt"})

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    retry = run.check("redis", "retry")
    assert retry["outcome"] == "skipped" and retry["measured"] is False, retry
    assert retry["message"].startswith(
        "not measured: the service refused api.token (401) on the warm-up POST"), retry


def test_rate_limit_shared_with_the_checks_caller_is_waited_out(stack_factory, release_suite):
    """The rate-limit check spends the same budget as api.token (as a limit keyed by client
    address does): it waits out the Retry-After it measured, so the checks after it still
    pass instead of failing with 429s."""
    stack = stack_factory(rate_limit=40, rate_window=3)
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", stack=stack,
                        release_set={"api.rate_limit_token": "${API_TOKEN}",
                                     "api.sweep_examples": "0", "api.rate_limit_max": "60"})

    assert run.result.ret == EXIT_INCOMPLETE, run.output  # deviations / not measured: 11
    assert run.outcomes("api") == dict.fromkeys(API_ITEMS, "passed")
    measured = "api.token's caller limited too (limit shared, e.g. by address)"
    assert run.measurement("api", "rate_limit", measured)["value"] is True
    assert 1 <= run.measurement("api", "rate_limit", "waited out Retry-After")["value"] <= 7
    assert run.measurement("api", "rate_limit", "api.token's caller after the wait")["value"] \
        in SUCCESS


@pytest.mark.parametrize("values", ["source=ui,type=bug,severity=high",
                                    "source=api,type=bug,severity=low"])  # the default
def test_metrics_label_check_posts_the_configured_label_values(values, healthy_stack,
                                                               release_suite):
    """The probe values come from api.probe_label_values, not from one service's enumeration:
    a non-default value the API accepts passes, and the increase is counted on that series."""
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", "-k",
                        "labelled", stack=healthy_stack,
                        release_set={"api.probe_label_values": values})

    assert run.result.ret == EXIT_INCOMPLETE, run.output  # one item of the gate: 11
    assert run.outcomes("api") == {"metrics_labels": "passed"}
    labels = dict(entry.split("=") for entry in values.split(","))
    assert run.measurement("api", "metrics_labels",
                           "probe label values (api.probe_label_values)")["value"] == labels
    series = "aiops_feedback_total{" + ",".join(f"{k}={v!r}" for k, v in labels.items()) + "}"
    assert run.measurement("api", "metrics_labels", f"{series} increase")["value"] == 3


def test_metrics_label_values_the_api_refuses_are_not_measured(healthy_stack, release_suite):
    run = release_suite("-m", "gate_api", "tests_release/test_gate_api.py", "-k",
                        "labelled", stack=healthy_stack,
                        release_set={"api.probe_label_values": "source=carrier-pigeon"})

    assert run.result.ret == EXIT_INCOMPLETE, run.output
    check = run.check("api", "metrics_labels")
    assert check["outcome"] == "skipped" and check["measured"] is False, check
    assert "with api.probe_label_values" in check["message"], check["message"]
