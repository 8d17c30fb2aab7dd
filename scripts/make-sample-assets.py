#!/usr/bin/env python3
"""Build the small sample image set in assets/samples/ from emoji-datasource-google.

Standard library only (no PIL, no numpy).

Usage:
    npm pack emoji-datasource-google@16.0.0
    /usr/bin/python3 scripts/make-sample-assets.py emoji-datasource-google-16.0.0.tgz

SOURCE is either the .tgz produced by `npm pack` or the unpacked package
directory (the one containing emoji.json and img/). OUTPUT defaults to
assets/samples next to this script's parent directory.

For each of three visually distinct emoji categories, 20 images are chosen
deterministically (entries sorted by sort_order, evenly spaced picks; only
base entries, never skin-tone variants; only entries with a Google image).
Each 64x64 PNG is decoded with a small pure-Python decoder, downsampled to
32x32 with an alpha-premultiplied 2x2 box filter, and written as a 32x32
8-bit RGBA PNG to OUTPUT/<class>/<short_name>.png.
"""

import argparse
import json
import os
import re
import struct
import sys
import tarfile
import zlib

# (subfolder name, emoji.json category)
CLASSES = [
    ("smileys", "Smileys & Emotion"),
    ("animals", "Animals & Nature"),
    ("travel", "Travel & Places"),
]
PER_CLASS = 20
# --full: every category but "Component" (five swatches, not icons), every base image. Skin-tone
# variants are left out: they would make "people" five times larger with near-duplicates of
# the same shapes, unbalancing the classes without teaching new ones.
FULL_CLASSES = [
    ("smileys", "Smileys & Emotion"),
    ("people", "People & Body"),
    ("animals", "Animals & Nature"),
    ("food", "Food & Drink"),
    ("travel", "Travel & Places"),
    ("activities", "Activities"),
    ("objects", "Objects"),
    ("symbols", "Symbols"),
    ("flags", "Flags"),
]
IMG_DIR = "img/google/64"
SRC_SIZE = 64
DST_SIZE = 32

PNG_SIG = b"\x89PNG\r\n\x1a\n"


class PngError(Exception):
    pass


# --------------------------------------------------------------------------
# Source access: unpacked directory or npm tarball
# --------------------------------------------------------------------------

class PackageSource:
    def __init__(self, path):
        self.path = path
        self.tar = None
        self.prefix = None
        if os.path.isdir(path):
            if os.path.isfile(os.path.join(path, "emoji.json")):
                self.root = path
            elif os.path.isfile(os.path.join(path, "package", "emoji.json")):
                self.root = os.path.join(path, "package")
            else:
                raise SystemExit("error: no emoji.json in %s (or %s/package)" % (path, path))
        elif os.path.isfile(path) and tarfile.is_tarfile(path):
            self.tar = tarfile.open(path, "r:*")
            self.members = {m.name: m for m in self.tar.getmembers() if m.isfile()}
            for name in self.members:
                if name.endswith("emoji.json") and name.count("/") <= 1:
                    self.prefix = name[: -len("emoji.json")]
                    break
            if self.prefix is None:
                raise SystemExit("error: no emoji.json in tarball %s" % path)
        else:
            raise SystemExit("error: %s is neither a directory nor a tarball" % path)

    def read(self, rel):
        if self.tar is None:
            with open(os.path.join(self.root, rel), "rb") as f:
                return f.read()
        m = self.members.get(self.prefix + rel)
        if m is None:
            raise KeyError(rel)
        return self.tar.extractfile(m).read()

    def exists(self, rel):
        if self.tar is None:
            return os.path.isfile(os.path.join(self.root, rel))
        return (self.prefix + rel) in self.members


# --------------------------------------------------------------------------
# Minimal PNG decoder (8-bit, non-interlaced; colour types 0, 2, 3, 4, 6)
# --------------------------------------------------------------------------

