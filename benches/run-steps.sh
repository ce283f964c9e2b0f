#!/usr/bin/env bash
# Overhead per step: 1,000 steps of `true` through `runsheet run`, against a
# shell loop starting `bash -c true` 1,000 times. Aim: at most 1.25x.
#
#   cargo build --release && benches/run-steps.sh [path/to/runsheet]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runsheet=${1:-$here/target/release/runsheet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
  echo "# A thousand steps"
  for i in $(seq 1000); do
    printf '\n```sh\ntrue\n```\n'
  done
} > "$work/steps.md"
printf 'for i in $(seq 1000); do bash -c true; done\n' > "$work/baseline.sh"

cd "$work"
hyperfine --warmup 1 --runs 5 --export-markdown "$work/result.md" \
  -n runsheet "RUNSHEET_STATE_DIR=$work/state $runsheet run --color never steps.md > /dev/null" \
  -n 'bash -c true x1000' "bash baseline.sh"
cat "$work/result.md"
