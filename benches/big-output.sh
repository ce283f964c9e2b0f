#!/usr/bin/env bash
# A step printing 1 GiB: runsheet's peak memory (VmHWM / max RSS) must stay
# under 64 MB, and its wall time within 1.5x of the same pipeline run by bash.
# runsheet also writes the whole output to the step's log, as it always does,
# so `| tee log > /dev/null` is the like-for-like shell baseline.
#
#   cargo build --release && benches/big-output.sh [path/to/runsheet]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runsheet=${1:-$here/target/release/runsheet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/big.md" <<'MD'
# One gigabyte

```bash
{ yes || true; } | head -c 1G
```
MD

cd "$work"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v "$runsheet" run --color never big.md > /dev/null 2> "$work/time.txt"
  grep -E 'Maximum resident set size|Elapsed' "$work/time.txt"
else
  echo "/usr/bin/time missing (apt-get install -y time): peak memory not measured"
fi
hyperfine --warmup 1 --runs 5 --export-markdown "$work/result.md" \
  -n runsheet "rm -rf $work/.runsheet; $runsheet run --color never big.md > /dev/null" \
  -n bash "bash -c 'yes | head -c 1G > /dev/null'" \
  -n 'bash, through tee to a log' "bash -c 'yes | head -c 1G | tee log > /dev/null'"
cat "$work/result.md"
