# A ~10 MB runbook using every feature of the syntax, repeated; written to
# stdout. Shared by list-10mb.sh and compare.sh: awk -f benches/ten-megabytes.awk
BEGIN {
  print "---\ntitle: Ten megabytes\nenv: { REGION: eu-west-1 }\n---\n"
  for (i = 1; size < 10 * 1024 * 1024; i++) {
    chunk = sprintf("## Section %d: deploy the thing\n\nSome prose that explains what happens next, with `inline code`, **bold**\nand a [link](https://example.org/%d). It wraps over\nseveral lines, as prose in runbooks does.\n\n```bash {#step-%d timeout=5m tags=slow,aws}\ncd /srv/app-%d\nmake build TARGET=%d\n```\n\nYou should see:\n\n```output {match=contains}\nbuilt [..] in [..]s\n...\n```\n\n<!-- check: not-contains \"ERROR\" -->\n\n```console\n$ echo %d\n%d\n$ false\n? 1\n```\n\n- a list item\n- **TODO**: something left to do in %d\n\n| a | b |\n|---|---|\n| x | y |\n\n`run-this %d`\n\n", i, i, i, i, i, i, i, i, i)
    printf "%s", chunk
    size += length(chunk)
  }
}
