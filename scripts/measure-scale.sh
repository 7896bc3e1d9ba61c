#!/usr/bin/env bash
# Measure the daemon at city scale, loopback only, in a private network
# namespace (nothing else on the machine shares its ports, nothing leaves lo):
# generate a site of N universes, run the daemon, receive with
# `nightscape monitor`, and sample the daemon's and the monitor's CPU
# (utime+stime from /proc/PID/stat) and the daemon's RSS over the monitor's
# window.
#
#   scripts/measure-scale.sh N [EFFECT] [SECONDS] [EXTRA SITE LINES]
#
# Prints one line: universes, effect, the daemon's CPU % of one core (user +
# kernel), RSS MiB, the monitor's summary (fps min/median, interval p99/max,
# gaps, kernel drops at its socket) and the monitor's own CPU %; then how the
# monitor's reads went. MONITOR_ARGS="--plain" makes the monitor read one
# datagram per system call without GRO (as before GRO). Needs root for
# `unshare --net` (as CI and the developer machines are). Not used by CI.
# On a busy machine, NICE="nice -n -15" gives the daemon and the monitor
# the share of the CPU a dedicated controller would have.
set -euo pipefail
N=${1:?universes}
EFFECT=${2:-all}
SECS=${3:-10}
BIN=${BIN:-target/release/nightscape}
# The monitor's binary, if another (to compare monitors on one daemon).
MONITOR_BIN=${MONITOR_BIN:-$BIN}
WORK=$(mktemp -d /tmp/ns-scale.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN" generate-site --universes "$N" --effect "$EFFECT" --out "$WORK/site" >/dev/null
# No operator API in the measurement (it would only add an idle listener).
sed -i 's/^\[api\]$/[api]\nenabled = false/' "$WORK/site/site.toml"
if [ -n "${4:-}" ]; then
  sed -i "s/^sync = true$/sync = true\n$4/" "$WORK/site/site.toml"
fi
exec timeout $((SECS + 60)) unshare --net bash -c '
set -euo pipefail
ip link set lo up
BIN=$1; WORK=$2; SECS=$3; N=$4; EFFECT=$5; NICE=$6; MONARGS=$7; MONBIN=$8
RUST_LOG=warn $NICE "$BIN" run --site "$WORK/site" --state "$WORK/var" 2>"$WORK/daemon.log" &
PID=$!
# Start-up is not measured here: the window opens 3 s after the daemon.
sleep 3
$NICE "$MONBIN" monitor --listen 127.0.0.1:6454 --seconds "$SECS" --format json $MONARGS > "$WORK/monitor.json" 2>"$WORK/monitor.err" &
MON=$!
clk=$(getconf CLK_TCK)
cpu() { awk "{print \$14, \$15}" /proc/$1/stat; }
# Time the hypervisor gave to others while our vCPUs wanted to run
# (steal, in ticks of all CPUs): it stretches sends, not the code.
steal() { awk "/^cpu / {print \$9}" /proc/stat; }
c0=$(cpu $PID); m0=$(cpu $MON); t0=$(date +%s.%N); st0=$(steal)
sleep $((SECS - 1))
c1=$(cpu $PID); m1=$(cpu $MON); t1=$(date +%s.%N); st1=$(steal)
rss=$(awk "/VmRSS/ {print \$2}" /proc/$PID/status)
threads=$(ls /proc/$PID/task | wc -l)
wait $MON
kill -TERM $PID; wait $PID || true
python3 - "$WORK/monitor.json" "$N" "$EFFECT" "$c0" "$c1" "$t0" "$t1" "$clk" "$rss" "$threads" "$(cat /proc/loadavg)" "$m0" "$m1" "$st0" "$st1" "$(nproc)" <<PY
import json, sys
m = json.load(open(sys.argv[1]))
n, effect = sys.argv[2], sys.argv[3]
(u0, s0), (u1, s1) = (map(float, sys.argv[4].split()), map(float, sys.argv[5].split()))
t0, t1, clk = map(float, sys.argv[6:9])
rss, threads = int(sys.argv[9]), int(sys.argv[10])
load = sys.argv[11].split()[0]
span = clk * (t1 - t0) / 100
cpu, user, kern = (u1 + s1 - u0 - s0) / span, (u1 - u0) / span, (s1 - s0) / span
(mu0, ms0), (mu1, ms1) = (map(float, sys.argv[12].split()), map(float, sys.argv[13].split()))
mcpu, muser, mkern = (mu1 + ms1 - mu0 - ms0) / span, (mu1 - mu0) / span, (ms1 - ms0) / span
u, fmin, fmed = m["universes"], m["fps_min"], m["fps_median"]
p99, mx, gaps, drops = m["interval_p99_ms_worst"], m["interval_max_ms_worst"], m["sequence_gaps"], m.get("socket_drops")
print("%6s %-8s cpu %6.1f %% (user %.1f, kernel %.1f)  load %s  rss %6.1f MiB  threads %d  universes %d  fps min %.2f median %.2f  p99 %.2f ms  max %.2f ms  gaps %d  drops %s  monitor cpu %.1f %% (user %.1f, kernel %.1f)"
      % (n, effect, cpu, user, kern, load, rss / 1024, threads, u, fmin, fmed, p99, mx, gaps, drops, mcpu, muser, mkern))
# The interval p99 along the send order: the first universe sent shows the
# jitter of the wake-up alone, the last one everything that stretched the sends.
per = sorted(m["per_universe"], key=lambda x: x["universe"])
if per:
    p99s = sorted(x["interval_p99_ms"] for x in per)
    steal = (float(sys.argv[15]) - float(sys.argv[14])) / (span * int(sys.argv[16]))
    print("         interval p99 first universe %.2f ms, median universe %.2f ms, last universe %.2f ms; steal %.1f %% of the machine"
          % (per[0]["interval_p99_ms"], p99s[len(p99s) // 2], per[-1]["interval_p99_ms"], steal))
PY
grep -v "^listening on" "$WORK/monitor.err" | sed "s/^/  monitor: /"
' _ "$BIN" "$WORK" "$SECS" "$N" "$EFFECT" "${NICE:-}" "${MONITOR_ARGS:-}" "$MONITOR_BIN"
