#!/usr/bin/env bash
# stackfix's container-hardening rules next to compose-lint 0.36.2 (PyPI) on the same stacks:
#   bash benches/compose_lint.sh [DIR]      (default: ../shared/corpus)
# compose-lint is installed into a private virtualenv, $COMPOSE_LINT_HOME (default:
# /tmp/stackfix-bench-compose-lint), on first use. For every directory below DIR that holds a
# file compose finds by name, both tools check the stack (compose-lint in that directory, which
# merges the override file as compose does; stackfix on the directory). Each compose-lint
# finding is matched to the stackfix rule that judges the same thing, by file and service.
# Printed: per compose-lint rule, its findings, how many stackfix also reports, and the first
# few it does not; then the stackfix hardening findings compose-lint does not report.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
dir=$(cd "${1:-../shared/corpus}" && pwd)
home=${COMPOSE_LINT_HOME:-/tmp/stackfix-bench-compose-lint}
lint="$home/bin/compose-lint"
if [ ! -x "$lint" ] || [ "$("$lint" --version)" != "compose-lint 0.36.2" ]; then
  python3 -m venv "$home"
  "$home/bin/pip" install --quiet compose-lint==0.36.2
fi
cargo build --release --quiet
export STACKFIX="$repo/target/release/stackfix" COMPOSE_LINT="$lint" STACKS="$dir"
exec python3 - <<'PY'
import json, os, subprocess, collections

stackfix, lint, root = os.environ["STACKFIX"], os.environ["COMPOSE_LINT"], os.environ["STACKS"]
names = {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}
# compose-lint rule -> the stackfix rules that judge the same thing (None: no such rule yet).
MAP = {
    "CL-0001": ["docker-socket-mount", "sensitive-host-mount"], "CL-0002": ["privileged-container"],
    "CL-0003": ["privilege-escalation-allowed"], "CL-0004": ["unpinned-image"], "CL-0005": ["database-port-published"],
    "CL-0006": ["capabilities-not-dropped"], "CL-0007": ["writable-root-filesystem"], "CL-0008": ["host-namespace"], "CL-0009": ["unconfined-security-profile"],
    "CL-0010": ["host-namespace"], "CL-0011": ["dangerous-capability"], "CL-0013": ["sensitive-host-mount"],
    "CL-0014": None, "CL-0016": None, "CL-0017": None, "CL-0018": ["root-user"], "CL-0019": None,
    "CL-0020": ["hardcoded-secret"], "CL-0021": ["hardcoded-secret"], "CL-0022": None,
    "CL-0024": ["dangerous-capability"], "CL-0025": ["sensitive-host-mount"], "CL-0026": ["no-resource-limits"],
    "CL-0027": ["dangerous-capability"], "CL-0028": ["dangerous-capability"], "CL-0029": ["dangerous-capability"],
    "CL-0030": ["dangerous-capability"],
}
HARDENING = {"privileged-container", "dangerous-capability", "unconfined-security-profile", "host-namespace",
             "sensitive-host-mount", "root-user", "docker-socket-mount", "privilege-escalation-allowed",
             "capabilities-not-dropped", "writable-root-filesystem"}
theirs, missed, ours_only, stacks = collections.Counter(), collections.defaultdict(list), [], 0
for here, dirs, files in sorted(os.walk(root)):
    dirs.sort()
    if not names & set(files):
        continue
    stacks += 1
    run = subprocess.run([lint, "--format", "json"], cwd=here, capture_output=True, text=True)
    try:
        cl = json.loads(run.stdout)["findings"]
    except (ValueError, KeyError):
        continue  # compose-lint could not read the stack (exit 2); nothing to compare
    out = subprocess.run([stackfix, "check", ".", "--format", "json", "--select", "all"], cwd=here,
                         capture_output=True, text=True)
    try:
        sf = json.loads(out.stdout)["findings"]
    except ValueError:
        continue
    ours = {(f["rule"], f["service"]) for f in sf}
    matched = set()
    for f in cl:
        rule, service = f["rule_id"], f.get("service")
        theirs[rule] += 1
        rules = MAP.get(rule)
        hit = [r for r in (rules or []) if (r, service) in ours]
        if hit:
            matched.update((r, service) for r in hit)
        else:
            missed[rule].append(f"{os.path.relpath(here, root)}: {service}: {f['message'][:90]}")
    for f in sf:
        if f["rule"] in HARDENING and (f["rule"], f["service"]) not in matched:
            ours_only.append(f"{os.path.relpath(here, root)}: {f['rule']}: {f['message'][:100]}")
print(f"{stacks} stacks under {root}")
print(f"{'compose-lint rule':<12} {'findings':>9} {'also stackfix':>14}  stackfix rule")
for rule in sorted(theirs):
    also = theirs[rule] - len(missed[rule])
    print(f"{rule:<12} {theirs[rule]:>9} {also:>14}  {', '.join(MAP.get(rule) or ['(none yet)'])}")
for rule in sorted(missed):
    if MAP.get(rule):
        print(f"\n{rule}: {len(missed[rule])} not reported by stackfix, e.g.")
        for line in missed[rule][:5]:
            print(f"  {line}")
print(f"\nstackfix hardening findings compose-lint does not report: {len(ours_only)}")
for line in ours_only[:15]:
    print(f"  {line}")
PY
