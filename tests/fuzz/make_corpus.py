#!/usr/bin/python3
"""Makes the seed corpora of tests/fuzz/corpus/<target>/ from real files of the repository:
the default model's header and description, the PyTorch fixtures, the sample assets.
Small on purpose (the whole corpus is a few hundred KB); rerun after a format change.

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import io
import json
import os
import struct
import zipfile
import zlib

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def safetensors(tensors, metadata):
    """tensors: list of (name, dtype, shape, bytes), laid out in order, header padded to 8."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


# --- model files: the default model's description and its first small tensors, real bytes ---
model = read("assets/emoji32/model.safetensors")
n = struct.unpack("<Q", model[:8])[0]
header = json.loads(model[8:8 + n])
meta = header.pop("__metadata__")
data = model[8 + n:]
small = sorted(((k, v) for k, v in header.items() if v["data_offsets"][1] - v["data_offsets"][0] <= 64),
               key=lambda kv: kv[1]["data_offsets"][0])[:6]
tensors = [(k, v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in small]
put("safetensors", "emoji32_small.safetensors", safetensors(tensors, meta))
put("safetensors", "no_metadata.safetensors", safetensors(tensors[:2], None))
put("safetensors", "empty.safetensors", safetensors([], {"format": "ddpm-realtime"}))
f16 = [("w", "F16", [2, 2], b"\x00\x3c" * 4), ("b", "BF16", [2], b"\x80\x3f" * 2),
       ("s", "I64", [], b"\x07" + b"\x00" * 7), ("z", "F32", [0, 3], b"")]
put("safetensors", "dtypes.safetensors", safetensors(f16, {"ddpm": meta["ddpm"]}))
put("safetensors", "ref_w4_cond_io.safetensors", read("tests/fixtures/reference/ref_w4_cond_io.safetensors")[:4096])

# --- model description JSON ---
put("model_json", "emoji32.json", meta["ddpm"].encode())
seed64 = json.loads(meta["ddpm"])
seed64["unet"].update(preset="seed64", in_channels=3, out_channels=3, image_size=64, base_channels=64,
                      channel_mult=[1, 2, 4, 4], attention_resolutions=[8, 16, 32, 64], time_dim=256,
                      num_classes=10)
seed64["class_names"] = ["class_%d" % i for i in range(10)]
seed64["schedule"]["kind"] = "cosine"
seed64["variance"] = "beta_tilde"
put("model_json", "seed64.json", json.dumps(seed64).encode())
uncond = dict(seed64, class_names=[])
uncond["unet"] = dict(seed64["unet"], num_classes=0)
put("model_json", "uncond.json", json.dumps(uncond, separators=(",", ":")).encode())

# --- training checkpoints: what save_training_checkpoint writes, with small tensors ---
ckpt_meta = dict(meta)
ckpt_meta["kind"] = "training-checkpoint"
ckpt_meta["optimizer"] = json.dumps({"lr": 3e-4, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                                     "weight_decay": 0.01, "amsgrad": False})
ckpt_meta["trainer"] = json.dumps({"batch": 4, "steps": 100})
ck = []
for name, dtype, shape, b in tensors[:3]:
    ck += [("model." + name, dtype, shape, b), ("ema." + name, dtype, shape, b)]
    ck += [("optim." + name + ".step", "I64", [], struct.pack("<q", 12)),
           ("optim." + name + ".exp_avg", dtype, shape, b), ("optim." + name + ".exp_avg_sq", dtype, shape, b)]
ck.append(("rng.cpu", "U8", [16], bytes(range(16))))
put("training_checkpoint", "emoji32_small.ckpt", safetensors(ck, ckpt_meta))
ams = dict(ckpt_meta, optimizer=json.dumps({"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8,
                                           "weight_decay": 0.0, "amsgrad": True}))
put("training_checkpoint", "amsgrad.ckpt", safetensors(ck[:1] + [ck[-1]], ams))
put("training_checkpoint", "model_not_checkpoint.safetensors", safetensors(tensors[:1], meta))

# --- PyTorch checkpoints: the fixtures made by tests/fixtures/make_torch_checkpoints.py ---
for f in ["module.pt", "module_legacy.pt", "mixed.pt", "mixed_legacy.pt", "beyond_storage.pt",
          "not_a_tensor.pt", "os_system.pt", "truncated_storage.pt"]:
    put("torch_checkpoint", f, read("tests/fixtures/torch/" + f))
    if not f.endswith("_legacy.pt") and zipfile.is_zipfile(os.path.join(ROOT, "tests/fixtures/torch", f)):
        z = zipfile.ZipFile(os.path.join(ROOT, "tests/fixtures/torch", f))
        for info in z.infolist():
            if info.filename.endswith("/data.pkl"):
                put("pickle", f.replace(".pt", ".pkl"), z.read(info))
for f in ["module.pt", "mixed.pt", "os_system.pt"]:
    put("zip", f, read("tests/fixtures/torch/" + f))
# A legacy file is a stream of pickles: the state_dict one is the fourth.
legacy = read("tests/fixtures/torch/module_legacy.pt")
put("pickle", "legacy_stream.pkl", legacy[:1024])
# A plain zip with a comment and two stored entries.
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    for name, body in [("archive/data.pkl", b"\x80\x02}q\x00."), ("archive/byteorder", b"little")]:
        z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), body)  # reproducible
    z.comment = b"made by make_corpus.py"