def _paeth(a, b, c):
    p = a + b - c
    pa = abs(p - a)
    pb = abs(p - b)
    pc = abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def decode_png(data, name="<png>"):
    """Return (width, height, rgba) where rgba is a bytearray of w*h*4 bytes."""
    if data[:8] != PNG_SIG:
        raise PngError("%s: not a PNG file" % name)
    pos = 8
    ihdr = None
    plte = None
    trns = None
    idat = []
    while pos < len(data):
        if pos + 8 > len(data):
            raise PngError("%s: truncated chunk header" % name)
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc_bytes = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PngError("%s: truncated %r chunk" % (name, ctype))
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != struct.unpack(">I", crc_bytes)[0]:
            raise PngError("%s: CRC mismatch in %r chunk" % (name, ctype))
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            plte = body
        elif ctype == b"tRNS":
            trns = body
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        elif not (ctype[0] & 0x20):
            raise PngError("%s: unsupported critical chunk %r" % (name, ctype))
    if ihdr is None:
        raise PngError("%s: missing IHDR" % name)
    width, height, depth, color, comp, filt, interlace = ihdr
    if depth != 8:
        raise PngError("%s: unsupported bit depth %d (only 8 is supported)" % (name, depth))
    if color not in (0, 2, 3, 4, 6):
        raise PngError("%s: unsupported colour type %d" % (name, color))
    if comp != 0 or filt != 0:
        raise PngError("%s: unsupported compression/filter method" % name)
    if interlace != 0:
        raise PngError("%s: interlaced PNGs are not supported" % name)
    if color == 3 and plte is None:
        raise PngError("%s: palette image without PLTE" % name)

    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    bpp = channels  # bytes per pixel at 8 bits
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != height * (stride + 1):
        raise PngError("%s: image data has %d bytes, expected %d"
                       % (name, len(raw), height * (stride + 1)))

    # Filter reconstruction.
    pix = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 0:
            pass
        elif ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        else:
            raise PngError("%s: bad filter type %d on row %d" % (name, ftype, y))
        pix[y * stride:(y + 1) * stride] = line
        prev = line

    # Convert to RGBA.
    n = width * height
    out = bytearray(n * 4)
    if color == 6:
        out[:] = pix
    elif color == 2:
        key = struct.unpack(">HHH", trns) if trns and len(trns) == 6 else None
        for i in range(n):
            r, g, b = pix[3 * i], pix[3 * i + 1], pix[3 * i + 2]
            a = 0 if key is not None and (r, g, b) == key else 255
            out[4 * i:4 * i + 4] = bytes((r, g, b, a))
    elif color == 0:
        key = struct.unpack(">H", trns)[0] if trns and len(trns) == 2 else None
        for i in range(n):
            v = pix[i]
            out[4 * i:4 * i + 4] = bytes((v, v, v, 0 if v == key else 255))
    elif color == 4:
        for i in range(n):
            v, a = pix[2 * i], pix[2 * i + 1]
            out[4 * i:4 * i + 4] = bytes((v, v, v, a))
    elif color == 3:
        if len(plte) % 3:
            raise PngError("%s: bad PLTE length" % name)
        npal = len(plte) // 3
        alpha = trns or b""
        for i in range(n):
            idx = pix[i]
            if idx >= npal:
                raise PngError("%s: palette index %d out of range" % (name, idx))
            a = alpha[idx] if idx < len(alpha) else 255
            out[4 * i:4 * i + 4] = bytes((plte[3 * idx], plte[3 * idx + 1], plte[3 * idx + 2], a))
    return width, height, out


# --------------------------------------------------------------------------
# Minimal PNG encoder (8-bit RGBA, filter 0)
# --------------------------------------------------------------------------

def _chunk(ctype, body):
    return (struct.pack(">I", len(body)) + ctype + body
            + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF))


def encode_png_rgba(width, height, rgba):
    stride = width * 4
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        raw += rgba[y * stride:(y + 1) * stride]
    return (PNG_SIG
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + _chunk(b"IEND", b""))


# --------------------------------------------------------------------------
# Alpha-premultiplied 2x2 box downsample
# --------------------------------------------------------------------------

def _div_round(num, den):
    return (2 * num + den) // (2 * den)


