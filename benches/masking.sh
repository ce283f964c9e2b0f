#!/usr/bin/env bash
# Masking cost against the number of secrets: a step printing 50 MB of
# base64 text (every byte a possible start of a secret), with 0, 1, 100 and
# 1,000 secret-named variables in the environment. One index over all
# values (src/secrets.rs): the times should stay flat.
#
#   cargo build --release && benches/masking.sh [path/to/runsheet]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runsheet=${1:-$here/target/release/runsheet}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{ head -c 38M /dev/urandom | base64 -w 76 || true; } | head -c 50M > "$work/data.txt"
cat > "$work/mask.md" <<'MD'
# Masking

```bash
cat data.txt
```
MD

for n in 0 1 100 1000; do
  : > "$work/vars-$n"
  for i in $(seq 1 "$n"); do
    printf 'BENCH_SECRET_%s=%s\n' "$i" "$(head -c 15 /dev/urandom | base64 | tr -d '/+=')" >> "$work/vars-$n"
  done
done

cd "$work"
hyperfine --warmup 1 --runs 5 --export-markdown "$work/result.md" \
  -L n 0,1,100,1000 -n '{n} secrets' \
  "rm -rf $work/.runsheet; env \$(cat vars-{n}) $runsheet run --color never mask.md > /dev/null"
cat "$work/result.md"
