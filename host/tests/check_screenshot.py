#!/usr/bin/env python3
"""Checks a studio screenshot against the plugin's own result for the same request.

Usage: check_screenshot.py SCREENSHOT.png PLUGIN_LIBRARY PYTHON_BINDING_DIR

Reads SCREENSHOT.png.json (written by `ddpm-studio --screenshot`: where the preview is, the
grid layout, the request), generates the same images through the plugin's C ABI (ctypes),
maps them to colour as shaders/preview.frag does (alpha over the checkerboard or the flat
background), and compares with the screenshot at the centre of every model pixel.
Also checks that the preview is not the window's clear colour and not uniform.
"""
import json
import os
import sys

import numpy as np
from PIL import Image

CLEAR = np.array([0.09, 0.09, 0.10]) * 255


def read_png_rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float64)


def check_region(shot, rect, what="preview"):
    """The screenshot's pixels inside rect ({x, y, w, h}); fails when they are missing, the
    window's clear colour or uniform. Returns the region."""
    px, py, pw, ph = (rect[k] for k in ("x", "y", "w", "h"))
    assert pw > 0 and ph > 0, "the screenshot shows no %s" % what
    region = shot[int(py):int(py + ph), int(px):int(px + pw)]
    near_clear = np.all(np.abs(region - CLEAR) < 3, axis=2).mean()
    assert near_clear < 0.01, "%.1f%% of the %s is the clear colour" % (100 * near_clear, what)
    assert region.std() > 10, "the %s is uniform (std %.2f)" % (what, region.std())
    return region


def to_rgba(values, batch, height, width, channels):
    """Plugin floats (BHWC, 1, 3 or 4 channels) as RGBA in [0, 1]."""
    imgs = np.asarray(values, np.float64).reshape(batch, height, width, channels).clip(0, 1)
    if channels == 1:
        imgs = np.concatenate([imgs] * 3 + [np.ones_like(imgs)], axis=3)
    elif channels == 3:
        imgs = np.concatenate([imgs, np.ones_like(imgs[..., :1])], axis=3)
    return imgs


def compare_grid(shot, rect, g, imgs, checker, background):
    """Per model pixel of every image of the grid g (cols, cell_w, cell_h, gap) drawn at rect:
    the largest channel difference between the screenshot and imgs (RGBA) composited as
    shaders/preview.frag does (over the checkerboard or the flat background)."""
    px, py, pw = rect["x"], rect["y"], rect["w"]
    grid_w = g["cols"] * g["cell_w"] + (g["cols"] - 1) * g["gap"]
    scale = pw / grid_w
    errors = []
    for i in range(len(imgs)):
        ox = (i % g["cols"]) * (g["cell_w"] + g["gap"])
        oy = (i // g["cols"]) * (g["cell_h"] + g["gap"])
        for y in range(g["cell_h"]):
            for x in range(g["cell_w"]):
                sx = px + (ox + x + 0.5) * scale
                sy = py + (oy + y + 0.5) * scale
                fx, fy = int(sx - px) + 0.5, int(sy - py) + 0.5  # the fragment's coordinate
                if checker:
                    k = (np.floor(fx / 8) + np.floor(fy / 8)) % 2
                    bg = np.full(3, 0.82 * (1 - k) + 0.64 * k)
                else:
                    bg = np.array(background)
                rgba = imgs[i, y, x]
                want = (rgba[:3] * rgba[3] + bg * (1 - rgba[3])) * 255
                errors.append(np.abs(shot[int(sy), int(sx)] - want).max())
    return np.array(errors)


def main():
    shot_path, plugin_path, binding = sys.argv[1:4]
    sys.path.insert(0, binding)
    import ddpm_plugin

    side = json.load(open(shot_path + ".json"))
    assert side["status"] == "done", "the studio's run did not finish: %s" % side["status"]
    shot = read_png_rgb(shot_path)
    region = check_region(shot, side["preview"])

    g, r = side["grid"], side["request"]
    lib = ddpm_plugin.Library(plugin_path)
    # The studio's guidance interval: on, the plugin's per-sampler default; off, every step.
    interval = {} if r["guidance_interval"] else dict(guidance_min_sigma=0, guidance_max_sigma=0)
    with lib.load_model(side["model"]) as model:
        job = model.generate(batch=r["batch"], classes=r["classes"], guidance=r["guidance"],
                             sampler=r["sampler"], steps=r["steps"], eta=r["eta"], seed=r["seed"],
                             tiling=1 if r["tiling"] else 0, clip_x0=1 if r["clip_x0"] else 0,
                             preview_every=0, **interval)
        values = job.result_f32()
        c = job.channels
        job.close()
    imgs = to_rgba(values, r["batch"], g["cell_h"], g["cell_w"], c)
    errors = compare_grid(shot, side["preview"], g, imgs, side["checker"], side["background"])
    print("compared %d pixels: mean abs error %.2f, max %.2f (of 255); preview std %.1f"
          % (errors.size, errors.mean(), errors.max(), region.std()))
    assert errors.mean() < 1.5 and errors.max() <= 4, "the preview differs from the plugin's result"
    print("ok")


if __name__ == "__main__":
    main()
