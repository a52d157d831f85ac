"""Checks the monitoring component offline (make k8s-check):

- the alert rules (prometheusrule.yaml) pass `promtool check rules` and
  their unit tests (alerts.test.yaml, `promtool test rules`);
- every query of the Grafana dashboard (dashboard.json) parses as PromQL
  (`promtool check rules` on them as recording rules);
- every metric the rules and the dashboard name is one the services emit
  (named in shared/platform/src), so a renamed metric fails here, not on a
  quiet dashboard.

    check.py OUT_DIR
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[3]
# What metrics-process (the process collector) reports.
PROCESS = {
    "process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
    "process_threads",
}
# Prometheus's own series for every target.
BUILT_IN = {"up"}
NAME = re.compile(r"\b((?:bss|process)_[a-z_]+|up)\b(?!\s*[(:])")
# The names the metrics had before they took the bss_ prefix: a rule or a
# panel still naming one would watch nothing.
LEGACY = re.compile(r"\b(?<!bss_)((?:grpc_server|db_pool|outbox|consumer|tenant_calls)_[a-z_]+)\b")


def emitted() -> set[str]:
    """The metric names the services' code writes."""
    names = set(PROCESS) | BUILT_IN
    for source in (ROOT / "shared" / "platform" / "src").glob("*.rs"):
        for name in re.findall(r'"(bss_[a-z_]+)"', source.read_text()):
            names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def unknown_names(expressions: list[str], known: set[str]) -> set[str]:
    found = set()
    for expression in expressions:
        # Label values and strings are not metric names.
        bare = re.sub(r'"[^"]*"', '""', expression)
        found |= {name for name in NAME.findall(bare)}
        found |= set(LEGACY.findall(bare))
    return found - known


def promtool(*args: str) -> None:
    completed = subprocess.run(["promtool", *args], capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"promtool {' '.join(args)} failed:\n{completed.stdout}{completed.stderr}")


def main(out: pathlib.Path) -> None:
    if shutil.which("promtool") is None:
        sys.exit("promtool is missing: deploy/local/deps.sh --lint installs it (Debian's prometheus package)")
    out.mkdir(parents=True, exist_ok=True)
    rule = yaml.safe_load((HERE / "prometheusrule.yaml").read_text())
    rules = out / "alerts.rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(HERE / "alerts.test.yaml", out / "alerts.test.yaml")

    dashboard = json.loads((HERE / "dashboard.json").read_text())
    queries = [
        (panel["id"], target["refId"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    if not queries:
        sys.exit("the dashboard has no queries")
    recorded = [
        {
            "record": f"dashboard:panel_{panel}_{ref}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$server", ".*"),
        }
        for panel, ref, expr in queries
    ]
    dashboard_rules = out / "dashboard.rules.yaml"
    dashboard_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))

    known = emitted()
    alert_expressions = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    unknown = unknown_names(alert_expressions + [expr for _, _, expr in queries], known)
    if unknown:
        sys.exit(f"metrics the services do not emit: {sorted(unknown)}")
    # The check itself: a misspelt metric must be caught.
    for bad in ['rate(bss_grpc_server_handeld_total{grpc_code="OK"}[5m])', "rate(grpc_server_handled_total[5m])"]:
        if not unknown_names([bad], known):
            sys.exit(f"{bad} passed the name check; the check is broken")

    promtool("check", "rules", str(rules))
    promtool("check", "rules", str(dashboard_rules))
    promtool("test", "rules", str(out / "alerts.test.yaml"))
    print(
        f"monitoring: {len(alert_expressions)} alert rules checked and unit-tested, "
        f"{len(queries)} dashboard queries parse, every metric named is emitted"
    )


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
