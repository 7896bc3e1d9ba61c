#!/usr/bin/env bash
# Start-up to the first ArtDmx on the wire, loopback only, in a private
# network namespace: spawn `nightscape run --site DIR` and time until a
# receiver on 127.0.0.1:6454 gets its first ArtDmx packet.
#
#   scripts/measure-startup.sh SITE_DIR [RUNS]
#
# Prints one line per run (seconds from spawn to the first ArtDmx). The
# site's outputs must target 127.0.0.1 (as `generate-site` writes them).
# Needs root for `unshare --net`. Not used by CI.
set -euo pipefail
SITE=${1:?site folder}
RUNS=${2:-3}
BIN=${BIN:-target/release/nightscape}
exec unshare --net python3 - "$BIN" "$SITE" "$RUNS" <<'PY'
import os, socket, subprocess, sys, tempfile, time
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
binary, site, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(runs):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 6454))
    rx.settimeout(30)
    state = tempfile.mkdtemp(prefix="ns-startup.")
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--site", site, "--state", state],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while first is None:
        data = rx.recv(2048)
        if data[:8] == b"Art-Net\0" and data[8:10] == b"\x00\x50":
            first = time.monotonic() - t0
    p.terminate()
    _, err = p.communicate(timeout=30)
    rx.close()
    print("%.3f s to the first ArtDmx" % first, flush=True)
    if os.environ.get("SHOW_LOG"):
        sys.stdout.write(err.decode(errors="replace"))
PY
