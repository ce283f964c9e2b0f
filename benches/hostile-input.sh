#!/usr/bin/env bash
# Time and peak memory of runsheet on pathological input (issue 12 item 5):
# a 50 MB line of backticks, 10 MB of `[`, 100,000 TODO cells in one table
# row, 200,000 hidden checks in one HTML block, 4,000 Runme cells of one
# name, 40,000 inputs, 200,000 sections, and a check whose output
# (`seq 1 200000`) differs from a one-line `output` block. Each should take
# seconds and memory in proportion to the file. The `[` case is bounded by
# pulldown-cmark, so its parser is measured alone next to it
# (examples/pulldown_only.rs).
# Run from anywhere: benches/hostile-input.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=$PWD/target/bench/hostile
mkdir -p "$out"
python3 - "$out" <<'PY'
import os, sys
out = sys.argv[1]
def write(name, text):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)
write("ticks.md", "`" * 50_000_000 + "\n")
write("brackets.md", "[" * 10_000_000 + "\n")
n = 100_000
write("table.md", "# T\n\n|" + "a|" * n + "\n|" + "-|" * n + "\n|" + "TODO x|" * n + "\n")
write("sections.md", "# T\n\n" + "".join(f"## S{i}\n\n```sh\necho {i}\n```\n\n" for i in range(200_000)))
write("checks.md", "# T\n\n```sh\necho x\n```\n\n<div>\n" + '<!-- check: contains "x" -->\n' * 200_000 + "</div>\n")
write("runme.md", "# T\n\n" + '```sh {"name":"same"}\necho x\n```\n\n' * 4_000)
write("inputs.md", "# T\n\n" + "".join(f'```sh\nexport NAME{i}=""\n```\n\n' for i in range(40_000)))
write("diff.md", "# D\n\n```sh\nseq 1 200000\n```\n\n```output\nx\n```\n")
PY

cargo build --release --quiet --bin runsheet --example pulldown_only
bin=$PWD/target/release/runsheet
floor=$PWD/target/release/examples/pulldown_only
measure() {
  local name=$1; shift
  /usr/bin/time -f "$name: %e s, %M KB max RSS" "$@" > /dev/null 2> "$out/$name.err" || true
  tail -1 "$out/$name.err"
}
measure "lint 50 MB of backticks" "$bin" lint "$out/ticks.md"
measure "pulldown-cmark alone, 50 MB of backticks" "$floor" "$out/ticks.md"
measure "lint 10 MB of [" "$bin" lint "$out/brackets.md"
measure "pulldown-cmark alone, 10 MB of [" "$floor" "$out/brackets.md"
measure "lint 100k TODO cells" "$bin" lint "$out/table.md"
measure "lint 200k hidden checks in one HTML block" "$bin" lint "$out/checks.md"
measure "lint 4,000 Runme cells of one name" "$bin" lint "$out/runme.md"
measure "lint 40,000 steps asking each for an input" "$bin" lint "$out/inputs.md"
measure "run --dry-run 200k sections" "$bin" run --dry-run "$out/sections.md"
measure "run --dry-run --section, 200k sections" "$bin" run --dry-run --section s5 "$out/sections.md"
measure "run --dry-run --from, 200k sections" "$bin" run --dry-run --from s5-1 "$out/sections.md"
(cd "$out" && measure "check seq 1 200000 against one line" "$bin" check diff.md)
