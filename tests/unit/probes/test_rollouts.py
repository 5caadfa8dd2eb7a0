"""probes.rollouts and probes.custody: pure readers of Argo Rollouts objects, by tables."""
from __future__ import annotations

import copy

import pytest

from pytest_release.demo.gitops import load_examples
from pytest_release.probes.custody import build_chain, digest_in, image_repository, running_containers
from pytest_release.probes.rollouts import (
    Bound,
    condition_guards,
    format_seconds,
    latency_bound_ms,
    parse_condition,
    parse_duration,
    parse_steps,
    pass_bound,
    plan_phases,
    quantile_of,
    query_scale,
    query_time_unit,
    ratio_bound,
    rollout_facts,
    template_facts,
)

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


@pytest.mark.parametrize(("value", "seconds"), [
    ("5m", 300.0), ("300", 300.0), ("300s", 300.0), (300, 300.0), ("1h30m", 5400.0),
    ("0.5h", 1800.0), ("250ms", 0.25), ("10m0s", 600.0), (0, 0.0),
])
def test_durations_are_compared_by_value(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5 minutes", "", "m5", "-5", -1, True, "5d"])
def test_malformed_durations_are_refused(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(("seconds", "text"), [(300, "5m"), (5400, "1h30m"), (30, "30s"),
                                               (None, "indefinite"), (0.5, "0.5s")])
def test_seconds_are_shown_like_argo(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(("expr", "found"), [
    ("result[0] < 0.005", [("result[0]", "<", 0.005)]),
    ("result < 0.005", [("result", "<", 0.005)]),
    ("0.15 > result[0]", [("result[0]", "<", 0.15)]),
    ("len(result) > 0 && result[0] <= 0.15", [("result[0]", "<=", 0.15)]),
    ("all(result, {# > 0})", [("#", ">", 0.0)]),
    ("asFloat(result) >= 1", [("asFloat(result)", ">=", 1.0)]),
    ("result[0] > 0 && result[0] < 5e-3", [("result[0]", ">", 0.0), ("result[0]", "<", 0.005)]),
    ("isNaN(result[0]) || result[0] < 0.005", [("result[0]", "<", 0.005)]),
    ("true", []), ("", []), (None, []),
])
def test_conditions_yield_their_comparisons(expr, found):
    assert [(c.subject, c.op, c.threshold) for c in parse_condition(expr)] == found


def test_guards_that_pass_without_data_are_named():
    assert condition_guards("isNaN(result[0]) || result[0] < 0.005") == ("isNaN(result[0])",)
    assert condition_guards("len(result) == 0 || result[0] < 1") == ("len(result) == 0",)
    assert condition_guards("result[0] < 1") == ()


@pytest.mark.parametrize(("success", "failure", "direction", "bound"), [
    ("result[0] < 0.005", None, None, Bound("<", 0.005)),
    (None, "result[0] >= 0.005", None, Bound("<", 0.005)),
    (None, "result[0] > 0.15", None, Bound("<=", 0.15)),
    ("result[0] > 0 && result[0] < 0.005", None, "upper", Bound("<", 0.005)),
    ("result[0] > 0 && result[0] < 0.005", None, "lower", Bound(">", 0.0)),
    ("result[0] == 1", None, None, Bound("==", 1.0)),
    (None, None, None, None),
])
def test_the_pass_bound_comes_from_success_or_inverted_failure(success, failure, direction, bound):
    assert pass_bound(success, failure, direction) == bound


@pytest.mark.parametrize(("measured", "required", "ok"), [
    (Bound("<", 0.005), Bound("<", 0.005), True),
    (Bound("<", 0.004), Bound("<", 0.005), True),
    (Bound("<=", 0.004), Bound("<", 0.005), True),
    (Bound("<=", 0.005), Bound("<", 0.005), False),   # lets 0.005 itself through
    (Bound("<", 0.05), Bound("<", 0.005), False),
    (Bound(">", 0.005), Bound("<", 0.005), False),
    (Bound(">", 0.0), Bound(">", 0.0), True),
    (Bound(">=", 1.0), Bound(">", 0.0), True),
    (Bound(">=", 0.0), Bound(">", 0.0), False),
    (Bound("==", 1.0), Bound(">", 0.0), False),
])
def test_a_bound_is_at_least_as_strict_only_when_it_passes_nothing_more(measured, required, ok):
    assert measured.at_least_as_strict_as(required) is ok


@pytest.mark.parametrize(("query", "scale"), [
    ("sum(rate(a[1m])) / sum(rate(b[1m]))", 1.0),
    ("sum(rate(a[1m])) / sum(rate(b[1m])) * 100", 100.0),
    ("100 * (sum(rate(a[1m])) / sum(rate(b[1m])))", 100.0),
    ("histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[1m]))) * 1000", 1000.0),
    ("(x) / 1000", 0.001),
    ("rate(a[1m] * 100)", 1.0),  # inside brackets: not the whole result
    (None, 1.0),
])
def test_query_scale_is_the_factor_on_the_whole_result(query, scale):
    assert query_scale(query) == pytest.approx(scale)


def test_query_unit_and_quantile_are_read_from_the_query():
    q = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
    assert (query_time_unit(q), quantile_of(q)) == ("s", 0.95)
    assert query_time_unit("histogram_quantile(0.99, rate(lat_ms_bucket[1m]))") == "ms"
    assert quantile_of("histogram_quantile(0.99, rate(lat_ms_bucket[1m]))") == 0.99
    assert (query_time_unit("up"), quantile_of("up")) == (None, None)


def _template(success: str, query: str, **metric: object) -> dict:
    return {"kind": "AnalysisTemplate", "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"args": [{"name": "limit", "value": "0"}],
                     "metrics": [{"name": "m", "interval": "30s", "successCondition": success,
                                  "provider": {"prometheus": {"query": query}}, **metric}]}}


@pytest.mark.parametrize(("success", "query", "ms"), [
    ("result[0] < 0.15", "histogram_quantile(0.95, rate(x_seconds_bucket[1m]))", 150.0),
    ("result[0] < 150", "histogram_quantile(0.95, rate(x_seconds_bucket[1m])) * 1000", 150.0),
    ("result[0] < 150", "histogram_quantile(0.95, rate(x_milliseconds_bucket[1m]))", 150.0),
    ("result[0] < 0.5", "histogram_quantile(0.95, rate(x_seconds_bucket[1m]))", 500.0),
])
def test_latency_bounds_are_in_milliseconds_whatever_the_query_unit(success, query, ms):
    metric = template_facts(_template(success, query)).metrics[0]
    found = latency_bound_ms(metric)
    assert found is not None and found.op == "<" and found.threshold == pytest.approx(ms)


def test_latency_bound_is_unknown_when_the_unit_cannot_be_told():
    assert latency_bound_ms(template_facts(_template("result[0] < 150", "p95_latency")).metrics[0]) \
        is None


@pytest.mark.parametrize(("success", "query", "ratio"), [
    ("result[0] < 0.005", "sum(rate(e[1m])) / sum(rate(r[1m]))", 0.005),
    ("result[0] < 0.5", "sum(rate(e[1m])) / sum(rate(r[1m])) * 100", 0.005),
])
def test_error_ratio_bounds_divide_out_a_percentage(success, query, ratio):
    found = ratio_bound(template_facts(_template(success, query)).metrics[0])
    assert found is not None and found.threshold == pytest.approx(ratio)


def test_template_fields_resolve_args_rollout_values_over_defaults():
    obj = _template("result[0] < 0.005", 'rate(x{job="{{args.job}}"}[1m])',
                    failureLimit="{{args.limit}}", count="{{args.count}}",
                    consecutiveErrorLimit=2)
    defaults = template_facts(obj).metrics[0]
    assert defaults.failure_limit == 0 and defaults.failures_to_fail == 1
    assert defaults.consecutive_error_limit == 2 and defaults.errors_to_error == 3
    assert set(defaults.unresolved) == {"query (job)", "count (count)"}
    passed = template_facts(obj, {"limit": "1", "count": "4", "job": "svc"}).metrics[0]
    assert (passed.failure_limit, passed.failures_to_fail, passed.count) == (1, 2, 4)
    assert passed.query == 'rate(x{job="svc"}[1m])' and passed.unresolved == ()


def test_argo_defaults_apply_when_limits_are_absent():
    metric = template_facts(_template("result[0] < 1", "q")).metrics[0]
    assert (metric.failure_limit, metric.consecutive_error_limit, metric.count) == (0, 4, None)
    assert metric.interval_s == 30.0 and metric.provider == "prometheus"


def test_a_negative_failure_limit_never_fails():
    metric = template_facts(_template("result[0] < 1", "q", failureLimit=-1)).metrics[0]
    assert metric.failures_to_fail is None


@pytest.mark.parametrize(("template_dry", "rollout_dry", "dry"), [
    ([], (), False), ([{"metricName": "m"}], (), True), ([], ("m",), True),
    ([], ("*",), True), ([], ("m.*",), True), ([], ("other",), False),
])
def test_dry_run_metrics_from_template_or_rollout(template_dry, rollout_dry, dry):
    obj = _template("result[0] < 1", "q")
    obj["spec"]["dryRun"] = template_dry
    assert template_facts(obj, dry_run=rollout_dry).metrics[0].dry_run is dry


def _steps(*raw: dict) -> tuple:
    return parse_steps(list(raw))


def test_phases_follow_set_weight_and_sum_their_pauses():
    steps = _steps({"setWeight": 10}, {"pause": {"duration": "2m"}}, {"pause": {"duration": 180}},
                   {"setWeight": 30}, {"pause": {"duration": "10m"}}, {"setWeight": 100})
    phases = plan_phases(steps)
    assert [(p.weight, p.pause_s, p.implicit) for p in phases] == [
        (10, 300.0, False), (30, 600.0, False), (100, None, False)]
    assert phases[0].label == "steps[0] (setWeight: 10)"


def test_steps_ending_below_100_percent_end_in_an_implicit_full_promotion():
    phases = plan_phases(_steps({"setWeight": 10}, {"pause": {"duration": "5m"}},
                                {"setWeight": 30}, {"pause": {"duration": "10m"}}))
    assert [(p.weight, p.implicit) for p in phases] == [(10, False), (30, False), (100, True)]
    assert phases[-1].label.startswith("after the last step")


def test_an_indefinite_pause_is_not_a_duration():
    phases = plan_phases(_steps({"setWeight": 10}, {"pause": {}}))
    assert phases[0].indefinite and phases[0].pause_s is None
    assert phases[0].pauses[0].label == "steps[1] (pause: {} (indefinite))"


def test_unreadable_steps_are_reported_not_dropped():
    steps = _steps({"setWeight": "ten"}, {"pause": {"duration": "5 minutes"}}, "junk")
    assert [s.problem is not None for s in steps] == [True, True, True]


def test_background_analysis_covers_phases_from_its_starting_step():
    obj = {"kind": "Rollout", "metadata": {"name": "r"}, "spec": {"strategy": {"canary": {
        "analysis": {"templates": [{"templateName": "a"}], "startingStep": 2},
        "steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 30},
                  {"pause": {"duration": "10m"}},
                  {"analysis": {"templates": [{"templateName": "b", "clusterScope": True}]}}]}}}}
    facts = rollout_facts(obj)
    assert [[a.where for a in p.analyses] for p in facts.phases] == [
        [], ["background", "steps[4]"], []]
    assert [(r.name, r.cluster_scope) for r in facts.template_refs] == [("a", False), ("b", True)]


def test_a_blue_green_rollout_has_no_canary_plan():
    facts = rollout_facts({"kind": "Rollout", "metadata": {"name": "r"},
                           "spec": {"strategy": {"blueGreen": {"activeService": "s"}}}})
    assert facts.strategy == "blueGreen" and facts.phases == () and facts.analyses == ()


def test_the_example_rollout_implements_the_deployment_plan():
    objects = load_examples()
    rollout = rollout_facts(next(o for o in objects if o["kind"] == "Rollout"))
    assert [(p.weight, p.pause_s) for p in rollout.phases] == [(10, 300.0), (30, 600.0), (100, None)]
    assert rollout.selector == {"app": "cpt-ajan-backend"}
    assert rollout.containers[0].name == "backend"


# -- custody ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "digest"), [
    (f"docker-pullable://reg.io/app@{D1}", D1), (f"reg.io:5000/team/app@{D1}", D1), (D1, D1),
    (f"reg.io/app:v1@{D1}", D1), ("reg.io/app:v1", None), ("", None), (None, None),
    ("reg.io/app@sha256:short", None),
])
def test_digests_are_read_from_image_references_and_image_ids(text, digest):
    assert digest_in(text) == digest


