#!/usr/bin/env bash
# How long `runsheet book` takes for 200 runbooks, each with a recorded run:
# writing the mdBook source alone (--src-only) and the full in-process HTML
# build. Runs nothing but runsheet itself; needs hyperfine.
#
#   benches/book-200.sh            # 200 runbooks of 12 steps each
#   RUNBOOKS=50 benches/book-200.sh
set -euo pipefail
cd "$(dirname "$0")/.."
count=${RUNBOOKS:-200}
cargo build --release --quiet
bin=$PWD/target/release/runsheet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/runbooks"

for i in $(seq -w 1 "$count"); do
  {
    printf -- '---\ntitle: Service %s\n---\n# Service %s\n\nHow to operate service %s.\n\n' "$i" "$i" "$i"
    for s in 1 2 3 4; do
      printf '## Stage %s\n\nSome prose about stage %s of service %s.\n\n' "$s" "$s" "$i"
      printf '```bash {#stage-%s-build}\nseq 1 60 | sed "s/^/line /"\n```\n\n' "$s"
      printf '```sh {#stage-%s-check}\nprintf "\\033[32mok\\033[0m stage %s\\n"\n```\n\n' "$s" "$s"
      printf '```console\n$ echo ready\nready\n```\n\n'
    done
    printf '**TODO**: document the rollback of service %s.\n' "$i"
  } > "$work/runbooks/service-$i.md"
done

cd "$work"
echo "recording a run of each of the $count runbooks..."
for f in runbooks/*.md; do
  "$bin" run "$f" >/dev/null 2>&1 || { echo "runsheet run $f failed" >&2; exit 1; }
done

hyperfine --warmup 1 --runs 5 \
  --command-name "book --src-only ($count runbooks)" "$bin book --src-only -o site-src" \
  --command-name "book, HTML ($count runbooks)" "$bin book -o site"
