"""The operators' alerts and dashboard in deploy/: valid, tested, and about metrics that exist.

promtool (Debian/Ubuntu package ``prometheus``) checks the rules and runs their unit tests in
deploy/prometheus/alerts_test.yml. Without promtool these tests skip locally, but fail when
``CI`` is set: .ci/run installs it, so a skip there would hide an unchecked rule file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from shared.kit.observability import metrics
from tests.test_compose import _services as compose_services

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "carenet.json"
INSTALL_HINT = "apt-get install --no-install-recommends prometheus (Debian/Ubuntu)"

# What the issue asks operators to be alerted on: each must appear in some alert expression.
MUST_ALERT_ON = {
    "carenet_dead_letters_total",
    "carenet_consumer_pending",
    "carenet_outbox_oldest_age_seconds",
    "carenet_outbox_parked",
    "carenet_outbox_relay_retrying",
    "carenet_consumer_running",
    "carenet_ready",
}
METRIC_NAME = re.compile(r"\bcarenet_[a-z_]+")


def find_promtool() -> str:
    """The promtool executable; skips the test without one, or fails it when ``CI`` is set."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"promtool is not on PATH in CI; .ci/run installs it: {INSTALL_HINT}")
    pytest.skip(f"promtool is not installed, so the alerting rules are unchecked: {INSTALL_HINT}")


@pytest.fixture
def promtool() -> str:
    return find_promtool()


