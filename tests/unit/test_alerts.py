"""The alerting rules (deploy/prometheus/imgflow-alerts.yml, and the same groups as a
PrometheusRule in deploy/kubernetes/components/monitoring) and the Grafana dashboard
(deploy/grafana): every expression parses as PromQL (promql-parser; `promtool` is not
installable from the registries this project uses) and names only series imgflow
exports, with their real label names and values, taken from the metrics registry every
process serves at /metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from imgflow.domain import JobStatus, QueueName
from imgflow.errors import ErrorCode
from imgflow.metrics import Metrics
from tests.kustomize import load
from tests.unit.test_kubernetes import crd_schema

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "imgflow-alerts.yml"
PROMETHEUS_RULE = (
    ROOT / "deploy" / "kubernetes" / "components" / "monitoring" / "prometheus-rule.yaml"
)
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "imgflow-dashboard.json").read_text())
TARGET_LABELS = {"job", "instance"}
"""Added by Prometheus to every scraped series."""
LABEL_VALUES = {
    "queue": {q.value for q in QueueName},
    "status": {s.value for s in JobStatus},
    "code": {c.value for c in ErrorCode},
}
SEVERITIES = {"warning", "critical"}
ISSUE_ALERTS = {
    "imgflow_queue_depth",  # queue depth per queue
    "imgflow_queue_oldest_age_seconds",  # oldest job's age per queue
    "imgflow_job_failures_total",  # dead-letter growth, failure rate by code
    "imgflow_jobs_finished_total",
    "imgflow_worker_slots",  # workers down
    "imgflow_notifications_pending",  # notification backlog
}


def exported_series() -> dict[str, set[str]]:
    """Every series name a process's /metrics can carry, with its label names."""
    metrics = Metrics()
    series: dict[str, set[str]] = {}
    for family in metrics.registry.collect():  # the library's collectors: process_*, python_*
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        name, labels, kind = metric._name, set(metric._labelnames), metric._type
        if kind == "counter":
            series[f"{name}_total"] = labels
        elif kind == "histogram":
            series |= {f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels}
            series[f"{name}_count"] = labels
        else:
            series[name] = labels
    return series


SERIES = exported_series()


def nodes(expr: str) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(promql_parser.parse(expr), lambda node: found.append(node) or True)
    return found


def selectors(expr: str) -> Iterator[Any]:
    for node in nodes(expr):
        if isinstance(node, promql_parser.VectorSelector):
            yield node


def check_expression(expr: str) -> set[str]:
    """Parses `expr`, checks its series, labels and label values; returns its series."""
    used = {selector.name for selector in selectors(expr)}
    unknown = used - set(SERIES)
    assert not unknown, f"{expr}: not exported: {unknown}"
    labels = set().union(*(SERIES[name] for name in used)) | TARGET_LABELS
    for selector in selectors(expr):
        for matcher in selector.matchers.matchers:
            assert matcher.name in SERIES[selector.name] | TARGET_LABELS, (expr, matcher.name)
            if matcher.name in LABEL_VALUES and "Equal" in str(matcher.op):
                assert matcher.value in LABEL_VALUES[matcher.name], (expr, matcher.value)
    for node in nodes(expr):
        grouped: list[str] = []
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            grouped = list(node.modifier.labels)
        if isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            grouped = list(matching.labels) if matching is not None else []
        assert set(grouped) <= labels, (expr, grouped)
    return used


def rule_groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return groups


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups(RULES_FILE) for rule in group["rules"]]


def test_the_prometheus_rule_carries_the_same_groups_as_the_rules_file() -> None:
    (resource,) = load(PROMETHEUS_RULE)
    assert resource["spec"]["groups"] == rule_groups(RULES_FILE)
    schema = crd_schema(ROOT / "tests" / "schemas" / "monitoring.coreos.com_prometheusrules.yaml")
    jsonschema.validate(resource, schema)


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_rule_parses_and_watches_exported_series(rule: dict[str, Any]) -> None:
    check_expression(rule["expr"])
    if "for" in rule:
        promql_parser.parse_duration(rule["for"])
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    # An annotation names labels the alert carries.
    used = {s.name for s in selectors(rule["expr"])}
    carried = set().union(*(SERIES[name] for name in used))
    for text in rule["annotations"].values():
        assert set(re.findall(r"\$labels\.(\w+)", text)) <= carried, text


def test_the_rules_cover_what_operators_asked_for() -> None:
    names = [rule["alert"] for rule in alerting_rules()]
    assert len(names) == len(set(names))
    watched = set().union(*(check_expression(rule["expr"]) for rule in alerting_rules()))
    assert watched >= ISSUE_ALERTS


def test_the_checks_refuse_a_wrong_metric_label_or_value() -> None:
    with pytest.raises(AssertionError, match="not exported"):
        check_expression("max by (queue) (imgflow_queue_lenght)")
    with pytest.raises(AssertionError):
        check_expression('sum(imgflow_job_failures_total{code="NO_SUCH_CODE"})')
    with pytest.raises(AssertionError):
        check_expression("sum by (kind) (imgflow_worker_slots)")
    with pytest.raises(ValueError, match="parenthesis"):
        check_expression("sum(rate(imgflow_jobs_finished_total[5m])")


def dashboard_targets() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            yield panel, target


def test_the_dashboard_queries_parse_and_use_exported_series() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    (variable,) = DASHBOARD["templating"]["list"]
    shown: set[str] = set()
    for panel, target in dashboard_targets():
        shown |= check_expression(target["expr"])
        # Every query goes to the Prometheus the user picks when importing.
        assert (
            target["datasource"]["uid"] == panel["datasource"]["uid"] == f"${{{variable['name']}}}"
        )
    # Every imgflow metric has a panel: a new metric without one fails here.
    families = {
        re.sub(r"_(bucket|sum|count)$", "", name) for name in SERIES if name.startswith("imgflow_")
    }
    drawn = {re.sub(r"_(bucket|sum|count)$", "", name) for name in shown}
    assert families <= drawn, families - drawn
