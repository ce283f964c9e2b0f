#!/usr/bin/env bash
# How long `runsheet list --json` takes on a ~10 MB runbook (every feature of
# the syntax, repeated). Run from anywhere: benches/list-10mb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/bench
mkdir -p "$out"
runbook="$out/list-10mb.md"

if [ ! -s "$runbook" ]; then
  awk -f benches/ten-megabytes.awk > "$runbook"
fi

cargo build --release --quiet --bin runsheet
bin=target/release/runsheet
echo "runbook: $runbook ($(du -h "$runbook" | cut -f1), $(grep -c '^```bash' "$runbook") shell steps)"
"$bin" list --json "$runbook" > "$out/list-10mb.json"
hyperfine --warmup 1 --runs "${RUNS:-10}" \
  --export-markdown "$out/list-10mb.results.md" \
  "$bin list --json $runbook > /dev/null"
