#!/usr/bin/env python3
"""Checks a screenshot of the LOVE demo (engines/love) against the plugin's own result: the
live preview, drawn at an integer scale with nearest filtering over a grey panel, must equal
an ordinary job (DDIM, the stream's steps) for the frame's seed and class, composited on the
same grey. The game prints where the preview is and which frame it shows.

love_check.py SCREENSHOT.png GAME_STDOUT PLUGIN_LIBRARY MODEL
"""
import os
import re
import struct
import sys
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "plugin", "python"))
import ddpm_plugin  # noqa: E402

GREY = 51  # engines/love/main.lua: PANEL_GREY


def read_png(path):
    """8-bit RGB or RGBA, non-interlaced PNG (what LOVE writes) as an array [h][w][c]."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("love_check: %s is not a PNG" % path)
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        sys.exit("love_check: unsupported PNG (depth %d, colour type %d)" % (depth, color))
    c = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * c
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        row = np.zeros(stride, np.int32)
        for x in range(stride):  # the Sub, Average and Paeth filters read their left result
            a = row[x - c] if x >= c else 0
            b, d = prev[x], prev[x - c] if x >= c else 0
            if kind == 0:
                v = line[x]
            elif kind == 1:
                v = line[x] + a
            elif kind == 2:
                v = line[x] + b
            elif kind == 3:
                v = line[x] + (a + b) // 2
            else:
                p = a + b - d
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - d)
                v = line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else d)
            row[x] = v & 255
        out[y], prev = row, row
    return out.reshape(height, width, c)


def main():
    shot, stdout, library, model_path = sys.argv[1:5]
    text = open(stdout).read()
    m = re.search(r"preview x=(\d+) y=(\d+) scale=(\d+) size=(\d+)x(\d+) frame=(\d+) class=(-?\d+) seed=(\d+)", text)
    if not m:
        sys.exit("love_check: the game did not say where its preview is:\n" + text)
    x, y, scale, w, h, frame, cls, seed = map(int, m.groups())
    image = read_png(shot)[y:y + h * scale, x:x + w * scale, :3]
    lib = ddpm_plugin.Library(library)
    with lib.load_model(model_path) as model, \
            model.generate(class_index=cls, sampler="ddim", steps=8, seed=seed, guidance=3.0) as job:
        want = np.frombuffer(job.result_rgba8(), np.uint8).reshape(h, w, 4).astype(np.float64)
    alpha = want[..., 3:] / 255
    want = np.round(want[..., :3] * alpha + GREY * (1 - alpha))
    want = np.repeat(np.repeat(want, scale, 0), scale, 1)
    diff = np.abs(image - want)
    # Blending in the 8-bit framebuffer rounds; the stream and a job differ by ~1e-6 (oneDNN).
    if diff.max() > 2:
        sys.exit("love_check: the preview differs from the plugin's result for seed %d class %d: "
                 "max %d, mean %.2f" % (seed, cls, diff.max(), diff.mean()))
    print("love_check: frame %d (seed %d, class %d) on screen equals the plugin's job (max diff %d)"
          % (frame, seed, cls, diff.max()))


if __name__ == "__main__":
    main()
