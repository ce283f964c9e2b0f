#!/usr/bin/env bash
# Benchmarks of `runsheet check` (run with hyperfine; build first with
# `cargo build --release`). Three cases:
#   steps   - one runbook of 200 small steps, each with an exact output block
#   output  - one step printing 20,000 lines, matched through `...` and `[..]`
#   drift   - the same output with one changed line: the alignment and diff path
#   jobs    - 8 runbooks of 10 sleeping steps, --jobs 1 against --jobs 4
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${RUNSHEET:-$PWD/target/release/runsheet}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

{
  echo "# Steps"
  for i in $(seq 1 200); do
    printf '\n```sh\necho "step %d at $(date +%%s)"\n```\n\n```output\nstep %d at [..]\n```\n' "$i" "$i"
  done
} > "$WORK/steps.md"

big_runbook() {
  local last="$1"
  printf '# Output\n\n```sh\nseq 1 20000 | sed "s/^/line /"\n```\n\n```output\nline 1\nline [..]\n...\nline 19999\n%s\n```\n' "$last"
}
big_runbook "line 20000" > "$WORK/output.md"
big_runbook "line 20001" > "$WORK/drift.md"

mkdir -p "$WORK/many"
for r in $(seq 1 8); do
  {
    echo "# Runbook $r"
    for i in $(seq 1 10); do printf '\n```sh\nsleep 0.05\n```\n' ; done
  } > "$WORK/many/r$r.md"
done

cd "$WORK"
hyperfine --warmup 1 --export-markdown "$WORK/results.md" \
  -n steps "$BIN check steps.md" \
  -n output "$BIN check output.md" \
  -n drift "$BIN check drift.md || true" \
  -n jobs-1 "$BIN check --jobs 1 many" \
  -n jobs-4 "$BIN check --jobs 4 many"
cat "$WORK/results.md"
