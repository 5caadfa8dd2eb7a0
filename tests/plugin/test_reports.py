"""The Markdown checklist and the HTML sign-off block, rendered from real runs."""
from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt
from support.gitops import MODULES as GITOPS
from support.gitops import target_factory
from support.run import gate, prepare

from pytest_release.gates import GATES
from pytest_release.report.markdown import md

WEEK = 7 * 24 * 3600
XSS_KEY = "feedback:<script>alert(1)</script>"
BANNER = "`</code><script>alert(2)</script><img src=x onerror=alert(3)>"

OUTCOMES_GATE = f'''
import pytest

pytestmark = pytest.mark.gate_api


@pytest.mark.release_item("schema")
def test_measured_pass(evidence):
    evidence.check("invalid bodies rejected", 12, "==", 12)


@pytest.mark.release_item("jwt")
def test_pass_without_evidence():
    pass


@pytest.mark.release_item("rate_limit")
def test_pass_with_context_only(evidence):
    evidence.record("budget", 100)


@pytest.mark.release_item("error_codes")
def test_not_measured(evidence):
    evidence.not_measured("no target")


@pytest.mark.release_item("metrics_labels")
def test_measured_failure(evidence):
    evidence.check("server banner", {BANNER!r}, "==", "redis")


@pytest.mark.release_item("stored_ttl")
@pytest.mark.xfail(reason="known")
def test_expected_failure(evidence):
    evidence.check("stored", 1, "==", 2)
'''


def checklist_lines(pytester):
    return (pytester.path / "checklist.md").read_text().splitlines()


def item_line(lines, text):
    found = [line for line in lines if re.match(r"- \[[ x]\] " + re.escape(md(text)) + r"( |$)", line)]
    assert len(found) == 1, (text, found)
    return found[0]


def assert_boxes_follow_the_model(lines, signoff):
    """A box is ticked exactly for items the model calls passed — all checks measured passes."""
    for g in signoff["gates"]:
        checks = {c["nodeid"]: c for c in g["checks"]}
        for i in g["items"]:
            ticked = item_line(lines, i["text"]).startswith("- [x] ")
            assert ticked == (i["status"] == "passed"), (i, item_line(lines, i["text"]))
            if ticked:
                assert i["checks"]
                for nodeid in i["checks"]:
                    assert checks[nodeid]["outcome"] == "passed" and checks[nodeid]["measured"]
                    assert all(m["ok"] is not False for m in checks[nodeid]["measurements"])


def test_markdown_has_the_layout_of_the_seed_checklist(redis_server, run_release, pytester,
                                                      redis_release_args):
    server = redis_server(appendonly="yes")
    client = server.client()
    for i in range(10):
        client.set(f"feedback:{i}", "{}", ex=WEEK)
    result, signoff = run_release(*redis_release_args(server), "--release-checklist", "checklist.md",
                                  "--release-set", "release.commit=98ee13c")
    lines = checklist_lines(pytester)
    text = "\n".join(lines)
    assert lines[0] == "# v5.7.1 Release Checklist - INCOMPLETE ⚠️"
    assert "## Release Metadata" in lines
    assert "- **Version**: v5.7.1" in lines and "- **Commit**: 98ee13c" in lines
    assert "$(date)" not in text
    stamp = signoff["generated_at"].replace("T", " ").replace("Z", " UTC")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", stamp)
    assert f"- **Date**: {stamp}" in lines
    assert "## Pre-Deployment Gates (ALL MUST PASS)" in lines

    # issue 10: the checklist's later sections follow the gates, in the seed's order
    sections = [line for line in lines if line.startswith("## ")]
    assert sections[sections.index("## Pre-Deployment Gates (ALL MUST PASS)"):] == [
        "## Pre-Deployment Gates (ALL MUST PASS)", "## Deployment Plan",
        "## Canary Analysis Templates", "## Rollback Triggers", "## Post-Deployment (24h)",
        "## Success Criteria", "## Sign-Off"]
    gates_end = lines.index("## Deployment Plan")
    headings = [line for line in lines[:gates_end] if line.startswith("### ")]
    assert [re.sub(r"^### \S+ ", "", h) for h in headings] == [
        f"Gate {g.number}: {g.title}" for g in GATES]
    assert headings[0] == "### ⚠️ Gate 1: Redis Persistence"

    assert_boxes_follow_the_model(lines, signoff)
    assert item_line(lines, "TTL: 7 days configured").startswith("- [x] TTL: 7 days configured — `")
    assert "`maxmemory-policy = noeviction (== noeviction)`" in item_line(
        lines, "Maxmemory policy: noeviction")
    retry = item_line(lines, "Retry strategy: Active")
    assert retry.startswith("- [ ] Retry strategy: Active — **NOT MEASURED**")

    start = lines.index(headings[0])
    block = lines[start:lines.index(headings[1])]
    # the commands this run ran, as run; then the checklist's own, marked as its placeholders
    ran = block.index("**Commands run** (reproduce each check exactly as this sign-off ran it):")
    original = block.index("**Validation** (the original checklist's commands, placeholders as "
                           "written there — not run):")
    assert ran < original
    assert block[original + 1] == "```bash"
    assert block[original + 2:original + 6] == [
        "redis-cli INFO keyspace", "redis-cli CONFIG GET maxmemory-policy",
        "redis-cli CONFIG GET save", "```"]
    run_block = block[ran + 2:block.index("```", ran + 2)]
    assert run_block and all(line.startswith(f"redis-cli -u redis://127.0.0.1:{server.port}/0 ")
                             or line.startswith("grep ") for line in run_block), run_block
    assert not {"redis-cli INFO keyspace"} & set(run_block)
    assert_renders_without_stray_escapes(text)

    sign_off = lines[lines.index("## Sign-Off"):]
    assert "**Version**: v5.7.1  " in sign_off
    assert f"**Date**: {stamp}  " in sign_off
    assert "**Status**: ⚠️ INCOMPLETE  " in sign_off
    assert any(line.startswith("**RECOMMENDATION: DO NOT DEPLOY**") for line in sign_off)


