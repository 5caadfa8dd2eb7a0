"""The self-contained pytest-html report, opened in headless Chromium (JS executed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.tools import REQUIRE_TOOLS, missing_tool

from support.dom import parse
from support.run import gate
from pytest_release.report import fmt_value

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium",
                             shutil.which("chromium-browser"), shutil.which("google-chrome"))
                 if p and Path(p).exists()), None)
XSS_KEY = "feedback:<script>alert(1)</script>"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRE_TOOLS,
    reason="chromium is not installed (apt-get install chromium); CI installs it")


def chromium(tmp_path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        missing_tool("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=tmp_path,
    )


def test_signoff_block_renders_in_a_real_browser(redis_server, run_release, pytester, tmp_path,
                                                 redis_release_args):
    server = redis_server(appendonly="yes")
    client = server.client()
    for i in range(5):
        client.set(f"feedback:{i}", "{}", ex=3600)
    client.set(XSS_KEY, "{}")  # no TTL: Gate 1 fails and the key name is shown as evidence
    result, signoff = run_release(*redis_release_args(server), "--html", "report.html",
                                  "--self-contained-html")
    report = pytester.path / "report.html"
    assert report.exists(), result.outlines[-20:]

    dumped = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = parse(dumped.stdout)

    # pytest-html's own JavaScript ran: it builds the results table rows client-side
    assert dom.select("tbody", cls="results-table-row"), "pytest-html did not render its table"

    sections = dom.select(id="release-signoff")
    assert len(sections) == 1
    section = sections[0]
    banner = section.select("div", cls="banner")[0]
    assert signoff["verdict"] == "REJECTED"
    assert banner.classes == {"banner", "REJECTED"}
    assert banner.text.strip() == "Release v5.7.1: REJECTED"

    rows = section.select("tr", cls="check")
    checks = [c for g in signoff["gates"] for c in g["checks"]]
    assert len(rows) == len(checks) == 6
    by_nodeid = {row.attrs["data-nodeid"]: row for row in rows}
    assert set(by_nodeid) == {c["nodeid"] for c in checks}
    for c in checks:
        cells = by_nodeid[c["nodeid"]].select("td")
        assert len(cells) == 6
        assert f"st-{c['outcome']}" in cells[2].classes
        measured = cells[3].text
        for m in c["measurements"]:
            assert f"{m['name']} = {fmt_value(m['value'], m['unit'])}" in measured
        if c["measured"]:
            assert measured != "—"
        failing = {d.text for d in cells[3].select("div", cls="ok-false")}
        assert failing == {f"{m['name']} = {fmt_value(m['value'], m['unit'])}"
                           for m in c["measurements"] if m["ok"] is False}
    ttl = next(c for c in checks if c["item_id"] == "ttl")
    assert XSS_KEY in by_nodeid[ttl["nodeid"]].select("td")[3].text  # shown as text ...
    for script in dom.select("script"):
        assert "alert(" not in script.text  # ... and never as markup
    gate_rows = section.select("tr", cls="gate")
    assert [r.attrs["data-gate"] for r in gate_rows] == [g["id"] for g in signoff["gates"]]
    assert "failed" in gate_rows[0].text and gate(signoff, "redis")["status"] == "failed"

    shot = tmp_path / "report.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1600",
                     "--hide-scrollbars", report.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