def downsample2x(width, height, rgba):
    if width % 2 or height % 2:
        raise ValueError("image size must be even, got %dx%d" % (width, height))
    ow, oh = width // 2, height // 2
    out = bytearray(ow * oh * 4)
    for oy in range(oh):
        for ox in range(ow):
            sr = sg = sb = sa = 0
            for dy in (0, 1):
                base = ((2 * oy + dy) * width + 2 * ox) * 4
                for dx in (0, 4):
                    p = base + dx
                    a = rgba[p + 3]
                    sr += rgba[p] * a
                    sg += rgba[p + 1] * a
                    sb += rgba[p + 2] * a
                    sa += a
            o = (oy * ow + ox) * 4
            if sa:
                out[o] = _div_round(sr, sa)
                out[o + 1] = _div_round(sg, sa)
                out[o + 2] = _div_round(sb, sa)
                out[o + 3] = _div_round(sa, 4)
            # else: fully transparent, leave (0, 0, 0, 0)
    return ow, oh, out


# --------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------

def safe_name(short_name):
    name = re.sub(r"[^a-z0-9_-]+", "_", short_name.lower()).strip("_")
    return name or "emoji"


MIN_GROUP = 20


def subcategory_groups(entries):
    """--subcategories: the class's entries (in sort order) by emoji.json subcategory, runs of
    consecutive subcategories merged until each group has at least MIN_GROUP images (a short
    last run joins the group before it). Returns [(group name, entries)]; a group is named
    after its largest subcategory."""
    runs = []  # [subcategory, entries]
    for e in entries:
        sub = safe_name(e.get("subcategory") or "other")
        if runs and runs[-1][0] == sub:
            runs[-1][1].append(e)
        else:
            runs.append([sub, [e]])
    groups = []  # [[(subcategory, count), ...], entries]
    for name, es in runs:
        if groups and len(groups[-1][1]) < MIN_GROUP:
            groups[-1][0].append((name, len(es)))
            groups[-1][1].extend(es)
        else:
            groups.append([[(name, len(es))], list(es)])
    if len(groups) > 1 and len(groups[-1][1]) < MIN_GROUP:
        last = groups.pop()
        groups[-1][0].extend(last[0])
        groups[-1][1].extend(last[1])
    # Each group is named after its largest subcategory (the first of equals).
    return [(max(subs, key=lambda sc: sc[1])[0], es) for subs, es in groups]