def test_box_is_ticked_only_for_a_measured_pass(run_release, pytester, tmp_path):
    """Gate 6's bundled checks against a real healthy target tick their boxes; a team's own
    checks for Gate 2 (every outcome pytest has) tick none: a custom check never earns an item,
    though its failure still fails the item."""
    suite = prepare(pytester, modules=GITOPS)
    (suite / "test_gate_api.py").write_text(OUTCOMES_GATE)
    target = target_factory(tmp_path)()
    result, signoff = run_release("--release-checklist", "checklist.md", *target.args(),
                                  modules=GITOPS)
    result.assert_outcomes(passed=3 + 6, skipped=1, failed=1, xfailed=1)  # Gate 6: 6 checks
    lines = checklist_lines(pytester)
    assert_boxes_follow_the_model(lines, signoff)
    ticked = [line for line in lines if line.startswith("- [x] ")]
    assert ticked == [item_line(lines, i["text"]) for i in gate(signoff, "gitops")["items"]]
    for text, label in [("Zod schema validation active", "NOT RUN"),
                        ("JWT authentication configured", "NOT RUN"),
                        ("Rate limiting enabled", "NOT RUN"),
                        ("Error handling proper 4xx codes", "NOT RUN"),
                        ("Metrics labeled correctly", "FAILED"),
                        ("Stored records expire within 7 days", "FAILED")]:
        assert item_line(lines, text).startswith(f"- [ ] {text} — **{label}**")
    assert "only custom checks ran" in item_line(lines, "Zod schema validation active")
    api = gate(signoff, "api")
    statuses = {i["id"]: i["status"] for i in api["items"]}
    assert statuses == {"schema": "not_run", "jwt": "not_run", "rate_limit": "not_run",
                        "error_codes": "not_run", "metrics_labels": "failed",
                        "stored_ttl": "failed"}
    # what each check measured is still judged the same way: only a compared value counts
    measured = {c["item_id"]: c["measured"] for c in api["checks"]}
    assert measured == {"schema": True, "jwt": False, "rate_limit": False, "error_codes": False,
                        "metrics_labels": True, "stored_ttl": True}
    # no box of an unrun gate is ticked
    assert all(line.startswith("- [ ] ") for line in lines
               if line.startswith("- [") and line not in ticked)
    assert signoff["verdict"] == "REJECTED"


def _inert(line: str) -> bool:
    """No raw HTML outside code spans (inside a code span CommonMark renders text literally)."""
    outside = re.sub(r"`[^`]*`", "", line)
    return re.search(r"(?<!\\)<", outside) is None


def assert_renders_without_stray_escapes(source):
    """What CommonMark shows of the checklist carries no backslash the data did not have."""
    stray = [c.content for t in MarkdownIt("commonmark").parse(source) for c in (t.children or [])
             if c.type == "text" and "\\" in c.content]
    assert not stray, stray


