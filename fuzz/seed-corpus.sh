#!/usr/bin/env bash
# Seeds fuzz/corpus/idl_parse/ with every .idl file of the repository (corpus/ is not
# committed; libFuzzer adds what it finds there). Run from anywhere; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p fuzz/corpus/idl_parse
find . \( -name target -o -name .git -o -path ./fuzz \) -prune -o -name '*.idl' -type f -print0 |
  while IFS= read -r -d '' f; do
    # Flatten the path into a name: two files may share a base name.
    f=${f#./}
    cp "$f" "fuzz/corpus/idl_parse/seed-${f//\//_}"
  done