put("zip", "comment.zip", buf.getvalue())

# --- images: real sample assets in every accepted format and layout, kept tiny ---
src = Image.open(os.path.join(ROOT, "assets/samples/animals/butterfly.png")).convert("RGBA")
small_img = src.resize((12, 10), Image.NEAREST)


def save(name, im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    put("image", name, b.getvalue())


save("rgba.png", small_img, "PNG")
save("rgb_interlaced.png", small_img.convert("RGB"), "PNG", interlace=1)
save("gray.png", small_img.convert("L"), "PNG")
save("gray_alpha.png", small_img.convert("LA"), "PNG")
save("palette.png", small_img.convert("P"), "PNG")
save("bits1.png", small_img.convert("1"), "PNG")
put("image", "rgba16.png", read("tests/fixtures/images/rgba16.png"))
save("baseline.jpg", small_img.convert("RGB"), "JPEG", quality=80)
save("progressive.jpg", small_img.convert("RGB"), "JPEG", quality=70, progressive=True)
save("gray.jpg", small_img.convert("L"), "JPEG")
save("rgb444.jpg", small_img.convert("RGB"), "JPEG", quality=95, subsampling=0)
save("cmyk.jpg", small_img.convert("RGB").convert("CMYK"), "JPEG", quality=95)  # Adobe, inverted
save("subsampled.jpg", src.convert("RGB").resize((17, 9)), "JPEG", subsampling=2)
save("rgb.bmp", small_img.convert("RGB"), "BMP")
save("rgba.bmp", small_img, "BMP")
save("palette.bmp", small_img.convert("P"), "BMP")
save("rgba.tga", small_img, "TGA")
save("rle.tga", small_img.convert("RGB"), "TGA", compression="tga_rle")
save("gray.tga", small_img.convert("L"), "TGA")
save("still.gif", small_img.convert("P"), "GIF")
frames = [small_img.convert("P"), small_img.rotate(90).convert("P")]
save("animated.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


# --- regressions: inputs that once crashed or misbehaved, kept so every run replays them ---
# A JPEG whose first Huffman table declares 512 codes: Debian 12's stb_image writes past its
# 257-byte size table on it (heap overflow); decode_image refuses it before stb sees it.
jpg = bytearray(open(os.path.join(OUT, "image", "baseline.jpg"), "rb").read())
dht = jpg.index(b"\xff\xc4")
for k in range(16):
    jpg[dht + 5 + k] = 0x20
put("image", "regress_jpeg_dht_overflow.jpg", bytes(jpg))
# A 67-byte PNG that declares 8192x8192 RGBA: refused from its header, before 256 MiB are
# allocated for the decoder.
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
forged = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8192, 8192, 8, 6, 0, 0, 0)) + \
    chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
