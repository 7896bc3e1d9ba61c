#!/usr/bin/env bash
# Is the operator API responsive while the daemon drives a big site?
# Loopback only, in a private network namespace: generate N universes,
# run the daemon with its API on 127.0.0.1:8080, receive the Art-Net with
# `nightscape monitor` (so the packets have a reader), and time REQUESTS
# GETs of each read endpoint a page uses.
#
#   scripts/measure-api.sh N [REQUESTS]
#
# Prints, per endpoint, the response size and latency p50 / p90 / max.
# Needs root for `unshare --net`. Not used by CI.
set -euo pipefail
N=${1:?universes}
REQUESTS=${2:-20}
BIN=${BIN:-target/release/nightscape}
WORK=$(mktemp -d /tmp/ns-api.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN" generate-site --universes "$N" --effect all --out "$WORK/site" >/dev/null
exec timeout 300 unshare --net python3 - "$BIN" "$WORK" "$REQUESTS" <<'PY'
import os, subprocess, sys, time, urllib.request
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
binary, work, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ, RUST_LOG="warn")
daemon = subprocess.Popen([binary, "run", "--site", f"{work}/site", "--state", f"{work}/var"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/daemon.log", "w"))
sink = subprocess.Popen([binary, "monitor", "--listen", "127.0.0.1:6454", "--seconds", "240"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def get(path):
    t = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:8080{path}", timeout=30) as r:
        body = r.read()
    return time.monotonic() - t, len(body)
deadline = time.monotonic() + 60
while True:
    try:
        get("/api/status"); break
    except Exception:
        if time.monotonic() > deadline: sys.exit("the API did not come up in 60 s")
        time.sleep(0.2)
time.sleep(3)
load = open("/proc/loadavg").read().split()[0]
print(f"load average {load}")
for path in ["/api/status", "/api/schedule", "/api/frame", "/api/energy", "/"]:
    times, size = [], 0
    for _ in range(requests):
        try:
            dt, size = get(path)
        except Exception as e:
            print(f"{path}: {e}"); break
        times.append(dt * 1000)
    if times:
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(f"{path:15} {size:>9} bytes  p50 {p(0.5):7.1f} ms  p90 {p(0.9):7.1f} ms  max {times[-1]:7.1f} ms")
daemon.terminate(); sink.terminate()
daemon.wait(); sink.wait()
PY
