#!/usr/bin/python3
"""Writes hostile model files into a folder, each made from the default model by one change,
for abi_misuse and the CLI rows of docs/robustness.md:  make_bad_models.py OUT_DIR"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
model = open(os.path.join(ROOT, "assets/emoji32/model.safetensors"), "rb").read()
n = struct.unpack("<Q", model[:8])[0]
header = json.loads(model[8:8 + n])
data = model[8 + n:]


def put(name, b):
    with open(os.path.join(out, name), "wb") as f:
        f.write(b)


def with_header(h, body=data):
    text = json.dumps(h).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + body


def with_info(change):
    h = json.loads(json.dumps(header))
    info = json.loads(h["__metadata__"]["ddpm"])
    change(info)
    h["__metadata__"]["ddpm"] = json.dumps(info)
    return with_header(h)


put("truncated.safetensors", model[: len(model) // 2])
put("header_length_2e60.safetensors", struct.pack("<Q", 1 << 60) + model[8:4096])
put("header_not_json.safetensors", struct.pack("<Q", 16) + b"{not json at all" + data[:64])
h = json.loads(json.dumps(header))
first = next(k for k in h if k != "__metadata__")
h[first]["data_offsets"] = [0, 1 << 62]
put("offsets_past_end.safetensors", with_header(h))
h = json.loads(json.dumps(header))
h[first]["shape"] = [1 << 40, 1 << 40, 1 << 40]
put("shape_overflow.safetensors", with_header(h))
h = json.loads(json.dumps(header))
h[first]["dtype"] = "F8_E4M3"
put("unknown_dtype.safetensors", with_header(h))
h = json.loads(json.dumps(header))
del h["__metadata__"]
put("no_description.safetensors", with_header(h))
h = json.loads(json.dumps(header))
h.pop(first)
put("tensor_missing.safetensors", with_header(h, b""))  # offsets no longer tile: refused early
put("guidance_1e300.safetensors", with_info(lambda i: i.update(guidance=1e300)))
put("in_channels_1e300.safetensors", with_info(lambda i: i["unet"].update(in_channels=1e300)))
put("image_size_33.safetensors", with_info(lambda i: i["unet"].update(image_size=33)))
put("num_classes_mismatch.safetensors", with_info(lambda i: i["unet"].update(num_classes=4)))
put("format_version_2.safetensors", with_info(lambda i: i.update(format_version=2)))
put("timesteps_0.safetensors", with_info(lambda i: i["schedule"].update(timesteps=0)))
put("base_channels_8.safetensors", with_info(lambda i: i["unet"].update(base_channels=8)))
for f in ["os_system.pt", "beyond_storage.pt", "truncated_storage.pt", "not_a_tensor.pt"]:
    put(f, open(os.path.join(ROOT, "tests/fixtures/torch", f), "rb").read())
put("image.png", open(os.path.join(ROOT, "tests/fuzz/corpus/image/rgba.png"), "rb").read())
put("training_checkpoint.safetensors",
    open(os.path.join(ROOT, "tests/fuzz/corpus/training_checkpoint/emoji32_small.ckpt"), "rb").read())