@pytest.mark.parametrize(("image", "repo"), [
    (f"reg.io:5000/team/app:v1@{D1}", "reg.io:5000/team/app"), ("reg.io/app", "reg.io/app"),
    (f"docker-pullable://reg.io/app@{D1}", "reg.io/app"), ("app:v1", "app"),
])
def test_image_repository_drops_tag_digest_and_scheme(image, repo):
    assert image_repository(image) == repo


def _pod(name: str, image_id: str | None, phase: str = "Running", **labels: str) -> dict:
    status: dict = {"phase": phase}
    if image_id is not None:
        status["containerStatuses"] = [{"name": "backend", "image": "x", "imageID": image_id,
                                        "ready": True}]
    return {"metadata": {"name": name, "labels": labels or {"app": "a"}},
            "spec": {"containers": [{"name": "backend", "image": "x"}, {"name": "sidecar"}]},
            "status": status}


def test_running_containers_are_the_selected_running_pods():
    pods = [_pod("p1", f"reg/app@{D1}"), _pod("p2", None), _pod("p3", f"reg/app@{D2}", "Pending"),
            _pod("p4", f"reg/app@{D2}", app="other")]
    deleting = copy.deepcopy(pods[0])
    deleting["metadata"]["name"] = "p5"
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    found = running_containers([*pods, deleting], {"app": "a"}, "backend")
    assert [(r.pod, r.digest) for r in found] == [("p1", D1), ("p2", None)]
    assert running_containers(pods, {}, "backend") == ()


