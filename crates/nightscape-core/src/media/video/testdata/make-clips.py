#!/usr/bin/env python3
"""Makes the tiny H.264 clips the video decoder's tests read (run by hand;
needs ffmpeg with libx264). Each clip is 40x24 pixels (not a multiple of
16, so the decoder's cropping is exercised), 8 frames per second, 16
frames (2 s). Frame i: the top 12 rows are PALETTE[i // 2], the bottom 12
rows grey 16*i (so every frame is told apart by its bottom half). Encoded as BT.709 limited range, the colour space the
decoder assumes.

colours-baseline.mp4: Constrained Baseline (no B-frames: decode order is
display order). colours-high.mp4: High profile with B-frames (the decoder
must hand frames back in display order).
"""
import subprocess

W, H, FPS, N = 40, 24, 8, 16
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
           (0, 255, 255), (255, 0, 255), (255, 255, 255), (128, 128, 128)]

def frames():
    out = bytearray()
    for i in range(N):
        top = bytes(PALETTE[i // 2]) * W
        grey = bytes([16 * i] * 3) * W
        out += top * (H // 2) + grey * (H // 2)
    return bytes(out)

COMMON = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
          "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
          "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
          "-color_range", "tv", "-c:v", "libx264", "-crf", "10", "-an",
          "-map_metadata", "-1", "-x264-params", "scenecut=0:b-adapt=0", "-fflags", "+bitexact", "-flags:v", "+bitexact"]

for name, extra in [("colours-baseline.mp4", ["-profile:v", "baseline"]),
                    ("colours-high.mp4", ["-profile:v", "high", "-bf", "3", "-g", "8"])]:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *COMMON, *extra, name],
                   input=frames(), check=True)
