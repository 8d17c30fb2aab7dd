#!/usr/bin/env python3
"""Builds the fine-tuning bench's held-out style from OpenMoji (CC BY-SA 4.0): a style the
default model (Noto) never saw, in the default model's nine class names.

Usage:
    npm pack openmoji          # openmoji-VERSION.tgz: SVGs only, color/svg/, data/openmoji.json
    /usr/bin/python3 scripts/make-openmoji-assets.py openmoji-17.0.0.tgz [OUT]

OUT (default out/openmoji) receives three folders of 64x64 RGBA PNGs, rasterised with
Debian's rsvg-convert (librsvg2-bin), two at a time:
    full/      every base emoji (no skin-tone variants) of the nine groups the default model
               knows, named as its classes (smileys, people, ...): ~1900 images
    small/     three classes of 20 images each (evenly spaced picks): the small-folder case
    newclass/  smileys and animals (known classes) and "extras", OpenMoji's own icons that
               are in no Unicode group: a class the base model does not have
Standard library only; the same package gives the same folders.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor

# OpenMoji group -> the default model's class name (assets/emoji32).
GROUPS = {
    "smileys-emotion": "smileys",
    "people-body": "people",
    "animals-nature": "animals",
    "food-drink": "food",
    "travel-places": "travel",
    "activities": "activities",
    "objects": "objects",
    "symbols": "symbols",
    "flags": "flags",
}
SMALL = ["smileys", "food", "flags"]
SMALL_PER_CLASS = 20
NEW_CLASS = ("extras-openmoji", "extras")
SIZE = 64


def evenly_spaced(items, n):
    if len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    source = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(os.path.dirname(__file__), "..", "out", "openmoji")
    if shutil.which("rsvg-convert") is None:
        sys.exit("rsvg-convert is missing: apt-get install librsvg2-bin")
    with tempfile.TemporaryDirectory() as tmp:
        if os.path.isdir(source):
            pkg = source
        else:
            try:
                with tarfile.open(source) as tar:
                    members = [m for m in tar.getmembers()
                               if m.isfile() and (m.name.startswith("package/color/svg/")
                                                  or m.name == "package/data/openmoji.json")]
                    tar.extractall(tmp, members=members)
            except (OSError, tarfile.TarError) as e:
                sys.exit(f"cannot read {source}: {e}")
            pkg = os.path.join(tmp, "package")
        try:
            with open(os.path.join(pkg, "data", "openmoji.json"), encoding="utf-8") as f:
                entries = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"{source} is not the openmoji package (data/openmoji.json: {e})")
        # Base emoji only: skin tones would repeat the people class's shapes five times.
        entries = [e for e in entries if not e.get("skintone")]
        entries.sort(key=lambda e: (e.get("order") or 1 << 30, e["hexcode"]))
        by_class = {}
        for e in entries:
            name = GROUPS.get(e["group"]) or (NEW_CLASS[1] if e["group"] == NEW_CLASS[0] else None)
            if name:
                by_class.setdefault(name, []).append(e["hexcode"])

        jobs = []  # (svg, png)
        def add(folder, name, codes):
            for code in codes:
                jobs.append((os.path.join(pkg, "color", "svg", code + ".svg"),
                             os.path.join(out, folder, name, code + ".png")))
        for name in GROUPS.values():
            add("full", name, by_class.get(name, []))
        for name in SMALL:
            add("small", name, evenly_spaced(by_class.get(name, []), SMALL_PER_CLASS))
        for name in ("smileys", "animals", NEW_CLASS[1]):
            add("newclass", name, by_class.get(name, []))

        for folder in ("full", "small", "newclass"):
            shutil.rmtree(os.path.join(out, folder), ignore_errors=True)
        for _, png in jobs:
            os.makedirs(os.path.dirname(png), exist_ok=True)

        def rasterise(job):
            svg, png = job
            if not os.path.exists(svg):
                return f"missing {svg}"
            r = subprocess.run(["rsvg-convert", "-w", str(SIZE), "-h", str(SIZE), "-o", png, svg],
                               capture_output=True, text=True)
            return None if r.returncode == 0 else f"{svg}: {r.stderr.strip()}"
        with ThreadPoolExecutor(max_workers=2) as pool:
            problems = [p for p in pool.map(rasterise, jobs) if p]
    for p in problems[:10]:
        print("skipped", p, file=sys.stderr)
    with open(os.path.join(out, "LICENSE.md"), "w", encoding="utf-8") as f:
        f.write("Images rasterised from OpenMoji (https://openmoji.org), the open-source emoji and icon\n"
                "project, licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/).\n")
    for folder in ("full", "small", "newclass"):
        counts = {c: len(os.listdir(os.path.join(out, folder, c)))
                  for c in sorted(os.listdir(os.path.join(out, folder)))}
        print(f"{folder}: {sum(counts.values())} images, " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    if problems:
        print(f"{len(problems)} SVGs skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