def pick_entries(emoji, category, source, count):
    cands = [e for e in emoji
             if e.get("category") == category
             and e.get("has_img_google")
             and e.get("image")
             and source.exists(IMG_DIR + "/" + e["image"])]
    cands.sort(key=lambda e: (e.get("sort_order", 0), e["image"]))
    n = len(cands)
    if count is None:
        return cands
    if n < count:
        raise SystemExit("error: category %r has only %d usable images" % (category, n))
    # Evenly spaced: centre of each of `count` equal bins.
    return [cands[(2 * i + 1) * n // (2 * count)] for i in range(count)]


# --------------------------------------------------------------------------
# Contact sheet (for visual checking)
# --------------------------------------------------------------------------

def write_sheet(path, rows, scale=2, pad=4):
    """rows: list of lists of (w, h, rgba). Composites over a checkerboard; cells fit the
    largest image (64 px originals with --keep-size)."""
    cell = max(w for r in rows for (w, _, _) in r) * scale
    cols = max(len(r) for r in rows)
    W = pad + cols * (cell + pad)
    H = pad + len(rows) * (cell + pad)
    sheet = bytearray(W * H * 4)
    for y in range(H):
        for x in range(W):
            v = 200 if ((x // 8) + (y // 8)) % 2 else 240
            o = (y * W + x) * 4
            sheet[o:o + 4] = bytes((v, v, v, 255))
    for ri, row in enumerate(rows):
        for ci, (w, h, px) in enumerate(row):
            x0 = pad + ci * (cell + pad)
            y0 = pad + ri * (cell + pad)
            for y in range(h * scale):
                for x in range(w * scale):
                    s = ((y // scale) * w + (x // scale)) * 4
                    a = px[s + 3]
                    o = ((y0 + y) * W + (x0 + x)) * 4
                    for c in range(3):
                        sheet[o + c] = _div_round(px[s + c] * a + sheet[o + c] * (255 - a), 255)
    with open(path, "wb") as f:
        f.write(encode_png_rgba(W, H, sheet))


# --------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "assets", "samples")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", help="emoji-datasource-google .tgz or unpacked package directory")
    ap.add_argument("output", nargs="?", default=default_out,
                    help="output folder (default: assets/samples in the repository)")
    ap.add_argument("--sheet", help="also write a contact sheet PNG (2x scale) to this path")
    ap.add_argument("--full", action="store_true",
                    help="every image of nine categories (the default model's training set) "
                         "instead of the 3x20 sample set")
    ap.add_argument("--subcategories", action="store_true",
                    help="with --full: a folder per group of emoji.json subcategories (at least "
                         "%d images each), named CLASS.GROUP, instead of one per class" % MIN_GROUP)
    ap.add_argument("--keep-size", action="store_true",
                    help="write the 64x64 originals instead of 32x32 copies: the trainer keeps "
                         "its images at 1.25x the model size for random crops, and fitting 32 px "
                         "files to 40 and back blurs them")
    args = ap.parse_args(argv)
    if args.subcategories and not args.full:
        ap.error("--subcategories needs --full")
    classes = FULL_CLASSES if args.full else CLASSES
    per_class = None if args.full else PER_CLASS

    source = PackageSource(args.source)
    emoji = json.loads(source.read("emoji.json").decode("utf-8"))
    try:
        pkg = json.loads(source.read("package.json").decode("utf-8"))
        print("package %s %s" % (pkg.get("name"), pkg.get("version")))
    except (KeyError, OSError, ValueError):
        pass

    total = 0
    nfiles = 0
    sheet_rows = []
    jobs = []  # (folder name, entries)
    for cls, category in classes:
        entries = pick_entries(emoji, category, source, per_class)
        groups = subcategory_groups(entries) if args.subcategories else []
        if len(groups) > 1:
            jobs.extend(("%s.%s" % (cls, g), es) for g, es in groups)
        else:
            jobs.append((cls, entries))
    names = [cls for cls, _ in jobs]
    if len(set(names)) != len(names):
        raise SystemExit("error: two groups share a folder name: %s" % sorted(
            n for n in set(names) if names.count(n) > 1))
    # A folder of an earlier run with other classes (coarse ones beside CLASS.GROUP ones) would
    # be trained on as a class of its own.
    stray = sorted(d for d in (os.listdir(args.output) if os.path.isdir(args.output) else [])
                   if os.path.isdir(os.path.join(args.output, d)) and d not in names)
    if stray:
        raise SystemExit("error: %s has class folders this run does not write (%s): remove them "
                         "or choose another output folder" % (args.output, ", ".join(stray)))
    for cls, entries in jobs:
        outdir = os.path.join(args.output, cls)
        os.makedirs(outdir, exist_ok=True)
        for old in os.listdir(outdir):
            if old.endswith(".png"):
                os.remove(os.path.join(outdir, old))
        row = []
        used = set()
        for e in entries:
            rel = IMG_DIR + "/" + e["image"]
            w, h, px = decode_png(source.read(rel), rel)
            if (w, h) != (SRC_SIZE, SRC_SIZE):
                raise SystemExit("error: %s is %dx%d, expected %dx%d"
                                 % (rel, w, h, SRC_SIZE, SRC_SIZE))
            if not args.keep_size:
                w, h, px = downsample2x(w, h, px)
            name = safe_name(e["short_name"])
            if name in used:
                name = "%s_%s" % (name, safe_name(e["unified"]))
            if name in used:
                raise SystemExit("error: duplicate output name %s in %s" % (name, cls))
            used.add(name)
            png = encode_png_rgba(w, h, px)
            with open(os.path.join(outdir, name + ".png"), "wb") as f:
                f.write(png)
            total += len(png)
            nfiles += 1
            if len(row) < PER_CLASS:  # the contact sheet shows the first 20 of each class
                row.append((w, h, px))
        sheet_rows.append(row)
        print("%-28s %d images" % (cls, len(used)))
    print("wrote %d files, %d bytes, to %s" % (nfiles, total, args.output))
    if args.sheet:
        write_sheet(args.sheet, sheet_rows)
        print("contact sheet: %s" % args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
