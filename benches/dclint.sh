#!/usr/bin/env bash
# stackfix against dclint 3.1.0 (npm) on the same compose files, each in one process:
#   bash benches/dclint.sh [DIR]        (default: ../shared/corpus)
# dclint is installed into $DCLINT_HOME (default: /tmp/stackfix-bench-dclint) on first use.
# dclint finds the files (`dclint -r --debug`), and both tools are given that list by name. stackfix is the release build (built if
# missing). Each tool runs 3 times; the best wall time counts. The target is stackfix at least
# 100 times faster.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
dir=$(cd "${1:-../shared/corpus}" && pwd)
home=${DCLINT_HOME:-/tmp/stackfix-bench-dclint}
dclint="$home/node_modules/.bin/dclint"
if [ ! -x "$dclint" ] || [ "$("$dclint" --version)" != "3.1.0" ]; then
  mkdir -p "$home"
  npm install --silent --no-audit --no-fund --prefix "$home" dclint@3.1.0 >/dev/null
fi
cargo build --release --quiet
stackfix="$repo/target/release/stackfix"

cd "$dir"
mapfile -t files < <("$dclint" -r . --debug 2>&1 | sed -n 's/^\[DEBUG\] \[LINTER\] Linting file: //p' | sort -u)
echo "files: ${#files[@]} compose files dclint finds under $dir, given to both tools by name"
# dclint 3.1.0 lints every file, then may crash while logging its results (JSON.stringify of a
# YAML merge it cannot convert); its time still covers the linting, only its report is lost.
if "$dclint" "${files[@]}" 2>&1 | grep -q '^    at '; then
  echo "note: dclint crashed after linting (no report printed); its time covers the linting"
fi

best() {
  local best_ms=""
  for _ in 1 2 3; do
    local start end ms
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    if [ -z "$best_ms" ] || [ "$ms" -lt "$best_ms" ]; then best_ms=$ms; fi
  done
  echo "$best_ms"
}
dclint_ms=$(best "$dclint" "${files[@]}")
stackfix_ms=$(best "$stackfix" check --quiet --color never "${files[@]}")
echo "dclint 3.1.0 : ${dclint_ms} ms"
echo "stackfix     : ${stackfix_ms} ms"
awk -v d="$dclint_ms" -v s="$stackfix_ms" 'BEGIN {
  if (s < 1) s = 1
  r = d / s
  printf "stackfix is %.0fx faster (%s the 100x target)\n", r, (r >= 100 ? "within" : "NOT within")
}'
