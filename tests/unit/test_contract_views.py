"""Every view shows deviations, waivers, attestations, the baseline and uncovered lines, with
text from files and targets escaped (HTML), neutralised (terminal) and inert (Markdown)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pytest_release import checklist_source as cs
from pytest_release import gates
from pytest_release.contract import Contract
from pytest_release.deviations import Deviation
from pytest_release.report import html, markdown, terminal
from pytest_release.report import json as json_view
from pytest_release.verdict import CheckRecord, Measurement, SignOff, decide
from pytest_release.waivers import Attestation, Exceptions, Waiver

EVIL = "<script>alert(1)</script>\x1b[31m[x] ticked"
TODAY = dt.date(2026, 12, 2)


#: The catalogue as the collector hands it to decide(): wording filled in (checklist numbers).
GATES = tuple(g.rendered(None) for g in gates.GATES)


def signoff() -> SignOff:
    ok = (Measurement("value", 1, None, "==", 1, True),)
    bad = (Measurement("value", 2, None, "==", 1, False),)
    records = [CheckRecord(f"tests_release/test_gate_{g.id}.py::test_{i.id}", g.id, i.id, i.text,
                           "failed" if (g.id, i.id) == ("security", "trivy") else "passed",
                           bad if (g.id, i.id) == ("security", "trivy") else ok)
               for g in GATES for i in g.items]
    team = cs.parse("- [ ] TTL: 7 days configured\n- [ ] Flags reviewed\n", GATES, "t.md")
    contract = Contract(
        today=TODAY,
        deviations=(Deviation("redis.ttl_max_seconds", 604800, 99999999,
                              "release.toml:redis.ttl_max_seconds", ("redis.ttl",), "s"),),
        exceptions=Exceptions(
            (Waiver(EVIL, "jane.doe", "SEC-812", dt.date(2026, 12, 31), item="security.trivy"),
             Waiver("old", "sam", "OPS-1", dt.date(2026, 1, 1), item="redis.p95")),
            (Attestation("team.flags-reviewed", EVIL, "sam", "2026-12-01", "CS-1"),)),
        checklist=team, wording={"redis_ttl": "7 days"})
    return decide({"version": "v5.7.1"}, records, generated_at="2026-12-02T07:00:00Z",
                  contract=contract, gates=GATES)


class FakeTerminal:
    def __init__(self) -> None:
        self.text = ""

    def write_sep(self, sep: str, title: str) -> None:
        self.text += f"{title}\n"

    def write(self, text: str, **markup: Any) -> None:
        self.text += text

    def line(self, text: str = "", **markup: Any) -> None:
        self.text += text + "\n"


def test_json_carries_the_contract() -> None:
    data = json.loads(json_view.render(signoff()))
    assert data["schema"] == 2
    assert data["deviations"][0]["setting"] == "redis.ttl_max_seconds"
    assert [w["status"] for w in data["waivers"]] == ["active", "expired"]
    assert data["attestations"][0]["status"] == "applied"
    assert data["uncovered"][0]["status"] == "attested"
    assert data["baseline"] is None
    assert data["verdict"] == "INCOMPLETE"  # the TTL deviation is not waived


def test_html_escapes_waiver_text() -> None:
    text = html.render(signoff())
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "deviation: redis.ttl_max_seconds = 99999999 s (checklist: 604800 s)" in text
    assert "waiver expired: item redis.p95 (OPS-1" in text


def test_terminal_neutralises_control_characters() -> None:
    tr = FakeTerminal()
    terminal.write(signoff(), tr)
    assert "\x1b" not in tr.text
    assert "WAIVED by jane.doe until 2026-12-31 (SEC-812): <script>" in tr.text
    assert "verdict: INCOMPLETE" in tr.text
    assert "attestation applied: team.flags-reviewed by sam" in tr.text


def test_markdown_keeps_target_text_inert() -> None:
    text = markdown.render(signoff())
    assert "<script>" not in text and "\\[x\\] ticked" in text
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("> **pytest-release v5.7.1: INCOMPLETE**")
    assert "- [ ] TTL: 7 days configured — " in text  # the team's layout, deviation not ticked
    assert "**DEVIATION**" in text


def test_markdown_without_a_team_checklist_shows_the_contract_section() -> None:
    s = signoff()
    assert s.contract is not None
    plain = SignOff(s.release, s.generated_at, s.verdict, s.reason, s.gates, s.totals,
                    contract=type(s.contract)(s.contract.deviations, s.contract.waivers,
                                              s.contract.attestations, None, None, {}, None))
    text = markdown.render(plain)
    assert "## Deviations, Waivers, Attestations, Baseline" in text
    assert ("- [ ] TTL: 7 days configured (in force: 99999999 s — deviation) — **DEVIATION**"
            in text)
    assert "- [ ] Trivy: CRITICAL = 0 — **WAIVED**" in text
