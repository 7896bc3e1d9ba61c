#!/usr/bin/env bash
# Measure `nightscape monitor` on its own at a load the daemon cannot render
# on this machine yet: scripts/artnet-load.py sends N universes of ArtDmx at
# FPS (UDP GSO, 64 per call, as the daemon does) to the monitor, both in a
# private network namespace (loopback only, nothing else shares the ports).
#
#   scripts/measure-monitor.sh N [SECONDS] [FPS]
#
# Prints one line: what arrived against what was sent, sequence gaps, kernel
# drops at the monitor's socket, the interval p99/max, and the monitor's CPU
# % of one core (user + kernel, over the sending); then the sender's and the
# monitor's own summaries. NICE and MONITOR_ARGS as in measure-scale.sh
# (MONITOR_ARGS="--plain": one datagram per read, no GRO). Needs root for
# `unshare --net`. Not used by CI.
set -euo pipefail
N=${1:?universes}
SECS=${2:-10}
FPS=${3:-40}
BIN=${BIN:-target/release/nightscape}
LOAD=$(cd "$(dirname "$0")" && pwd)/artnet-load.py
WORK=$(mktemp -d /tmp/ns-monitor.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
exec timeout $((SECS + 30)) unshare --net bash -c '
set -euo pipefail
ip link set lo up
BIN=$1; WORK=$2; SECS=$3; N=$4; FPS=$5; NICE=$6; MONARGS=$7; LOAD=$8
$NICE "$BIN" monitor --listen 127.0.0.1:6454 --seconds "$SECS" --format json $MONARGS > "$WORK/monitor.json" 2>"$WORK/monitor.err" &
MON=$!
for _ in $(seq 200); do grep -q "^listening on" "$WORK/monitor.err" && break; sleep 0.05; done
clk=$(getconf CLK_TCK)
cpu() { awk "{print \$14, \$15}" /proc/$1/stat; }
m0=$(cpu $MON); t0=$(date +%s.%N)
# Two seconds less than the window: everything sent falls inside it.
$NICE python3 "$LOAD" "$N" "$FPS" $((SECS - 2)) 127.0.0.1:6454 2>"$WORK/load.err"
m1=$(cpu $MON); t1=$(date +%s.%N)
wait $MON
python3 - "$WORK/monitor.json" "$N" "$FPS" "$m0" "$m1" "$t0" "$t1" "$clk" "$(cat /proc/loadavg)" "$(cat "$WORK/load.err")" <<PY
import json, re, sys
m = json.load(open(sys.argv[1]))
n, fps = int(sys.argv[2]), float(sys.argv[3])
(u0, s0), (u1, s1) = (map(float, sys.argv[4].split()), map(float, sys.argv[5].split()))
t0, t1, clk = map(float, sys.argv[6:9])
load = sys.argv[9].split()[0]
sent = int(re.search(r"\((\d+) ArtDmx\)", sys.argv[10]).group(1))
span = clk * (t1 - t0) / 100
print("%6d universes x %g fps  load %s  received %d of %d  universes %d  gaps %d  drops %s  p99 %.2f ms  max %.2f ms  monitor cpu %.1f %% (user %.1f, kernel %.1f)"
      % (n, fps, load, m["packets"], sent, m["universes"], m["sequence_gaps"], m.get("socket_drops"),
         m["interval_p99_ms_worst"], m["interval_max_ms_worst"],
         (u1 + s1 - u0 - s0) / span, (u1 - u0) / span, (s1 - s0) / span))
PY
sed "s/^/  sender: /" "$WORK/load.err"
grep -v "^listening on" "$WORK/monitor.err" | sed "s/^/  monitor: /"
' _ "$BIN" "$WORK" "$SECS" "$N" "$FPS" "${NICE:-}" "${MONITOR_ARGS:-}" "$LOAD"
