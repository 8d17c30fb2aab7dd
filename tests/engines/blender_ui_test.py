"""Runs inside Blender with a window (under xvfb-run): the Generate button's path, a modal
operator polled by a window timer. Checks that the UI kept running while the job did (several
progress values seen from another timer), that the Image Editor shows the finished image and
that it equals the plugin's own result; writes a screenshot; then runs the Fine-tune button for a
few steps and checks that its model becomes the panel's.

blender FILE.blend --python THIS -- ADDON_PARENT_DIR PLUGIN_LIBRARY MODEL SCREENSHOT
"""
import os
import sys

import addon_utils
import bpy
import numpy as np

addon_parent, library, model_path, screenshot = sys.argv[sys.argv.index("--") + 1:][:4]
sys.path.insert(0, addon_parent)
addon_utils.enable("ddpm_blender", default_set=True)
from ddpm_blender import runtime  # noqa: E402

bpy.context.preferences.addons["ddpm_blender"].preferences.library_path = library
s = bpy.context.scene.ddpm
s.model_path = model_path
# 100 steps: long enough (about 1 s) for the watching timer to see the job in progress twice,
# now that a 20-step image takes under 0.2 s.
STEPS = 100
s.class_name, s.steps, s.seed = "smileys", STEPS, 3
state = {"tick": 0, "progress": set()}


def fail(message):
    print("FAIL " + message, flush=True)
    os._exit(1)


def tick():
    # An exception in a timer only prints: the window would stay open until the test's timeout.
    try:
        return step()
    except Exception as e:  # noqa: BLE001
        fail("%s: %s" % (type(e).__name__, e))


def step():
    state["tick"] += 1
    win = bpy.context.window_manager.windows[0]
    area = max(win.screen.areas, key=lambda a: a.width * a.height)
    region = next((r for r in area.regions if r.type == "WINDOW"), None)
    if state["tick"] == 1:
        area.type = "IMAGE_EDITOR"
        area.spaces.active.show_region_ui = True
        return 0.5
    if state["tick"] == 2:
        with bpy.context.temp_override(window=win, area=area, region=region):
            if bpy.ops.ddpm.generate("INVOKE_DEFAULT") != {"RUNNING_MODAL"}:
                fail("the Generate operator did not start")
        return 0.05
    if s.running:
        state["progress"].add(round(s.progress))
        if state["tick"] > 2000:
            fail("the job did not end")
        return 0.05
    if state["tick"] == state.setdefault("ended", state["tick"]):
        with bpy.context.temp_override(window=win, area=area, region=region):
            bpy.ops.image.view_zoom_ratio(ratio=8)
        return 0.3
    if len(state["progress"]) < 2:
        fail("fewer than two progress values seen while the job ran: %s" % state["progress"])
    image = area.spaces.active.image
    if image is None or image.name != "DDPM":
        fail("the Image Editor does not show the generated image")
    model = runtime.model(model_path)
    job = model.generate(class_index=model.info()["class_names"].index("smileys"),
                         sampler=s.sampler, steps=STEPS, seed=3, guidance=s.guidance)
    want = np.frombuffer(job.result_rgba8(), np.uint8).reshape(model.height, model.width, 4)
    got = np.array(image.pixels[:]).reshape(model.height, model.width, 4)[::-1]
    diff = np.abs(np.round(got * 255) - want).max()
    if diff != 0:
        fail("the shown image differs from the plugin's result (max diff %d)" % diff)
    print("ok   progress seen while the UI ran: %s; image equals the plugin's"
          % sorted(state["progress"]), flush=True)
    bpy.ops.screen.screenshot(filepath=screenshot)
    # Then the Fine-tune button, the other modal operator: status-bar progress, model swapped.
    root = os.path.dirname(os.path.dirname(os.path.abspath(addon_parent)))
    s.train_folder = os.path.join(root, "assets", "samples")
    s.train_output = os.path.join(os.path.dirname(os.path.abspath(screenshot)), "ui-tuned.safetensors")
    s.train_steps, s.train_batch = 3, 4
    with bpy.context.temp_override(window=win, area=area, region=region):
        if bpy.ops.ddpm.finetune("INVOKE_DEFAULT") != {"RUNNING_MODAL"}:
            fail("the Fine-tune operator did not start")
    bpy.app.timers.register(watch_finetune, first_interval=0.05)
    return None


def watch_finetune():
    try:
        if s.training:
            state["tune_ticks"] = state.get("tune_ticks", 0) + 1
            if state["tune_ticks"] > 2400:
                fail("the fine-tune did not end")
            return 0.05
        if s.model_path != s.train_output or not os.path.isfile(s.train_output):
            fail("the fine-tuned model is not the panel's model: %r" % s.model_path)
        print("ok   the Fine-tune button trained with the UI running (%d polls) and loaded %s"
              % (state.get("tune_ticks", 0), s.model_path), flush=True)
        os._exit(0)
    except Exception as e:  # noqa: BLE001
        fail("%s: %s" % (type(e).__name__, e))


bpy.app.timers.register(tick, first_interval=1.0)
