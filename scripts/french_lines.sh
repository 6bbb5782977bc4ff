#!/usr/bin/env bash
# How much English a French learner reads: runs what issue 15 ran as a French-speaking learner
# (./workshop check N --lang fr on the shipped skeletons of steps 1-5, on a buggy step 3, and
# ./workshop --lang fr) on the kit at KIT (default: this one), then counts the English lines with
# tests/language.py (stop words; code, paths and the learner code's own words set aside).
#   bash scripts/french_lines.sh [KIT]       prints the English lines, then "N of M lines are English"
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
kit="$(cd "${1:-$here}" && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="$work/said.txt"
cd "$kit" || exit 1
export PYTHONPATH="$kit" XDG_STATE_HOME="$work/state" LANG=C.UTF-8
unset LC_ALL LC_MESSAGES MOUNTLAB_LANG MOUNTLAB_IMPL
"$python" - "$work" <<'PY'
import sys
from pathlib import Path
from tests import skeletons
from tests.bugs.step03 import BUGS
from tests.grading.severity_rule import with_reference
skeletons.write_folder(Path(sys.argv[1], "skeletons"))
with_reference(BUGS[0], Path(sys.argv[1], "bug3"))  # the reference elsewhere, step 3 buggy
PY
for n in 1 2 3 4 5; do
    "$python" -m mountlab check "$n" --lang fr --impl "$work/skeletons" >> "$out" 2>&1
done
"$python" -m mountlab check 3 --lang fr --impl "$work/bug3" >> "$out" 2>&1
MOUNTLAB_IMPL="$work/skeletons" "$python" -m mountlab --lang fr >> "$out" 2>&1
"$python" "$here/tests/language.py" "$out" | sed "s|^$out: ||"