def test_target_strings_are_escaped_in_html_and_inert_in_markdown(
        redis_server, run_release, pytester, redis_release_args):
    server = redis_server(appendonly="yes")
    client = server.client()
    client.set(XSS_KEY, "{}")  # no TTL: its name becomes an example in the evidence
    client.set("feedback:ok", "{}", ex=60)
    suite = prepare(pytester)
    (suite / "test_gate_api.py").write_text(OUTCOMES_GATE)
    result, signoff = run_release(*redis_release_args(server), "--release-checklist", "checklist.md",
                                  "--html", "report.html", "--self-contained-html")
    ttl = [c for c in gate(signoff, "redis")["checks"] if c["item_id"] == "ttl"][0]
    examples = [m for m in ttl["measurements"] if m["name"].startswith("keys without expiry, examples")]
    assert examples[0]["value"] == [XSS_KEY]  # the JSON keeps the data as it is

    report = (pytester.path / "report.html").read_text()
    for raw in ("<script>alert(1)</script>", "<script>alert(2)</script>", "onerror=alert(3)>"):
        assert raw not in report
    section = report[report.index('<section class="release-signoff"'):]
    section = section[:section.rindex("</section>")]  # gate sections nest inside
    assert html.escape(XSS_KEY) in section
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in section
    # pytest-html's row data is a JSON blob in an attribute, rendered with innerHTML by its JS
    blob = html.unescape(re.search(r'data-jsonblob="([^"]*)"', report).group(1))
    assert "<script>alert(" not in blob and "<img src=x" not in blob

    lines = checklist_lines(pytester)
    prose, fenced = [], False
    for line in lines:  # fenced blocks hold the catalogue's own commands, never target data
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            prose.append(line)
    target_lines = [line for line in prose if "alert(" in line]
    assert len(target_lines) == 3, (
        "the banner's measured value, its failure message and the keys found without TTL")
    for line in prose:
        assert _inert(line), line
    # rendered by a CommonMark parser with raw HTML on: no tag, link or heading from the target
    rendered = MarkdownIt("commonmark").render("\n".join(lines))
    for tag in ("<script", "<img", "<a ", "<code><script"):
        assert tag not in rendered
    tokens = MarkdownIt("commonmark").parse("\n".join(lines))
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [h for h in headings if "alert(" in h]
    spans = [c.content for t in tokens for c in (t.children or []) if c.type == "code_inline"]
    # a backtick in the value cannot end its code span: the whole value is one span
    assert f"server banner = {BANNER} (== redis)" in spans
    assert_renders_without_stray_escapes("\n".join(lines))


def test_terminal_table_and_not_measured_grouped_by_setting(redis_server, run_release, pytester,
                                                            redis_release_args, monkeypatch):
    """One row per gate and stage; each not-measured check listed once, by name, under the
    setting that would measure it; the short CI summary lands in $GITHUB_STEP_SUMMARY."""
    server = redis_server(appendonly="yes")
    server.client().set("feedback:1", "{}", ex=60)
    prepare(pytester, modules=("test_gate_redis.py", "test_gate_observability.py"))
    step_summary = pytester.path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result, signoff = run_release(*redis_release_args(server),
                                  modules=("test_gate_redis.py", "test_gate_observability.py"))
    out = result.outlines
    start = out.index(next(line for line in out if "release sign-off v5.7.1" in line))
    assert out[start + 1].split() == ["gate", "/", "stage", "status", "items", "checks", "failed",
                                      "not", "measured"]
    table = out[start + 2:start + 2 + len(signoff["gates"])]
    for row, g in zip(table, signoff["gates"]):
        unmeasured = sum(1 for c in g["checks"] if not c["measured"]
                         and c["outcome"] in ("skipped", "passed"))
        earned = sum(1 for i in g["items"] if i["status"] in ("passed", "waived", "attested"))
        assert row.split()[-4:] == [f"{earned}/{len(g['items'])}", str(len(g["checks"])),
                                    str(sum(1 for c in g["checks"]
                                            if c["outcome"] in ("failed", "error"))),
                                    str(unmeasured)], (row, g["gate"])
    obs = gate(signoff, "observability")
    missing = [c for c in obs["checks"] if not c["measured"]]
    assert len(missing) >= 5
    head = out.index(next(line for line in out if line.startswith("not measured: ")))
    groups = out[head + 1:out.index(next(line for line in out if line.startswith("verdict: ")))]
    settings = [line.split(" — ")[0].strip() for line in groups if line.startswith("  ") and
                not line.startswith("      ") and line.strip()]
    assert "observability.prometheus_url" in settings
    assert len(settings) == len(set(settings))  # one group per setting
    listed = "\n".join(line for line in groups if line.startswith("      "))
    for c in missing:  # every not-measured check named exactly once, with its test function
        assert c["setting"] is None or c["setting"] in settings, c  # structured in the JSON
        name = f"{c['item']} ({c['nodeid'].rsplit('::', 1)[-1]})"
        assert listed.count(name) == 1, (name, listed)
    alerts = [c for c in missing if c["item"] == "Alerts active"]
    assert {c["setting"] for c in missing} >= {"observability.prometheus_url"}
    assert len(alerts) >= 2 and len({c["nodeid"] for c in alerts}) == len(alerts)
    # the reason text is shown once per group, not once per check
    assert sum(1 for line in out if "observability.prometheus_url is not configured" in line) == 1

    summary = step_summary.read_text()
    assert summary.startswith("earlier step\n")  # appended, not overwritten
    assert f"pytest-release v5.7.1: {signoff['verdict']}" in summary
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "Gate / stage" not in line]
    assert len(rows) == len(signoff["gates"])
    assert "## Pre-Deployment Gates" not in summary  # the short summary, not the checklist
