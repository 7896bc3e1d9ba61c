#!/usr/bin/env bash
# How long this machine takes the CPU away from a thread that wants it:
# on each CPU, a SCHED_FIFO thread (priority 10, as `NICE="chrt -f 10"`
# gives the daemon in measure-scale.sh) spins reading the clock and records
# every gap over 0.5 ms. Nothing of ours can preempt it, so a gap is the
# kernel's interrupts and softirqs, or the hypervisor running another
# guest on our vCPU. A frame whose sends a gap lands in goes out that much
# later in part: the floor under the interval p99 of measure-scale.sh.
#
#   scripts/measure-hiccups.sh [SECONDS]
#
# Spins in bursts of 0.4 s with 0.1 s idle between them, so the kernel's RT
# throttling (950 ms in every second, by default) never cuts in. Needs root
# for chrt. Not used by CI.
set -euo pipefail
SECS=${1:-10}
for cpu in $(seq 0 $(($(nproc) - 1))); do
  chrt -f 10 taskset -c "$cpu" python3 - "$cpu" "$SECS" <<'PY' &
import sys, time
cpu, secs = sys.argv[1], float(sys.argv[2])
gaps, spun = [], 0.0
end = time.perf_counter() + secs
while time.perf_counter() < end:
    burst = time.perf_counter() + 0.4
    last = time.perf_counter()
    t = last
    while t < burst:
        t = time.perf_counter()
        if t - last > 0.0005:
            gaps.append((t - last) * 1e3)
        last = t
    spun += 0.4
    time.sleep(0.1)
gaps.sort()
over = lambda ms: sum(1 for g in gaps if g > ms)
print("cpu %s: %.1f s spun; gaps over 0.5 ms: %d, over 1 ms: %d, over 2 ms: %d; largest %s ms"
      % (cpu, spun, over(0.5), over(1), over(2), ", ".join("%.2f" % g for g in gaps[-5:]) or "none"))
PY
done
wait
