"""Runs inside Blender (`blender -b --factory-startup --python-exit-code 1 --python THIS -- ARGS`):
installs the add-on zip, generates through its operator and compares the Blender image with the
plugin's own result for the same request (rows flipped: Blender's are bottom-up), makes a
tileable texture and its material, fine-tunes for a few steps, and checks the error reports.

ARGS: ADDON_ZIP SAMPLES_FOLDER SCRATCH_DIR
"""
import os
import sys

import bpy
import numpy as np

zip_path, samples, scratch = sys.argv[sys.argv.index("--") + 1:][:3]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def expect_error(op, needle, what):
    try:
        op()
    except RuntimeError as e:  # Blender turns an operator's ERROR report into RuntimeError
        text = str(e)
        check(needle in text and "Traceback" not in text, "%s: %s" % (what, text.strip()))
        return
    check(False, what + ": no error reported")


bpy.ops.preferences.addon_install(filepath=zip_path, overwrite=True)
bpy.ops.preferences.addon_enable(module="ddpm_blender")
import ddpm_blender  # noqa: E402  (installed just now)
from ddpm_blender import runtime  # noqa: E402

lib_path = runtime.library_path()
check(lib_path == os.path.join(runtime.addon_dir(), "libddpm_plugin.so"),
      "the library is found beside the add-on: " + lib_path)

s = bpy.context.scene.ddpm
s.class_name = "smileys"
s.sampler, s.steps, s.seed, s.count, s.guidance = "ddim", 8, 11, 2, 3.0
bpy.ops.ddpm.generate()
img = [bpy.data.images["DDPM"], bpy.data.images["DDPM 2"]]
lib = runtime.library()
model = lib.load_model(runtime.model_path(""))
job = model.generate(batch=2, class_index=model.info()["class_names"].index("smileys"),
                     sampler="ddim", steps=8, seed=11, guidance=3.0)
want = np.frombuffer(job.result_rgba8(), np.uint8).reshape(2, model.height, model.width, 4)
for i, image in enumerate(img):
    got = np.array(image.pixels[:], np.float32).reshape(model.height, model.width, 4)
    got = np.round(got[::-1] * 255).astype(np.uint8)  # bottom-up -> top-down
    diff = int(np.abs(got.astype(int) - want[i]).max())
    check(diff == 0, "image %d equals the plugin's result pixel for pixel (max diff %d)" % (i, diff))
    check(image.packed_file is not None, "image %d is packed into the .blend" % i)
check(float(want[:, :, :, :3].std()) > 10, "the images are not flat (std %.1f)"
      % want[:, :, :, :3].std())
# Flipped would differ: the comparison sees orientation.
check(np.abs(want[0][::-1].astype(int) - want[0]).max() > 0, "the picture is not symmetric upside down")

s.tiling, s.make_material, s.count, s.image_name = True, True, 1, "Tile"
bpy.ops.ddpm.generate()
tile = np.array(bpy.data.images["Tile"].pixels[:]).reshape(model.height, model.width, 4)[::-1]
job = model.generate(class_index=model.info()["class_names"].index("smileys"), sampler="ddim",
                     steps=8, seed=11, guidance=3.0, tiling=1)
want_tile = np.frombuffer(job.result_rgba8(), np.uint8).reshape(model.height, model.width, 4)
check(np.abs(np.round(tile * 255) - want_tile).max() == 0, "tileable texture equals the plugin's")
mat = bpy.context.active_object.active_material
check(mat is not None and any(n.type == "TEX_IMAGE" and n.image == bpy.data.images["Tile"]
                              for n in mat.node_tree.nodes),
      "the material on the active object uses the texture")

# Fine-tune a few steps on a real folder; the result becomes the panel's model.
s.train_folder, s.train_output = samples, os.path.join(scratch, "tuned.safetensors")
s.train_steps, s.train_batch = 3, 4
bpy.ops.ddpm.finetune()
check(s.model_path == os.path.join(scratch, "tuned.safetensors") and os.path.isfile(s.model_path),
      "the fine-tuned model is written and loaded as the panel's model")
check(runtime.class_names(s.model_path) == sorted(os.listdir(samples)) or
      set(sorted(os.listdir(samples))) - {"LICENSE.md"} <= set(runtime.class_names(s.model_path)),
      "its classes are the folder's: %s" % runtime.class_names(s.model_path))

# Error paths: Blender's error report naming the problem, never a traceback.
# The Device preference: CUDA is refused by name without a GPU (and used where there is one);
# back on the CPU the same request generates again.
prefs = bpy.context.preferences.addons["ddpm_blender"].preferences
prefs.device = "cuda"
try:
    bpy.ops.ddpm.generate()
    check(runtime.model_info(s.model_path)["device"].startswith("cuda"), "Device CUDA generates on a GPU")
except RuntimeError as e:
    check("'cuda'" in str(e) and "Traceback" not in str(e), "Device CUDA without a GPU: %s" % str(e).strip())
prefs.device = "cpu"
bpy.ops.ddpm.generate()
check(runtime.model_info(s.model_path)["device"] == "cpu", "Device CPU generates on the CPU again")

s.model_path = os.path.join(scratch, "missing.safetensors")
expect_error(bpy.ops.ddpm.generate, "missing.safetensors", "a missing model")
bad = os.path.join(scratch, "corrupt.safetensors")
with open(bad, "wb") as f:
    f.write(b"not a model at all")
s.model_path = bad
expect_error(bpy.ops.ddpm.generate, "corrupt.safetensors", "a corrupt model")
s.model_path, s.train_folder = "", os.path.join(scratch, "no_such_folder")
expect_error(bpy.ops.ddpm.finetune, "no_such_folder", "a missing asset folder")
empty = os.path.join(scratch, "empty_folder")
os.makedirs(empty, exist_ok=True)
s.train_folder, s.train_output = empty, os.path.join(scratch, "empty.safetensors")
expect_error(bpy.ops.ddpm.finetune, "fine-tune failed", "a folder without images")
bpy.context.preferences.addons["ddpm_blender"].preferences.library_path = "/nonexistent/lib.so"
s.train_folder = samples
expect_error(bpy.ops.ddpm.generate, "/nonexistent/lib.so", "a wrong library path")

if failures:
    print("%d checks failed" % len(failures))
    sys.exit(1)
print("all checks passed")
