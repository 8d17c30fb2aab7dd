#!/usr/bin/env bash
# The plugin through its C# binding (plugin/csharp/DdpmPlugin.cs) under Mono.
#   test_csharp.sh MCS MONO CC PLUGIN_LIBRARY MODEL SOURCE_DIR WORK_DIR
# 1. compiles the binding and tests/plugin/csharp/TestDdpm.cs with mcs;
# 2. ABI layout: every struct of plugin/include/ddpm_plugin.h must be mirrored in C#, the C#
#    structs' field names must be the header's, in order, and every field's offset and size and
#    every struct's size (Marshal.OffsetOf/SizeOf) must equal what a C compiler gives for the
#    header;
# 3. runs the behaviour tests; DllImport("ddpm_plugin") finds libddpm_plugin.so through
#    LD_LIBRARY_PATH, set to the library's folder.
set -euo pipefail
MCS=$1 MONO=$2 CC=$3 LIB=$4 MODEL=$5 SRC=$6 WORK=$7
mkdir -p "$WORK"

"$MCS" -nologo -warnaserror -out:"$WORK/TestDdpm.exe" \
  "$SRC/plugin/csharp/DdpmPlugin.cs" "$SRC/tests/plugin/csharp/TestDdpm.cs"

"$MONO" "$WORK/TestDdpm.exe" --layout "$SRC/plugin/include/ddpm_plugin.h" > "$WORK/layout_cs.txt"
missing=""
for struct in $(sed -n 's/^typedef struct \([a-z0-9_]*\) {.*/\1/p' "$SRC/plugin/include/ddpm_plugin.h"); do
  grep -q "^$struct sizeof " "$WORK/layout_cs.txt" || missing="$missing $struct"
done
if [ -n "$missing" ]; then
  echo "ABI layout: the C# binding (TestDdpm.cs Structs) does not mirror:$missing" >&2
  exit 1
fi
{
  echo '#include <stddef.h>'
  echo '#include <stdio.h>'
  echo '#include "ddpm_plugin.h"'
  echo 'int main(void) {'
  while read -r type field offset size; do
    if [ "$field" = sizeof ]; then
      echo "  printf(\"%s sizeof %zu\\n\", \"$type\", sizeof($type));"
    else
      echo "  printf(\"%s %s %zu %zu\\n\", \"$type\", \"$field\", offsetof($type, $field), sizeof((($type*)0)->$field));"
    fi
  done < "$WORK/layout_cs.txt"
  echo '  return 0;'
  echo '}'
} > "$WORK/layout.c"
"$CC" -std=c99 -I"$SRC/plugin/include" -o "$WORK/layout" "$WORK/layout.c"
"$WORK/layout" > "$WORK/layout_c.txt"
if ! diff -u "$WORK/layout_c.txt" "$WORK/layout_cs.txt"; then
  echo "ABI layout mismatch: C (-) and C# (+) differ" >&2
  exit 1
fi
echo "layout: $(grep -c sizeof "$WORK/layout_cs.txt") structs, $(grep -c . "$WORK/layout_cs.txt") offsets and sizes agree with the C compiler"

export LD_LIBRARY_PATH="$(dirname "$LIB")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$MONO" --debug "$WORK/TestDdpm.exe" "$MODEL" "$SRC" "$WORK"
