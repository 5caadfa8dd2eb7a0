"""One redacted SignOff: the collector masks every string once, the views render it as is."""
from __future__ import annotations

from pytest_release.gates import GATES
from pytest_release.redact import Redactor
from pytest_release.report import json as json_report
from pytest_release.report import markdown
from pytest_release.verdict import CheckRecord, Measurement, decide

SECRET = "s3cr3t-token"


def test_a_redacted_signoff_holds_no_secret_in_any_view():
    record = CheckRecord(
        nodeid="t.py::test_x", gate="redis", item="ttl", title=f"TTL {SECRET}", outcome="failed",
        measurements=(Measurement(f"keys ({SECRET})", [f"feedback:{SECRET}"], None, "==", [],
                                  False, subject=SECRET),),
        reproduce=f"redis-cli -a {SECRET}", message=f"expected ... measured {SECRET}",
        source="snapshot", source_detail=f"/snap/{SECRET}")
    signoff = decide({"version": "v1", "commit": SECRET, "image": None}, [record],
                     generated_at="2026-01-01T00:00:00Z", gates=GATES)
    redacted = signoff.redacted(Redactor({SECRET}))
    for text in (json_report.render(redacted), markdown.render(redacted)):
        assert SECRET not in text
        assert "***" in text
    check = redacted.gates[0].checks[0]
    assert check.outcome == "failed" and check.source == "snapshot"
    assert check.measurements[0].subject == "***"
    assert SECRET in json_report.render(signoff)  # the unredacted model is left as it was


def test_the_redactor_masks_encoded_forms_and_is_falsy_without_secrets():
    redact = Redactor({"p@ss/w0rd"})
    assert redact("a p%40ss%2Fw0rd b p@ss/w0rd") == "a *** b ***"
    assert not Redactor() and Redactor()("x") == "x"


def test_fragments_encoded_forms_and_short_secrets():
    from _pytest._io.saferepr import saferepr

    token = "eyJhbGciOiJSUzI1NiJ9." + "x9Y8z7W6v5" * 70 + "'q\"uo\\te"
    redact = Redactor({token, "JECT"})
    shown = saferepr(token, maxsize=80)  # head...tail, the escaped form
    assert "..." in shown and not any(token[i:i + 8] in redact(shown)
                                      for i in range(len(token) - 7))
    import base64
    assert redact(base64.b64encode(token.encode()).decode()) == "***"
    assert redact("verdict REJECTED; password JECT") == "verdict REJECTED; password ***"
    assert redact("https://u:pw-anyone@h/x?a=1&sig=abc&key=k3y") == "https://u:***@h/x?a=1&sig=***&key=***"
    assert Redactor({"verdict-secret-x"}).data({"verdict-secret-x": "verdict-secret-x"}) == {
        "verdict-secret-x": "***"}  # keys never masked


def test_neutralise_and_secret_repr():
    from pytest_release.redact import Secret, neutralise

    assert neutralise("a\x1b[2J\nb\x9b\u202e") == "a\\x1b[2J\\x0ab\\x9b\\u202e"
    assert neutralise("a\nb\tc", keep_newlines=True) == "a\nb\tc"
    secret = Secret("t0ken-value")
    assert repr(secret) == "Secret('***')" and f"Bearer {secret}" == "Bearer t0ken-value"
    assert type(secret.reveal()) is str
