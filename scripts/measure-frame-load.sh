#!/usr/bin/env bash
# Does API load slow the frame loop? (issue 29, item 4)
# Loopback only, in a private network namespace: run the daemon on a site
# (the demo, or N generated universes), receive its Art-Net with the
# frame-jitter meter (kernel receive timestamps), and meanwhile let
# CLIENTS viewer clients hit the heavy read endpoints (preview of an
# instant, the energy forecast, a 366-day schedule) in a loop. Prints the
# wire's frame rate and longest interval per universe (worst universe
# first), what /api/status said the fps was during the load, and how many
# requests were answered.
#
#   scripts/measure-frame-load.sh [UNIVERSES|demo] [CLIENTS] [SECONDS]
#
# Target: >= 39.5 fps and no interval over 40 ms with 32 clients.
# BIN picks the binary (default target/release/nightscape, else debug);
# JITTER the meter (default ../shared/peers/frame-jitter.py). Needs root
# for `unshare --net`. Set NIGHTSCAPE_NO_PRIORITY=1 to measure the frame
# loop at the default priority (the "before" of the priority change).
set -euo pipefail
SITE=${1:-demo}
CLIENTS=${2:-32}
SECONDS_=${3:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$here/target/release/nightscape}
[ -x "$BIN" ] || BIN=$here/target/debug/nightscape
JITTER=${JITTER:-$here/../shared/peers/frame-jitter.py}
WORK=$(mktemp -d /tmp/ns-load.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ "$SITE" = demo ]; then
  mkdir -p "$WORK/site"
  cp "$here"/shows/*.toml "$WORK/site/"
  cp -r "$here/fixtures" "$WORK/fixtures"
else
  "$BIN" generate-site --universes "$SITE" --effect all --out "$WORK/site" >/dev/null
fi
echo "binary $BIN, site $SITE, $CLIENTS clients, $SECONDS_ s"
exec timeout $((SECONDS_ + 120)) unshare --net python3 - "$BIN" "$WORK" "$CLIENTS" "$SECONDS_" "$JITTER" <<'PY'
import json, os, re, subprocess, sys, threading, time, urllib.error, urllib.request
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
binary, work, clients, seconds, jitter = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
site = f"{work}/site"
text = open(f"{site}/site.toml").read()
# The API on 127.0.0.1:8080 (free in this namespace); a viewer token.
text = re.sub(r'listen = "127\.0\.0\.1:[0-9]+"', 'listen = "127.0.0.1:8080"', text, count=1)
if "tokens" not in text:
    text = text.replace("[api]", '[api]\ntokens = [{ name = "bench", role = "viewer", env = "NIGHTSCAPE_VIEWER_TOKEN" }]', 1)
open(f"{site}/site.toml", "w").write(text)
env = dict(os.environ, RUST_LOG="info", NIGHTSCAPE_VIEWER_TOKEN="bench-token-0123456789abcdef")
daemon = subprocess.Popen([binary, "run", "--site", site, "--state", f"{work}/var"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/daemon.log", "w"))
# Whatever happens below (an error, sys.exit), the daemon goes.
import atexit
atexit.register(lambda: daemon.poll() is None and daemon.kill())
auth = {"Authorization": "Bearer bench-token-0123456789abcdef"}
def get(path, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:8080{path}", headers=auth)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()
deadline = time.monotonic() + 90
while True:
    try:
        get("/api/status"); break
    except Exception:
        if time.monotonic() > deadline:
            print(open(f"{work}/daemon.log").read()[-2000:]); sys.exit("the API did not come up in 90 s")
        time.sleep(0.2)
time.sleep(2)
for line in open(f"{work}/daemon.log"):
    if "frame loop at" in line:
        print("daemon:", line.strip()[:200])
heavy = ["/api/preview?at=2026-12-31T20:30:00%2B08:00", "/api/energy/forecast", "/api/schedule?days=366"]
stop = threading.Event()
answered, failed, codes = [0], [0], {}
def client(i):
    k = i
    while not stop.is_set():
        try:
            get(heavy[k % len(heavy)]); answered[0] += 1
        except urllib.error.HTTPError as e:
            codes[e.code] = codes.get(e.code, 0) + 1
        except Exception:
            failed[0] += 1
        k += 1
threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
status = []
def sample_status():
    while not stop.is_set():
        try:
            s = json.loads(get("/api/status", timeout=10))
            status.append(s.get("frames", {}).get("actual_fps"))
        except Exception:
            pass
        time.sleep(1)
for t in threads: t.start()
time.sleep(3)  # the load is on before the meter starts
st = threading.Thread(target=sample_status, daemon=True); st.start()
# The meter runs above everything else (chrt, as root) so that what it
# reports is the wire, not its own starvation under the same load.
rt = ["chrt", "-r", "20"] if os.geteuid() == 0 else []
meter = subprocess.run(rt + ["python3", jitter, "-t", str(seconds), "--json", "--expect-hz", "40",
                        "--gap-ms", "40"], capture_output=True, text=True)
stop.set()
out = json.loads(meter.stdout)
rows = []
for u, r in out["universes"].items():
    if "rate_hz" in r:
        rows.append((r["rate_hz"], r["interval_ms"]["max"], r["interval_ms"]["p99"], r["gaps"], r["seq_lost"], u))
rows.sort()
print(f"wire over {seconds:.0f} s, {len(rows)} universes (worst first):")
for rate, mx, p99, gaps, lost, u in rows[:5]:
    print(f"  {u:28} {rate:7.2f} fps  max {mx:7.1f} ms  p99 {p99:6.1f} ms  intervals > 40 ms: {gaps}  sequence gaps: {lost}")
if rows:
    print(f"worst: {min(r[0] for r in rows):.2f} fps, max interval {max(r[1] for r in rows):.1f} ms")
print("/api/status actual_fps during the load:", [round(x, 1) if x is not None else None for x in status])
print(f"heavy requests answered 2xx: {answered[0]} ({answered[0] / seconds:.1f}/s), refused by status: {codes}, failed: {failed[0]}")
daemon.terminate(); daemon.wait(timeout=30)
PY
