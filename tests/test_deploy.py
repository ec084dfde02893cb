"""The deployment pieces: Kubernetes manifests valid against the API's schemas, and compose, Prometheus and Grafana
wired to what the service really exposes (its metric names, its probes, its migration command)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.observe import Metrics

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.30"
PROMETHEUS = DEPLOY / "prometheus"


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [(f.name, doc) for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(f.read_text())]


@pytest.mark.parametrize(("name", "doc"), _manifests(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on a wrong or unknown field


def test_a_broken_manifest_is_refused() -> None:
    deployment = dict(_manifests())["deployment.yaml"]
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_deployment_probes_the_services_own_endpoints_and_migrates_in_a_job() -> None:
    docs = {doc["kind"]: doc for _, doc in _manifests()}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    probes = {p: container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes == {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}
    assert docs["Job"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["targeting", "db", "upgrade"]
    assert set(docs["Secret"]["stringData"]) >= {"DATABASE_URL", "TARGETING_SAMPLE_SECRET"}


def test_compose_migrates_once_before_the_service_and_scrapes_it_with_a_key() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "migrate", "service", "prometheus", "grafana"}
    assert services["migrate"]["command"] == ["targeting", "db", "upgrade"]
    assert services["service"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["service"]["environment"]["WORKERS"] == "2" and services["service"]["read_only"] is True
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["service:8000"] and job["metrics_path"] == "/metrics"
    assert job["authorization"]["credentials_file"] == "/run/secrets/scraper_key"
    assert "scraper_key" in services["prometheus"]["secrets"]


def _exposed() -> set[str]:
    """Every series name the service's /metrics can show (counters with _total, histograms with _bucket...)."""
    registry = Metrics().registry
    assert registry is not None  # a single process: the service's own registry
    names = set()
    for family in registry.collect():
        names |= {family.name, f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count"}
    return names


def _queried(expr: str) -> set[str]:
    return set(re.findall(r"\b(targeting_[a-z_]+)", expr))


def test_the_dashboard_and_alerts_query_metrics_the_service_exposes() -> None:
    exposed = _exposed()
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "targeting.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    exprs += [rule["expr"] for rule in alerts]
    used = set().union(*(_queried(e) for e in exprs))
    assert used and used <= exposed, sorted(used - exposed)
    shown = {m for p in dashboard["panels"] for t in p["targets"] for m in _queried(t["expr"])}
    wanted = {"requests_total", "request_seconds_bucket", "decisions_recorded_total", "score_bucket", "drift_psi"}
    assert {f"targeting_{w}" for w in wanted | {"model_version"}} <= shown
    assert {r["alert"] for r in alerts} >= {"TargetingServerErrors", "TargetingDriftFlagged", "TargetingNotReady"}


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("no promtool: `apt-get install prometheus` (make test installs it)")
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True)


def test_prometheus_accepts_the_scrape_config_and_its_rules(tmp_path: Path) -> None:
    """promtool reads the config as Prometheus would, the container's paths (rules, the key's secret) mapped here."""
    config = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in config and "/run/secrets/scraper_key" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/alerts.yml", str(PROMETHEUS / "alerts.yml")).replace(
            "/run/secrets/scraper_key", str(tmp_path / "scraper_key")
        )
    )
    (tmp_path / "scraper_key").write_text("a key\n")
    checked = _promtool("check", "config", tmp_path / "prometheus.yml")
    assert checked.returncode == 0 and "4 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_each_alert_fires_on_its_condition_and_not_under_it() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    fired = {t["alertname"] for case in tests for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert fired == {rule["alert"] for rule in rules}  # every alert has a case where it fires
    tested = _promtool("test", "rules", PROMETHEUS / "alerts.test.yml")
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """No Grafana here: its queries are parsed by promtool, as recording rules of a throwaway file."""
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "targeting.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _promtool("check", "rules", tmp_path / "dashboard.yml")
    assert checked.returncode == 0 and f"{len(exprs)} rules found" in checked.stdout, checked.stdout + checked.stderr
    (tmp_path / "broken.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "b", "rules": [{"record": "b:q", "expr": "sum(rate(x[5m])"}]}]})
    )
    assert _promtool("check", "rules", tmp_path / "broken.yml").returncode != 0
