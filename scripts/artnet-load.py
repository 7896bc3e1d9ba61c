#!/usr/bin/env python3
"""Send N universes of ArtDmx at FPS frames a second to a receiver on
loopback, the way the daemon sends to one node: UDP GSO batches of up to
64 packets per system call, sequence 1..255 per universe, one data byte
changing every frame. For measuring a receiver (`nightscape monitor`) at
loads the daemon cannot render on this machine yet (10,000 universes at
40 fps is 400,000 ArtDmx a second); scripts/measure-monitor.sh runs it.

    scripts/artnet-load.py N [FPS] [SECONDS] [HOST:PORT]

Loopback only (127.0.0.0/8): anything else is refused. Prints what it sent
and its own CPU time (user + kernel) to stderr. Needs Linux >= 4.18 (GSO).
"""
import ipaddress
import os
import socket
import struct
import sys
import time

SOL_UDP = 17
UDP_SEGMENT = 103
ARTDMX_LEN = 18 + 512
BATCH = 64


def main():
    n = int(sys.argv[1])
    fps = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
    host, _, port = (sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1:6454").rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit(f"{host}: loopback (127.0.0.0/8) only")
    if not 1 <= n <= 32768:
        sys.exit("N must be 1..32768 (Art-Net Port-Addresses)")
    to = (host, int(port))
    buf = bytearray(n * ARTDMX_LEN)
    for u in range(n):
        o = u * ARTDMX_LEN
        buf[o:o + 18] = (b"Art-Net\0" + struct.pack("<H", 0x5000) + struct.pack(">H", 14)
                         + bytes([0, 0, u & 0xFF, (u >> 8) & 0x7F]) + struct.pack(">H", 512))
    view = memoryview(buf)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    gso = [(SOL_UDP, UDP_SEGMENT, struct.pack("@H", ARTDMX_LEN))]
    period = 1.0 / fps
    frames = calls = errors = 0
    t0 = time.monotonic()
    c0 = os.times()
    while frames < int(secs * fps):
        seq = frames % 255 + 1
        buf[12::ARTDMX_LEN] = bytes([seq]) * n
        buf[18::ARTDMX_LEN] = bytes([frames & 0xFF]) * n
        for i in range(0, n, BATCH):
            chunk = view[i * ARTDMX_LEN:min(i + BATCH, n) * ARTDMX_LEN]
            try:
                s.sendmsg([chunk], gso if len(chunk) > ARTDMX_LEN else [], 0, to)
            except OSError:
                errors += 1
            calls += 1
        frames += 1
        wait = t0 + frames * period - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    c1 = os.times()
    wall = time.monotonic() - t0
    print(f"sent {frames} frames of {n} universes ({frames * n} ArtDmx) in {calls} calls "
          f"over {wall:.2f} s ({frames / wall:.2f} fps), {errors} send errors; "
          f"sender cpu {100 * (c1.user - c0.user) / wall:.1f} % user, "
          f"{100 * (c1.system - c0.system) / wall:.1f} % kernel", file=sys.stderr)


if __name__ == "__main__":
    main()