def test_an_intact_chain_reads_as_one_line():
    chain = build_chain(tag="v5.7.1", tag_commit="98ee13c" + "0" * 33, release_commit="98ee13c",
                        argo_revision="98ee13c" + "0" * 33, template_image=f"reg/app@{D1}",
                        template_digest=D1, running_digests=[D1, D1], signed_digest=D1)
    assert chain.intact
    assert chain.text() == ("tag v5.7.1 → commit 98ee13c00000 == Argo revision 98ee13c00000 → "
                            "template image sha256:aaaaaaaaaaaa… == running sha256:aaaaaaaaaaaa… "
                            "== signed sha256:aaaaaaaaaaaa…")


def test_a_broken_link_is_named_in_the_chain():
    chain = build_chain(tag="v5.7.1", tag_commit="1" * 40, release_commit="98ee13c",
                        argo_revision="1" * 40, template_image=f"reg/app@{D1}",
                        template_digest=D1, running_digests=[D2], signed_digest=D1)
    assert [(k.item, k.ok) for k in chain.links] == [
        ("tag", False), ("synced", True), ("synced", True), ("synced", False), ("synced", False)]
    text = chain.text()
    assert "tag v5.7.1 ≠ commit 111111111111 (release.commit 98ee13c)" in text
    assert "running sha256:bbbbbbbbbbbb… ≠ signed sha256:aaaaaaaaaaaa…" in text


