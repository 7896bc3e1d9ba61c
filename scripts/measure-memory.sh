#!/usr/bin/env bash
# Is the daemon's memory bounded under a steady operator load? (issue 29)
# Loopback only, in a private network namespace: N generated universes,
# OVERRIDES level overrides in force (2 h TTL), STREAMS clients on
# /api/live reading continuously, `nightscape monitor` as the Art-Net
# sink; optionally CHURN overrides released and re-created per minute.
# Samples the daemon's RSS (and its anonymous part), peak RSS, open fds and threads every INTERVAL
# seconds for MINUTES minutes, then prints the samples and the growth of
# the second half (after warm-up) per 10 minutes.
#
#   scripts/measure-memory.sh [N] [MINUTES] [OVERRIDES] [STREAMS] [CHURN] [INTERVAL]
#   defaults:                  1000  18        500         56        0       30
#
# BIN picks the binary (default target/release/nightscape). Needs root for
# `unshare --net`. Not used by CI.
set -euo pipefail
N=${1:-1000}
MINUTES=${2:-18}
OVERRIDES=${3:-500}
STREAMS=${4:-56}
CHURN=${5:-0}
INTERVAL=${6:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$here/target/release/nightscape}
WORK=$(mktemp -d /tmp/ns-mem.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$BIN" generate-site --universes "$N" --effect all --out "$WORK/site" >/dev/null
echo "binary $BIN: $N universes, $OVERRIDES overrides, $STREAMS live streams, churn $CHURN/min, $MINUTES min"
exec timeout $((MINUTES * 60 + 300)) unshare --net python3 - "$BIN" "$WORK" "$MINUTES" "$OVERRIDES" "$STREAMS" "$CHURN" "$INTERVAL" <<'PY'
import json, os, re, subprocess, sys, threading, time, urllib.error, urllib.request
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
binary, work = sys.argv[1], sys.argv[2]
minutes, n_over, n_streams, churn, interval = (float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                                               int(sys.argv[6]), float(sys.argv[7]))
site = f"{work}/site"
text = open(f"{site}/site.toml").read()
token = "ops-token-0123456789abcdef0123"
text = text.replace("[api]", '[api]\ntokens = [{ name = "ops", role = "operator", env = "NS_OPERATOR_TOKEN" }]', 1)
open(f"{site}/site.toml", "w").write(text)
# Each array's fixtures are NAME-001, NAME-002, …: target them by glob.
groups = [f"{a}-*" for a in re.findall(r'^\[\[arrays\]\]\s*\nname = "([^"]+)"', text, re.M)]
env = dict(os.environ, RUST_LOG="warn", NS_OPERATOR_TOKEN=token)
daemon = subprocess.Popen([binary, "run", "--site", site, "--state", f"{work}/var"],
                          env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/daemon.log", "w"))
sink = subprocess.Popen([binary, "monitor", "--listen", "127.0.0.1:6454", "--seconds", str(int(minutes * 60 + 240))],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
# Whatever happens below (an error, sys.exit), the daemon and sink go.
import atexit
atexit.register(lambda: [p.kill() for p in (daemon, sink) if p.poll() is None])
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
def call(method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:8080{path}", data=data, headers=auth, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")
deadline = time.monotonic() + 90
while True:
    try:
        call("GET", "/api/status"); break
    except Exception:
        if time.monotonic() > deadline:
            sys.exit("the API did not come up in 90 s")
        time.sleep(0.2)
ids = []
def create(i):
    o = call("POST", "/api/overrides", {"target": groups[i % len(groups)], "level": round(0.2 + (i % 70) / 100, 2),
                                        "ttl": "2h", "note": f"memory run {i}"})
    return o.get("id")
for i in range(n_over):
    try:
        ids.append(create(i))
    except urllib.error.HTTPError as e:
        sys.exit(f"creating override {i} on {groups[i % len(groups)]}: {e.code} {e.read().decode()[:300]}")
print(f"{len(ids)} overrides created on {len(groups)} groups", flush=True)
stop = threading.Event()
events = [0] * n_streams
def stream(k):
    while not stop.is_set():
        try:
            req = urllib.request.Request("http://127.0.0.1:8080/api/live", headers=auth)
            with urllib.request.urlopen(req, timeout=30) as r:
                for line in r:
                    if line.startswith(b"data:"):
                        events[k] += 1
                    if stop.is_set():
                        return
        except Exception:
            time.sleep(1)
for k in range(n_streams):
    threading.Thread(target=stream, args=(k,), daemon=True).start()
def churner():
    i = n_over
    while not stop.wait(60 / churn):
        try:
            call("DELETE", f"/api/overrides/{ids.pop(0)}")
            ids.append(create(i)); i += 1
        except Exception as e:
            print("churn:", e, flush=True)
if churn > 0:
    threading.Thread(target=churner, daemon=True).start()
pid = daemon.pid
def sample():
    st = dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    kb = lambda k: int(st[k].split()[0])
    roll = dict(l.split(":", 1) for l in open(f"/proc/{pid}/smaps_rollup") if l[:1].isupper() and ":" in l)
    anon = int(roll.get("Anonymous", "0 kB").split()[0])
    return kb("VmRSS"), kb("VmHWM"), len(os.listdir(f"/proc/{pid}/fd")), int(st["Threads"]), anon
t0 = time.monotonic()
rows = []
print(f"{'min':>6} {'RSS MB':>8} {'anon MB':>8} {'peak MB':>8} {'fds':>5} {'threads':>7} {'live events':>11}", flush=True)
while time.monotonic() - t0 < minutes * 60:
    rss, hwm, fds, thr, anon = sample()
    m = (time.monotonic() - t0) / 60
    rows.append((m, rss / 1024))
    print(f"{m:6.1f} {rss / 1024:8.1f} {anon / 1024:8.1f} {hwm / 1024:8.1f} {fds:5d} {thr:7d} {sum(events):11d}", flush=True)
    time.sleep(interval)
stop.set()
half = [r for r in rows if r[0] >= minutes / 2]
if len(half) >= 2:
    # Least-squares slope of the second half, per 10 minutes.
    mx = sum(r[0] for r in half) / len(half); my = sum(r[1] for r in half) / len(half)
    slope = sum((r[0] - mx) * (r[1] - my) for r in half) / max(1e-9, sum((r[0] - mx) ** 2 for r in half))
    print(f"second half: {half[0][1]:.1f} -> {half[-1][1]:.1f} MB, trend {slope * 10:+.2f} MB per 10 min")
try:
    s = call("GET", "/api/status")
    print(f"overrides in force at the end: {s.get('overrides_in_force')}")
except Exception as e:
    print("status:", e)
daemon.terminate(); sink.terminate()
daemon.wait(timeout=30); sink.wait(timeout=30)
PY
