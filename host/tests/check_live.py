#!/usr/bin/env python3
"""Checks a screenshot of the studio's scripted Live mode.

Usage: check_live.py SCREENSHOT.png PLUGIN_LIBRARY PYTHON_BINDING_DIR MIN_FRAMES [PRECISION]

Reads SCREENSHOT.png.json (written by `ddpm-studio --live-frames N --screenshot ...`) and checks
that the stream finished at least MIN_FRAMES frames, that the frame shown took as many calls
from entry to output as the pipeline has stages, that its class is the one the scripted class
change predicts, and that the preview and the strip of in-flight images are neither the
window's clear colour nor uniform. For a run the studio advanced itself (mode "advance", the
deterministic default) it replays the same calls through the plugin (the same stream, the
class changed after the same call) and compares the preview with the plugin's own frame, and
the strip with the plugin's in-flight images.
"""
import ctypes
import json
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from PIL import Image  # noqa: E402
from check_screenshot import check_region, compare_grid, read_png_rgb, to_rgba  # noqa: E402


def expected_class(side):
    """The class of the frame shown: the opening class until the scripted change reaches the
    output (the first frame that entered after it, or with apply_to_inflight the first frame
    finished after it)."""
    r, f = side["request"], side["frame"]
    if r["class_after"] < 0 or r["class_after_index"] < 0:
        return r["class_index"]
    after = f["call"] if r["apply_to_inflight"] else f["entered_call"]
    return r["class_after_index"] if after > r["class_after"] else r["class_index"]


def replay(lib, side):
    """The same stream driven through the plugin: (frame floats, frame info, slot floats, count,
    image shape)."""
    from ddpm_plugin import StreamFrame

    r, f = side["request"], side["frame"]
    with lib.load_model(side["model"]) as model:
        stream = model.stream(sampler=r["sampler"], steps=r["steps"], eta=r["eta"],
                              class_index=r["class_index"], guidance=r["guidance"],
                              seed_path=r["seed_path_index"], seed=r["seed"],
                              seed_period=r["seed_period"], blend=r["blend"],
                              clip_x0=int(r["clip_x0"]), tiling=int(r["tiling"]),
                              image_input=int(r["image_input"]), strength=r["strength"])
        if r["image_input"]:
            with Image.open(r["init"]) as im:
                rgba = im.convert("RGBA")
            stream.push_input_rgba8(rgba.tobytes(), rgba.width, rgba.height)
        for call in range(f["call"]):
            if call == r["class_after"] and r["class_after_index"] >= 0:
                stream.set_class(r["class_after_index"], r["apply_to_inflight"])
            stream.advance()
        n = model.width * model.height * model.channels
        frame = (ctypes.c_float * n)()
        info = StreamFrame()
        info.struct_size = ctypes.sizeof(info)
        lib.check(lib.lib.ddpm_stream_read_frame(stream.handle, frame, n, ctypes.byref(info)))
        count = ctypes.c_int()
        lib.check(lib.lib.ddpm_stream_read_slots(stream.handle, None, 0, ctypes.byref(count)))
        slots = (ctypes.c_float * max(1, n * count.value))()
        lib.check(lib.lib.ddpm_stream_read_slots(stream.handle, slots, len(slots), ctypes.byref(count)))
        shape = (model.height, model.width, model.channels)
        stream.close()
    return list(frame), info, list(slots)[:n * count.value], count.value, shape


def main():
    shot_path, plugin_path, binding, min_frames = sys.argv[1:5]
    precision = sys.argv[5] if len(sys.argv) > 5 else None  # the studio's --precision
    min_frames = int(min_frames)
    sys.path.insert(0, binding)
    import ddpm_plugin

    side = json.load(open(shot_path + ".json"))
    assert side["status"] == "done", "the studio's stream did not finish: %s" % side["status"]
    r, f, st = side["request"], side["frame"], side["stats"]
    stages = max(1, round(r["strength"] * r["steps"])) if r["image_input"] else r["steps"]
    assert side["frames"] >= min_frames and f["number"] >= min_frames, \
        "%d frames finished, %d shown; expected at least %d" % (side["frames"], f["number"], min_frames)
    assert side["latency"] == stages and st["latency"] == stages, \
        "latency %d calls (stats %d), expected %d" % (side["latency"], st["latency"], stages)
    assert expected_class(side) == f["class_index"], \
        "the frame shown has class %d, expected %d" % (f["class_index"], expected_class(side))
    if r["mode"] == "run":
        assert st["calls_per_second"] > 0, "the worker reports no calls per second"
    shot = read_png_rgb(shot_path)
    region = check_region(shot, side["preview"])
    slots_region = check_region(shot, side["slots"], "strip of in-flight images")
    print("live: %d frames, frame %d at call %d, latency %d calls, class %s, %.1f fps, %.1f calls/s, "
          "%d in flight; preview std %.1f, strip std %.1f"
          % (side["frames"], f["number"], f["call"], side["latency"], f["class"], side["fps"],
             st["calls_per_second"], side["slots"]["grid"]["batch"], region.std(), slots_region.std()))
    if r["mode"] != "advance":
        # The worker's timing decides which calls the class change falls between.
        print("ok (a run on the worker is not replayed)")
        return
    if r["image_input"]:
        with Image.open(r["init"]) as im:
            if im.size != (side["grid"]["cell_w"], side["grid"]["cell_h"]):
                print("ok (the studio resized the input image itself: not replayed)")
                return

    lib = ddpm_plugin.Library(plugin_path)
    if precision:
        lib.set_precision(precision)
    frame, info, slots, count, (h, w, c) = replay(lib, side)
    assert info.number == f["number"], "the replay finished frame %d, the studio %d" % (info.number, f["number"])
    errors = compare_grid(shot, side["preview"], side["grid"], to_rgba(frame, 1, h, w, c),
                          side["checker"], side["background"])
    print("frame: compared %d pixels: mean abs error %.2f, max %.2f (of 255)"
          % (errors.size, errors.mean(), errors.max()))
    assert errors.mean() < 1.5 and errors.max() <= 4, "the preview differs from the plugin's frame"
    sg = side["slots"]["grid"]
    assert count == sg["batch"], "the replay has %d images in flight, the studio shows %d" % (count, sg["batch"])
    errors = compare_grid(shot, side["slots"], sg, to_rgba(slots, count, h, w, c), side["checker"],
                          side["background"])
    print("in flight: compared %d pixels: mean abs error %.2f, max %.2f (of 255)"
          % (errors.size, errors.mean(), errors.max()))
    assert errors.mean() < 1.5 and errors.max() <= 4, "the strip differs from the plugin's in-flight images"
    print("ok")


if __name__ == "__main__":
    main()