def test_unknown_links_are_shown_as_unknown_not_as_intact():
    chain = build_chain(tag="v5.7.1", tag_commit=None, release_commit=None, argo_revision=None,
                        template_image="reg/app:v5.7.1", template_digest=None, running_digests=[],
                        signed_digest=None)
    assert not chain.intact
    assert "template image reg/app:v5.7.1 (no digest)" in chain.text()
    assert " ? " in chain.text()


def test_analysed_templates_apply_each_analysis_args_and_name_missing_templates():
    from pytest_release.probes.rollouts import TemplateRef, analysed_templates

    objects = load_examples()
    rollout = rollout_facts(next(o for o in objects if o["kind"] == "Rollout"))
    by_ref = {TemplateRef(o["metadata"]["name"]): o for o in objects
              if o["kind"] == "AnalysisTemplate" and o["metadata"]["name"] != "redis-health"}
    used = analysed_templates(rollout.analyses, by_ref)
    assert [(u.analysis.where, u.ref.name, u.facts is not None) for u in used] == [
        ("background", "feedback-error-rate", True), ("background", "feedback-latency", True),
        ("steps[4]", "feedback-error-rate", True), ("steps[4]", "feedback-latency", True),
        ("steps[4]", "redis-health", False)]
    assert [u.live_metrics[0].failure_limit for u in used[:4]] == [0, 0, 1, 1]
    assert used[4].live_metrics == ()
