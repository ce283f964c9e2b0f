#!/usr/bin/env bash
# `runsheet run flood.md | sleep 20`: stdout a pipe nobody reads, a step with
# `timeout=2s` that prints without end. The step must time out on time and
# the run finish (record final, lock free) while the display still waits.
# Prints how long the step ran and when the record was final.
#
#   cargo build --release && benches/blocked-stdout.sh [path/to/runsheet]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runsheet=${1:-$here/target/release/runsheet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/flood.md" <<'MD'
# Flood

```sh {#flood timeout=2s}
while :; do echo 'a line of output that nobody reads, over and over'; done
```
MD
cd "$work"
start=$(date +%s.%N)
{ "$runsheet" run --color never flood.md | sleep 20; } &
pipeline=$!
until grep -qs '"finished": "' .runsheet/*/*/run.json; do
  sleep 0.05
  if [ "$(echo "$(date +%s.%N) - $start > 30" | bc)" = 1 ]; then echo "run never finished"; kill $pipeline; exit 1; fi
done
final=$(date +%s.%N)
grep -h '"duration_ms"\|"status"' .runsheet/*/*/run.json | tr -s ' '
printf 'record final after %.2fs (stdout never read)\n' "$(echo "$final - $start" | bc)"
wait $pipeline || true
printf 'pipeline ended after %.2fs (when sleep 20 closed the pipe)\n' "$(echo "$(date +%s.%N) - $start" | bc)"
