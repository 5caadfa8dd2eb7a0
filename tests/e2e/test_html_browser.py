"""The self-contained pytest-html report, opened in headless Chromium (JS executed)."""
from __future__ import annotations

import os
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
    assert banner.text.strip().startswith("Release v5.7.1: REJECTED")
    assert "DO NOT DEPLOY" in banner.text  # the recommendation beside the verdict
    # the verdict comes before anything else of the report: pytest-html's environment and
    # results table follow the sign-off (moved by the report's own script, which ran here)
    page = dumped.stdout
    assert page.index('id="release-signoff"') < page.index('id="environment"')
    assert page.index('id="release-signoff"') < page.index('id="results-table"')
    assert "signed off at" not in section.text.lower()  # only an APPROVED sign-off says so

    overview = section.select("tr", cls="overview-row")
    assert [r.attrs["data-gate"] for r in overview] == [g["id"] for g in signoff["gates"]]
    assert len(overview) == 8  # six gates and two stages

    checks = [c for g in signoff["gates"] for c in g["checks"]]
    heads = section.select("tr", cls="check-head")
    assert {r.attrs["data-nodeid"] for r in heads} == {c["nodeid"] for c in checks}
    rows = section.select("tr", cls="measurement")
    assert len(rows) == sum(len(c["measurements"]) for c in checks) > 0  # one row each
    failed_rows = [r for r in rows if "row-failed" in r.classes]
    failing = [(m["name"], fmt_value(m["value"], m["unit"]))
               for c in checks for m in c["measurements"] if m["ok"] is False]
    assert failing and len(failed_rows) == len(failing)
    for row, (name, value) in zip(failed_rows, failing):
        cells = row.select("td")
        assert cells[0].text == name and cells[2].text == value  # value beside its threshold
    ttl = next(c for c in checks if c["item_id"] == "ttl")
    ttl_head = next(r for r in heads if r.attrs["data-nodeid"] == ttl["nodeid"])
    assert "row-failed" in ttl_head.classes
    assert XSS_KEY in section.text  # shown as text ...
    for script in dom.select("script"):
        assert "alert(" not in script.text  # ... and never as markup
    chips = section.select("span", cls="chip")
    assert chips and all(not any(ord(ch) > 0x2000 for ch in c.text) for c in chips)  # no emoji
    assert all(c.text.strip() != "not_run" for c in chips)  # human wording
    redis_row = overview[0]
    assert "failed" in redis_row.text and gate(signoff, "redis")["status"] == "failed"

    shot = tmp_path / "report.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900",
                     "--hide-scrollbars", report.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("PYTEST_RELEASE_UPDATE_SCREENSHOT"):  # README's picture: docs/report.png
        (Path(__file__).resolve().parents[2] / "docs" / "report.png").write_bytes(shot.read_bytes())

    pdf = tmp_path / "report.pdf"  # the README's print-to-PDF command
    printed = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report.as_uri())
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.read_bytes().count(b"/Type /Page") >= 2
