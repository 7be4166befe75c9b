#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each), seeded from fixtures/ and the
# corpus next to the repository. Not part of CI. Crashes land in fuzz/artifacts/<target>/; copy each
# into fuzz/regressions/ (the regression test replays them) and fix what it finds.
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
shift || true
targets=("${@:-tree patch pipeline anchors}")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for target in ${targets[@]}; do
  seeds=corpus/$target
  mkdir -p "$seeds"
  find ../fixtures ../../shared/corpus -name '*.yml' -o -name '*.yaml' 2>/dev/null | while read -r f; do
    cp "$f" "$seeds/$(echo "$f" | md5sum | cut -c1-16)" 2>/dev/null || true
  done
  # cargo-fuzz needs nightly flags; the machine's stable toolchain accepts them this way.
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$seeds" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048
done
