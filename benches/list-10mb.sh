#!/usr/bin/env bash
# How long `runsheet list --json` takes on a ~10 MB runbook (every feature of
# the syntax, repeated). Run from anywhere: benches/list-10mb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/bench
mkdir -p "$out"
runbook="$out/list-10mb.md"

if [ ! -s "$runbook" ]; then
  awk 'BEGIN {
    print "---\ntitle: Ten megabytes\nenv: { REGION: eu-west-1 }\n---\n"
    for (i = 1; size < 10 * 1024 * 1024; i++) {
      chunk = sprintf("## Section %d: deploy the thing\n\nSome prose that explains what happens next, with `inline code`, **bold**\nand a [link](https://example.org/%d). It wraps over\nseveral lines, as prose in runbooks does.\n\n```bash {#step-%d timeout=5m tags=slow,aws}\ncd /srv/app-%d\nmake build TARGET=%d\n```\n\nYou should see:\n\n```output {match=contains}\nbuilt [..] in [..]s\n...\n```\n\n<!-- check: not-contains \"ERROR\" -->\n\n```console\n$ echo %d\n%d\n$ false\n? 1\n```\n\n- a list item\n- **TODO**: something left to do in %d\n\n| a | b |\n|---|---|\n| x | y |\n\n`run-this %d`\n\n", i, i, i, i, i, i, i, i, i)
      printf "%s", chunk
      size += length(chunk)
    }
  }' > "$runbook"
fi

cargo build --release --quiet --bin runsheet
bin=target/release/runsheet
echo "runbook: $runbook ($(du -h "$runbook" | cut -f1), $(grep -c '^```bash' "$runbook") shell steps)"
"$bin" list --json "$runbook" > "$out/list-10mb.json"
hyperfine --warmup 1 --runs "${RUNS:-10}" \
  --export-markdown "$out/list-10mb.results.md" \
  "$bin list --json $runbook > /dev/null"
