#!/usr/bin/env bash
# Cost of remote steps: 100 one-line steps on one host through runsheet
# (one multiplexed ssh connection for the run) against the floor, 100 plain
# `ssh host true` calls over an already open multiplexed connection; also
# 100 `ssh host true` calls each opening its own connection, for scale.
# Target: runsheet within 1.2x the multiplexed floor (ratio of medians,
# measured in the same run). Starts a private sshd on a loopback port (as
# the integration tests do; needs root for sshd, or an sshd that runs as you).
# Run from anywhere: benches/remote.sh   (RUNS=N, STEPS=N, SHELL_LANG=sh|bash)
# Results: printed, and target/bench/remote.json.
set -euo pipefail
cd "$(dirname "$0")/.."

steps=${STEPS:-100}
runs=${RUNS:-5}
lang=${SHELL_LANG:-bash}
out=target/bench
mkdir -p "$out"
work=$(mktemp -d /tmp/rs-bench.XXXXXX)
cleanup() {
  [ -f "$work/sshd.pid" ] && kill "$(cat "$work/sshd.pid")" 2>/dev/null || true
  ssh -F "$work/ssh_config" -o ControlPath="$work/cm-%C" -O exit bench 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ssh-keygen -q -N '' -t ed25519 -f "$work/host_key"
ssh-keygen -q -N '' -t ed25519 -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
MaxSessions 50
CONF
cat >"$work/ssh_config" <<CONF
Host bench
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $work/user_key
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  StrictHostKeyChecking accept-new
CONF
/usr/sbin/sshd -f "$work/sshd_config"
for _ in $(seq 50); do [ -f "$work/sshd.pid" ] && break; sleep 0.1; done

{ printf -- '---\nhost: bench\n---\n# Remote step cost\n\n'
  for _ in $(seq "$steps"); do printf '```%s\ntrue\n```\n\n' "$lang"; done
} >"$out/remote-steps.md"

cargo build --release --quiet --bin runsheet
bin=$PWD/target/release/runsheet
mux="-F $work/ssh_config -o BatchMode=yes -o ControlMaster=auto -o ControlPath=$work/cm-%C -o ControlPersist=120"
# Open the floor's connection once, as runsheet's first step does for it.
ssh $mux bench true

# Interleaved rounds (floor, runsheet, one connection each, floor, ...)
# rather than one block per command: on a shared machine the load drifts,
# and each round's ratio compares commands run under the same load.
python3 - "$steps" "$runs" "$out/remote.json" \
  "for _ in \$(seq $steps); do ssh $mux bench true; done" \
  "$bin run $out/remote-steps.md --ssh-config $work/ssh_config --state-dir $work/state" \
  "for _ in \$(seq $steps); do ssh -F $work/ssh_config -o BatchMode=yes -o ControlMaster=no -o ControlPath=none bench true; done" <<'PY'
import json, statistics, subprocess, sys, time
steps, runs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = ["ssh host true (multiplexed)", "runsheet run", "ssh host true (a connection each)"]
commands = sys.argv[4:7]
times = {n: [] for n in names}
def once(command):
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start
for name, command in zip(names, commands):
    once(command)  # warm-up
for r in range(runs):
    for name, command in zip(names, commands):
        times[name].append(once(command))
    print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)
median = {n: statistics.median(t) for n, t in times.items()}
floor, runsheet, fresh = (median[n] for n in names)
ratios = [b / a for a, b in zip(times[names[0]], times[names[1]])]
print(f"{steps} calls/steps, {runs} rounds, medians: floor {floor:.2f}s "
      f"({floor / steps * 1000:.0f} ms/call), runsheet {runsheet:.2f}s "
      f"({runsheet / steps * 1000:.0f} ms/step), a connection each {fresh:.2f}s")
print(f"runsheet / multiplexed floor = {runsheet / floor:.2f}x "
      f"(median of per-round ratios {statistics.median(ratios):.2f}x; target <= 1.2x)")
print(f"a connection each / multiplexed floor = {fresh / floor:.2f}x")
json.dump({"steps": steps, "times": times, "median": median}, open(out, "w"), indent=1)
PY
