#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds and runs a separate project that
# finds the plugin with find_package, and checks the pkg-config file from the same prefix.
set -euo pipefail
build_dir="$1"; source_dir="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" > /dev/null
cmake -S "$source_dir/tests/plugin/consumer" -B "$tmp/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" > /dev/null
cmake --build "$tmp/consumer" > /dev/null
"$tmp/consumer/consumer"
flags="$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs ddpm_plugin)"
echo "pkg-config: $flags"
case "$flags" in *"$tmp/prefix"*lddpm_plugin*) ;; *) echo "pkg-config flags do not point into the prefix" >&2; exit 1;; esac
