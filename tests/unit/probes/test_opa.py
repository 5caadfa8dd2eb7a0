"""OPA cases, decisions, and the regopy OPA-REST server's semantics (real Rego engine)."""
from __future__ import annotations

import json
import urllib.request

import pytest

from pytest_release.demo.opa import OpaServer, RegoPolicies
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.opa import Decision, OpaClient, parse_case


def test_parse_case():
    case = parse_case('deny viewer-post: {"user": {"roles": ["viewer"]}, "method": "POST"}')
    assert (case.name, case.expect, case.input["method"]) == ("viewer-post", "deny", "POST")


@pytest.mark.parametrize("text, message", [
    ("permit x: {}", "is not 'allow|deny NAME"),
    ('allow x: {"a": }', "case x: the input is not JSON"),
    ("allow x: [1]", "is not 'allow|deny NAME"),
])
def test_bad_case(text, message):
    with pytest.raises(ValueError, match=message):
        parse_case(text)


@pytest.mark.parametrize("decision, allowed", [
    (Decision(False), False), (Decision(True, True), True), (Decision(True, False), False),
    (Decision(True, "true"), False), (Decision(True, {"allow": True}), True),
])
def test_only_true_allows(decision, allowed):
    assert decision.allowed is allowed


def test_server_answers_like_opa():
    policies = RegoPolicies({"p.rego": "package p\nimport rego.v1\ndefault allow := false\n"
                                       "allow if input.x == 1\n"})
    with OpaServer(policies) as server:
        client = OpaClient(server.url, timeout_s=5)
        assert client.decide("p/allow", {"x": 1}) == Decision(True, True)
        assert client.decide("p/allow", {"x": 2}) == Decision(True, False)  # the default
        assert client.decide("p/nothing", {}) == Decision(False)           # undefined
        with urllib.request.urlopen(server.url + "/v1/data/p/nothing", timeout=5) as response:
            assert json.load(response) == {}                              # no "result" key
        with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
            assert response.status == 200


def test_policy_error_and_unreachable_are_unavailable():
    with OpaServer(RegoPolicies({"bad.rego": "package bad\nallow if {{{"})) as server:
        with pytest.raises(ProbeUnavailable, match="answered 500"):
            OpaClient(server.url, timeout_s=5).decide("bad/allow", {})
        url = server.url
    with pytest.raises(ProbeUnavailable, match="unreachable"):
        OpaClient(url, timeout_s=1).decide("bad/allow", {})


def test_token_protected_opa():
    policies = RegoPolicies({"p.rego": "package p\nimport rego.v1\nallow if true\n"})
    with OpaServer(policies, token="opa-t0ken") as server:
        with pytest.raises(ProbeUnavailable, match="answered 401") as info:
            OpaClient(server.url, timeout_s=5).decide("p/allow", {})
        assert "opa-t0ken" not in str(info.value)
        client = OpaClient(server.url, timeout_s=5, token="opa-t0ken")
        assert client.decide("p/allow", {}) == Decision(True, True)
        assert "opa-t0ken" not in client.curl("p/allow", {}) and "$OPA_TOKEN" in client.curl("p/allow", {})
