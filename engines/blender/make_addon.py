#!/usr/bin/env python3
"""Builds the installable Blender add-on zip (Edit > Preferences > Add-ons > Install...).

    python3 engines/blender/make_addon.py OUT.zip --library build/plugin/libddpm_plugin.so

The zip holds the add-on package ddpm_blender/ with the Python binding (a symlink in the
repository, a file in the zip), the plugin library under its plain name (so the add-on finds
it beside itself) and the default model with its licence, so it works once installed. The
library needs LibTorch's shared libraries on the machine (Debian: libtorch1.13).
"""
import argparse
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE = "ddpm_blender"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the zip to write")
    ap.add_argument("--library", help="libddpm_plugin.so to put in the add-on (default: none; "
                    "then set its path in the add-on's preferences)")
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "emoji32", "model.safetensors"),
                    help="the model bundled as the panel's default (default: assets/emoji32)")
    args = ap.parse_args()
    source = os.path.join(HERE, PACKAGE)
    tmp = args.out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(os.listdir(source)):
            if name.endswith(".py"):
                z.write(os.path.realpath(os.path.join(source, name)), "%s/%s" % (PACKAGE, name))
        if args.library:
            z.write(os.path.realpath(args.library), "%s/libddpm_plugin.so" % PACKAGE)
        if args.model:
            z.write(args.model, "%s/models/emoji32.safetensors" % PACKAGE)
            licence = os.path.join(os.path.dirname(args.model), "LICENSE.md")
            if os.path.isfile(licence):
                z.write(licence, "%s/models/LICENSE.md" % PACKAGE)
    os.replace(tmp, args.out)  # atomic: an old zip stays whole until the new one is complete
    print(args.out)


if __name__ == "__main__":
    main()
