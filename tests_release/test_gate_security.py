"""Gate 4: Security — Trivy, Cosign, Kyverno, OPA and RBAC as measured checks."""
from __future__ import annotations

import shlex

import pytest

from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.cluster import kubectl_get
from pytest_release.probes.kyverno import find_policies, report_results
from pytest_release.probes.rbac import (
    ACCESS_QUESTIONS,
    RECORDED_ONLY,
    access_review_allowed,
    access_review_spec,
    effective_grants,
    findings,
    parse_account,
    parse_exception,
)
from pytest_release.probes.trivy import parse_config_report, parse_report
from pytest_release.settings import duration_seconds

pytestmark = pytest.mark.gate_security


@pytest.mark.release_item("trivy")
def test_trivy_reports_no_critical_findings(trivy_output, trivy_ignores, release_image,
                                            release_registry, release_settings, evidence,
                                            security_now):
    sec = release_settings.security
    out = trivy_output
    evidence.set_source(out.source, out.path if out.source == "report" else out.command)
    evidence.reproduce(f"trivy image --format json --severity CRITICAL,HIGH "
                       f"{shlex.quote(str(release_image))}")
    if out.source == "run" and out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        evidence.not_measured(f"trivy exited {out.returncode}: {last[:300]}")
    report = parse_report(out.text, where=out.path or "trivy output")
    evidence.record("artifact", report.artifact_name)
    evidence.record("artifact digests", list(report.digests()))

    # The report must be about the release image: by digest, never by a tag alone.
    wanted = release_image.digest
    if wanted is None:
        try:
            wanted = release_registry.resolve(release_image)
        except ProbeUnavailable as exc:
            evidence.not_measured(f"cannot tell which digest {release_image} is, so cannot "
                                  f"match the report to it: {exc}")
    evidence.check(f"release image digest ({release_image}) in the report's digests",
                   wanted, "in", list(report.digests()), soft=True)

    if out.source == "report":
        created = report.created_at.timestamp() if report.created_at else out.mtime
        age = max(0.0, security_now.timestamp() - float(created or 0))
        evidence.check("report age", round(age), "<=", int(duration_seconds(sec.trivy_max_age)),
                       unit="s", soft=True)
    if report.results == 0:
        evidence.not_measured(f"the trivy report of {report.artifact_name or 'the image'} has no "
                              "results: it scanned nothing")

    report = report.apply_ignores(trivy_ignores, security_now.date())
    for finding in report.ignored():
        evidence.record(f"ignored {finding.id}", f"{finding.describe()}; {finding.ignore}")
    for finding in report.expired_ignores():
        evidence.record(f"ignore expired, counted {finding.id}", finding.ignore)
    for severity in ("CRITICAL", "HIGH"):
        listed = [f.describe() for f in report.counted() if f.severity == severity]
        if listed:
            evidence.record(f"{severity} findings", listed)
    evidence.record("findings by severity", {s: report.count(s) for s in
                                             ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")})
    evidence.check("CRITICAL findings (vulnerabilities + misconfigurations)",
                   report.count("CRITICAL"), "<=", sec.max_critical, soft=True)
    evidence.check("HIGH findings", report.count("HIGH"), "<=", sec.max_high, soft=True)


@pytest.mark.release_item("cosign")
def test_cosign_signature_verifies_for_release_digest(cosign_verification, release_image,
                                                      release_registry, evidence):
    facts = cosign_verification
    evidence.set_source("live", f"registry {release_registry.base_url}")
    evidence.record("keys", list(facts.keys))
    for note in facts.notes:
        evidence.record("note", note)
    evidence.check("image digest in the registry", facts.digest is not None, "==", True)
    pinned = release_image.with_digest(facts.digest or "sha256:<digest>")
    keys = " ".join(f"--key {shlex.quote(k)}" for k in facts.keys[:1])
    evidence.reproduce(f"cosign verify {keys} {shlex.quote(pinned)}")
    evidence.record("image digest", facts.digest)
    evidence.record("signature tag", facts.signature_tag)
    for index, sig in enumerate(facts.signatures):
        evidence.record(f"signature {index + 1}", {
            "key": sig.verified_key, "signed digest": sig.signed_digest,
            "identity": sig.identity, "problem": sig.problem})
    verified = facts.verified
    if verified:
        evidence.record("verified with key", verified[0].verified_key)
        evidence.record("identity", verified[0].identity)
    evidence.check("signed docker-manifest-digest(s)", list(facts.signed_digests), "==",
                   [facts.digest], soft=True)
    evidence.check("signatures valid for the image digest", len(verified), ">=", 1)


@pytest.mark.release_item("kyverno")
def test_kyverno_policies_are_ready_and_passing(cluster, release_settings, evidence):
    sec = release_settings.security
    evidence.set_source(cluster.source, cluster.description)
    evidence.reproduce(
        f"{kubectl_get('clusterpolicies', output='wide')}; "
        f"{kubectl_get('validatingpolicies', output='wide')}; "
        f"{kubectl_get('policyreports', namespace=sec.namespace, output='yaml')}")
    wanted = list(sec.kyverno_policies or ())
    if not wanted:
        wanted = [f"{o['kind']}/{o['metadata']['name']}" for plural in
                  ("clusterpolicies", "validatingpolicies") for o in cluster.list(plural)]
        wanted += [f"Policy/{o['metadata']['name']}" for o in
                   cluster.list("policies", sec.namespace)]
        evidence.record("required policies", "every policy found (security.kyverno_policies unset)")
    evidence.check("Kyverno policies found", len(wanted), ">=", 1, soft=True)
    for state in find_policies(cluster, wanted, sec.namespace):
        if not state.found:
            evidence.check(f"policy {state.wanted}", "not found", "==", "ready", soft=True)
            continue
        evidence.check(f"{state.kind} {state.name} ready", state.ready, "==", True, soft=True)
        if state.ready is not True:
            evidence.record(f"{state.kind} {state.name} status", state.reason)
    summary = report_results(cluster, sec.namespace)
    evidence.record("policy reports", list(summary.reports))
    if not summary.reports:
        evidence.not_measured(f"no PolicyReport for namespace {sec.namespace}: Kyverno has not "
                              "reported on the release (is its reports controller running?)")
    for kind in ("pass", "warn", "skip"):
        evidence.record(f"results {kind}", summary.counts[kind])
    for result in summary.with_result("warn"):
        evidence.record("warning", result.describe())
    failing = [r.describe() for r in summary.with_result("fail")]
    errors = [r.describe() for r in summary.with_result("error")]
    if failing:
        evidence.record("failing results (policy/rule on resource)", failing)
    if errors:
        evidence.record("error results (policy/rule on resource)", errors)
    evidence.check("results fail", summary.counts["fail"], "==", 0, soft=True)
    evidence.check("results error", summary.counts["error"], "==", 0, soft=True)


@pytest.mark.release_item("opa")
def test_opa_decisions_match_the_authorization_table(opa_client, opa_cases, release_settings,
                                                     evidence):
    path = release_settings.security.opa_path
    evidence.set_source("live", f"OPA {opa_client.base_url}/v1/data/{path}")
    if not opa_cases:
        evidence.not_measured("security.opa_cases is empty: no decision to check")
    evidence.reproduce(opa_client.curl(path, opa_cases[0].input))
    for case in opa_cases:
        decision = opa_client.decide(path, case.input)
        measured = ("allow" if decision.allowed else
                    "deny" if decision.defined else "undefined (deny)")
        expected = ["allow"] if case.expect == "allow" else ["deny", "undefined (deny)"]
        evidence.check(f"{case.name}", measured, "in", expected, soft=True)
        if decision.defined and not isinstance(decision.result, bool):
            evidence.record(f"{case.name} result", decision.shown)


@pytest.mark.release_item("rbac")
def test_rbac_grants_least_privilege(cluster, release_settings, evidence, trivy_config_output):
    sec = release_settings.security
    evidence.set_source(cluster.source, cluster.description)
    if sec.service_accounts:
        accounts = [parse_account(a, sec.namespace) for a in sec.service_accounts]
    else:
        accounts = [parse_account(o["metadata"]["name"], sec.namespace)
                    for o in cluster.list("serviceaccounts", sec.namespace)
                    if o["metadata"]["name"] != "default"]
    if not accounts:
        evidence.not_measured(f"no service account of the release in namespace {sec.namespace} "
                              "(set security.service_accounts)")
    first = accounts[0]
    evidence.reproduce(f"kubectl auth can-i --list --as {first.username} -n {first.namespace}")
    evidence.record("service accounts", [str(a) for a in accounts])
    for sa in accounts:
        exists = cluster.get("serviceaccounts", sa.name, sa.namespace) is not None
        evidence.check(f"ServiceAccount {sa} exists", exists, "==", True, soft=True)
    grants = effective_grants(cluster, accounts)
    for sa in accounts:
        evidence.record(f"permissions of {sa}", [f"{g.rule_text()} via {g.via}"
                                                 for g in grants if g.sa == sa] or ["(none)"])
    exceptions = [parse_exception(e, sec.namespace) for e in sec.rbac_allowed_exceptions or ()]

    def allowed(sa, finding_id):
        return any((who is None or who == sa) and fid == finding_id for who, fid in exceptions)

    violations, excused = [], []
    for finding in findings(grants):
        if finding.id in RECORDED_ONLY:
            evidence.record(f"{finding.id} (limited by resourceNames)", finding.describe())
        elif allowed(finding.sa, finding.id):
            excused.append(finding.describe())
        else:
            violations.append(finding)
    if excused:
        evidence.record("allowed exceptions (security.rbac_allowed_exceptions)", excused)
    if violations:
        evidence.record("violations", [v.describe() for v in violations])
    evidence.check("least-privilege violations", sorted({f"{v.sa}:{v.id}" for v in violations}),
                   "==", [], soft=True)

    review = getattr(cluster, "review", None)
    if cluster.source == "live" and callable(review):
        live = []
        for sa in accounts:
            for fid, verb, group, resource in ACCESS_QUESTIONS:
                answer = review("subjectaccessreviews", access_review_spec(sa, verb, group, resource))
                if access_review_allowed(answer) and not allowed(sa, fid):
                    live.append(f"{sa}:{fid} ({verb} {resource})")
        evidence.check("SubjectAccessReview: forbidden access the API allows", live, "==", [],
                       soft=True)

    if trivy_config_output is not None:
        if trivy_config_output.returncode != 0:
            evidence.record("trivy config", f"exited {trivy_config_output.returncode}")
        else:
            config = parse_config_report(trivy_config_output.text, where="trivy config")
            evidence.record("trivy config findings (release manifests)",
                            [f"{f.id} {f.severity} {f.title} in {f.target}" for f in config.findings]
                            or ["(none)"])
            serious = [f"{f.id} {f.title} in {f.target}" for f in config.findings
                       if f.severity in ("CRITICAL", "HIGH")]
            evidence.check("trivy config CRITICAL/HIGH findings (second opinion)", serious, "==",
                           [], soft=True)
