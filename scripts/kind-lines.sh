#!/usr/bin/env bash
# Lines per resource kind and the total of resources/src, to measure a refactoring before and after.
# A kind is a module declaring `static SCHEMA: ResourceSchema` (a file, or a directory with mod.rs);
# its other files (`<kind>_tests.rs`, `<kind>_spec.rs`, ...) count with it. Shared helpers
# (`*_common.rs`, `kit/`) are one line; everything else (error tables, throttling, ...) is only in the total.
# Usage: scripts/kind-lines.sh [REPO_ROOT]   (default: the repository this script lives in)
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
src="$root/resources/src"
cd "$src"
count() { if [ "$#" -eq 0 ]; then echo 0; else cat "$@" | wc -l | tr -d ' '; fi; }

kinds=$( { grep -l '^pub static SCHEMA: ResourceSchema' ./*.rs 2>/dev/null | sed 's|^\./||; s|\.rs$||'
           grep -l '^pub static SCHEMA: ResourceSchema' ./*/*.rs 2>/dev/null | sed 's|^\./||; s|/.*$||'; } |
         grep -v '^kit$' | sort -u)

# The kind a file belongs to: the longest kind name it starts with.
owner_of() {
  local base="$1" best="" k
  for k in $kinds; do
    case "$base" in "$k"_*) [ "${#k}" -gt "${#best}" ] && best="$k" ;; esac
  done
  echo "$best"
}

printf '%-34s %6s\n' kind lines
for k in $kinds; do
  files=()
  [ -f "$k.rs" ] && files+=("$k.rs")
  [ -d "$k" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$k" -name '*.rs' | sort)
  # Files named after the kind that are not kinds themselves (tests, split-out parts).
  for f in "${k}"_*.rs; do
    [ -f "$f" ] || continue
    base="${f%.rs}"
    if ! grep -qx "$base" <<<"$kinds" && [ "$(owner_of "$base")" = "$k" ]; then files+=("$f"); fi
  done
  printf '%-34s %6s\n' "$k" "$(count "${files[@]}")"
done
shared=$(find . -name '*.rs' | grep -E '^\./([a-z0-9]+_common\.rs|kit/)' | sort)
# shellcheck disable=SC2086
printf '%-34s %6s\n' "(shared: *_common.rs + kit/)" "$(count $shared)"
printf '%-34s %6s\n' "resources/src total" "$(find . -name '*.rs' -print0 | xargs -0 cat | wc -l | tr -d ' ')"
