#!/usr/bin/env bash
# Per-step overhead of `runsheet run`: 1,000 steps of `true` against running
# `bash -c true` 1,000 times (target: within 1.25x), and 1,000 steps that
# change the shell state (`cd .`), which makes runsheet save and reload it.
# Run from anywhere: benches/step-overhead.sh   (RUNS=N to change the runs)
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/bench
mkdir -p "$out"
steps=${STEPS:-1000}

runbook() { # runbook FILE COMMAND
  { printf '# Step overhead\n\n'
    for _ in $(seq "$steps"); do printf '```bash\n%s\n```\n\n' "$2"; done
  } > "$1"
}
runbook "$out/steps-true.md" true
runbook "$out/steps-cd.md" 'cd .'

cargo build --release --quiet --bin runsheet
bin=$PWD/target/release/runsheet
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

hyperfine --warmup 1 --runs "${RUNS:-10}" -N \
  --export-markdown "$out/step-overhead.results.md" \
  --command-name "bash -c true x$steps" \
  "bash -c 'for _ in \$(seq $steps); do bash -c true; done'" \
  --command-name "runsheet run: $steps x true" \
  "$bin run $out/steps-true.md --state-dir $state" \
  --command-name "runsheet run: $steps x cd ." \
  "$bin run $out/steps-cd.md --state-dir $state"