put("image", "regress_forged_size.png", forged)
# A legal 4x4 PNG whose first IDAT chunk is empty: stb_image then forms NULL + 0 and memcpy's 0
# bytes to NULL (UBSan, found by fuzz_image); core/io/CMakeLists.txt turns those two checks off
# for stb alone.
rows = b"".join(b"\x00" + b"\x80" * 12 for _ in range(4))
empty_idat = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)) + \
    chunk(b"IDAT", b"") + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
put("image", "regress_empty_first_idat.png", empty_idat)
# Model descriptions with numbers C++ cannot hold (undefined float-to-int conversions before).
bad = json.loads(meta["ddpm"])
bad["guidance"] = 1e300
bad["unet"]["in_channels"] = 1e300
put("model_json", "regress_huge_numbers.json", json.dumps(bad).encode())
put("model_json", "regress_deep.json", b'{"format_version":1,"unet":' + b"[" * 5000 + b"]" * 5000 + b"}")

# --- the C ABI's params structs (fuzz_abi_params.cpp): [kind][flags][size mode][size, 2 bytes]
# [12 choice bytes][patches: offset after struct_size, length - 1, bytes]. Offsets are those of
# the x86-64 header (the fuzzer mutates from there anyway).
def abi(kind, flags=0, choices=(), patches=(), mode=0, size=0):
    c = bytes(choices) + bytes(12 - len(choices))
    out = bytes([kind, flags, mode]) + struct.pack("<H", size) + c
    for offset, value in patches:
        out += bytes([offset - 8, len(value) - 1]) + value
    return out
i32 = lambda v: struct.pack("<i", v)
# generate: a cheap job run to the end; image-to-image with a mask; per-image classes with the
# step callback; the oldest struct size (up to init_image_f32); a batch of 4096 (cancelled)
put("abi_params", "generate_cheap", abi(0, 0, [0, 1, 2], [(48, i32(2))]))
put("abi_params", "generate_img2img_mask", abi(0, 0, [0, 1, 2, 1, 1], [(48, i32(4)), (96, i32(16)), (100, i32(16))]))
put("abi_params", "generate_classes_callback", abi(0, 2, [2, 0, 3], [(8, i32(2)), (24, struct.pack("<Q", 2)), (48, i32(2))]))
put("abi_params", "generate_old_size", abi(0, 0, [0, 1, 2], [(48, i32(2))], mode=1, size=64))
put("abi_params", "generate_huge_batch", abi(0, 4, [], [(8, i32(4096))]))
# streams: one advance; an image-input stream with a 16x16 8-bit input, two advances, run+pause
put("abi_params", "stream_advance", abi(1, 0x10, [2, 0, 0, 0, 0, 3, 64, 1, 1, 0, 0, 1], [(24, i32(4))]))
put("abi_params", "stream_image_input", abi(1, 0x28, [2, 1, 3, 3, 2, 1, 90, 2, 0, 40, 0, 0], [(24, i32(3)), (60, i32(1))]))
# training: a new sprite32 model on the harness's asset folder, and fine-tuning the tiny model
# with the callback (both cancelled at once); a struct_size past the 4096 limit
put("abi_params", "train_new", abi(2, 0, [4, 2, 0, 0, 4]))
put("abi_params", "train_finetune_callback", abi(2, 2, [4, 2, 4, 4, 4, 0, 2]))
put("abi_params", "train_size_too_large", abi(2, 0, [4, 2, 0, 0, 4], mode=3, size=5000))
# import: the reference fixture with 3 class names; the tiny model file, which is no .pt
put("abi_params", "import_fixture", abi(3, 0, [1, 4, 4, 1], [(16, i32(3)), (20, i32(16))]))
put("abi_params", "import_not_pt", abi(3, 0, [0, 9, 4, 1]))
# regression: training image_size 4112 (over 4096) was refused only after the asset folder had
# been decoded at 5140 px (16 s an execution); now refused before (core/src/trainer.cpp)
put("abi_params", "regress_train_image_size_4112", abi(2, 0, [4, 2, 0, 0, 4], [(24, i32(4112))]))

total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
print("corpus:", total, "bytes")
