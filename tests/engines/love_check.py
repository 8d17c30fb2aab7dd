#!/usr/bin/env python3
"""Checks a screenshot of the LOVE demo (engines/love) against the plugin's own result: the
live preview, drawn at an integer scale with nearest filtering over a grey panel, must equal
an ordinary job (the default sampler, the stream's steps) for the frame's seed and class, composited on the
same grey. The game prints where the preview is and which frame it shows.

love_check.py SCREENSHOT.png GAME_STDOUT PLUGIN_LIBRARY MODEL
"""
import os
import re
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "plugin", "python"))
import ddpm_plugin  # noqa: E402

GREY = 51  # engines/love/main.lua: PANEL_GREY


def read_png(path):
    """A screenshot as an int array [h][w][3]."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)


def main():
    shot, stdout, library, model_path = sys.argv[1:5]
    text = open(stdout).read()
    m = re.search(r"preview x=(\d+) y=(\d+) scale=(\d+) size=(\d+)x(\d+) frame=(\d+) class=(-?\d+) seed=(\d+)", text)
    if not m:
        sys.exit("love_check: the game did not say where its preview is:\n" + text)
    x, y, scale, w, h, frame, cls, seed = map(int, m.groups())
    image = read_png(shot)[y:y + h * scale, x:x + w * scale]
    student = re.search(r"streaming with the student (\S+)", text)
    if student:  # the game streamed its model's Live student: the reference job uses it too
        model_path = student.group(1)
    lib = ddpm_plugin.Library(library)
    with lib.load_model(model_path) as model, \
            model.generate(class_index=cls, steps=8, seed=seed, guidance=3.0) as job:
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