def run_promtool(promtool: str, *args: str) -> str:
    result = subprocess.run(
        [promtool, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def alert_blocks() -> dict[str, str]:
    """Each alerting rule's YAML text, by alert name (the file's layout is one rule per block)."""
    text = RULES.read_text()
    parts = re.split(r"^\s+- alert: ", text, flags=re.MULTILINE)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def alert_expressions() -> list[str]:
    """The PromQL of every alerting rule (single-line or a ``|`` block)."""
    expressions = []
    for block in alert_blocks().values():
        match = re.search(r"^\s+expr: (?:\|\n((?:\s{10,}.*\n)+)|(.*)$)", block, re.MULTILINE)
        assert match, block
        expressions.append(match.group(1) or match.group(2))
    return expressions


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside


def dashboard_expressions() -> list[str]:
    return [
        target["expr"]
        for panel in dashboard_panels()
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def exposition_names() -> set[str]:
    """Every series name the metrics in shared/kit/observability/metrics.py put on /metrics."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.collect():
                names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_without_promtool_ci_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="promtool"):
        find_promtool()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        find_promtool()


def test_promtool_accepts_the_rules_and_the_prometheus_config_loads_them(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_blocks())} rules found" in output, output

    # check config follows rule_files, relative to prometheus.yml as in the container.
    output = run_promtool(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "SUCCESS: 1 rule files found" in output, output


def test_each_alert_fires_when_it_should_and_not_before_its_for(promtool: str) -> None:
    output = run_promtool(promtool, "test", "rules", str(RULE_TESTS))
    assert "SUCCESS" in output, output


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    tests = RULE_TESTS.read_text()
    silent = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts: \[\]", tests))
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:", tests))
    alerts = set(alert_blocks())
    assert alerts - silent == set(), "alerts without a 'does not fire yet' case"
    assert alerts - firing == set(), "alerts without a 'fires' case"


def test_every_alert_says_how_long_how_bad_and_what_to_do() -> None:
    for name, block in alert_blocks().items():
        assert re.search(r"^\s+for: \d+[smh]$", block, re.MULTILINE), name
        assert re.search(r"^\s+severity: (warning|critical)$", block, re.MULTILINE), name
        assert re.search(r"^\s+summary: ", block, re.MULTILINE), name
        description = re.search(r"^\s+description: >-\n((?:\s{12,}.*\n?)+)", block, re.MULTILINE)
        assert description, name
        # An operator needs somewhere to look: a command, an endpoint, a stream or a log line.
        assert re.search(r"`[^`]+`|/readyz|DLQ|log", description.group(1)), name


def test_every_metric_in_the_alerts_and_the_dashboard_is_one_carenet_exposes() -> None:
    exposed = exposition_names()
    assert "carenet_messages_total" in exposed and "carenet_ready" in exposed, exposed

    in_alerts = {name for expr in alert_expressions() for name in METRIC_NAME.findall(expr)}
    assert MUST_ALERT_ON <= in_alerts, MUST_ALERT_ON - in_alerts
    # Annotations name metrics too (for the operator to look up): those must exist as well.
    in_rule_file = set(METRIC_NAME.findall(RULES.read_text()))
    assert in_rule_file - exposed == set(), "alerts.yml names metrics carenet does not expose"

    in_dashboard = {name for expr in dashboard_expressions() for name in METRIC_NAME.findall(expr)}
    assert in_dashboard - exposed == set(), "the dashboard queries metrics carenet does not expose"
    # The dashboard shows every series carenet's kit exposes (the _created ones aside).
    shown = {name for name in exposed if not name.endswith(("_created", "_sum", "_count"))}
    assert shown - in_dashboard == set(), "series the dashboard does not show"


def test_dashboard_panels_each_have_a_data_source_and_a_query() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}

    panels = [panel for panel in dashboard_panels() if panel["type"] != "row"]
    assert len(panels) >= 10
    ids = [panel["id"] for panel in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target["datasource"] == panel["datasource"], title
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), title


def test_dashboard_queries_are_promql_prometheus_accepts(promtool: str, tmp_path: Path) -> None:
    # promtool parses PromQL in rule files only: each query becomes a recording rule.
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for number, expr in enumerate(dashboard_expressions()):
        concrete = expr.replace("$__rate_interval", "1m").replace("$service", ".*")
        assert "$" not in concrete, expr
        rules += [
            f"      - record: dashboard_query_{number}",
            f"        expr: {json.dumps(concrete)}",
        ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text("\n".join(rules) + "\n")
    run_promtool(promtool, "check", "rules", str(path))


def test_compose_loads_the_rules_and_provisions_grafana_with_the_dashboard() -> None:
    services = compose_services()

    prometheus_volumes = {v["target"]: v for v in services["prometheus"]["volumes"]}
    rules_mount = prometheus_volumes["/etc/prometheus/alerts.yml"]
    assert Path(rules_mount["source"]) == RULES and rules_mount["read_only"], rules_mount
    assert re.search(
        r"^rule_files:\n\s+- alerts.yml$", (PROMETHEUS / "prometheus.yml").read_text(), re.MULTILINE
    )

    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:"), grafana["image"]
    assert [(str(p["published"]), p["target"]) for p in grafana["ports"]] == [("3000", 3000)]
    assert "prometheus" in grafana["depends_on"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD"], "the admin password comes from the environment"

    volumes = {v["target"]: v for v in grafana["volumes"]}
    provisioning = volumes["/etc/grafana/provisioning"]
    assert Path(provisioning["source"]) == GRAFANA / "provisioning" and provisioning["read_only"]
    # The provider reads the folder the dashboards are mounted at; the home dashboard is in it.
    provider = (GRAFANA / "provisioning" / "dashboards" / "carenet.yml").read_text()
    match = re.search(r"^\s+path: (\S+)$", provider, re.MULTILINE)
    assert match, provider
    dashboards = volumes[match.group(1)]
    assert Path(dashboards["source"]) == DASHBOARD.parent and dashboards["read_only"]
    home = Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.parent == Path(match.group(1)) and (DASHBOARD.parent / home.name).is_file()

    # The data source is the compose Prometheus, under the uid the dashboard defaults to.
    source = (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert re.search(r"^\s+url: http://prometheus:9090$", source, re.MULTILINE), source
    assert re.search(r"^\s+uid: prometheus$", source, re.MULTILINE), source
    assert "9090" in {str(p["target"]) for p in services["prometheus"]["ports"]}
