#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 by
# default; any image with Python >= 3.10 works). Written by `./workshop autograder`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# user-mode-linux: Gradescope's container refuses mounts and namespaces, so the checks run in a
# User-Mode Linux guest (the kit's uml backend, which ./workshop grade picks by itself there).
apt-get install -y -qq python3 python3-venv python3-pip user-mode-linux >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install -q --disable-pip-version-check \
    -r /autograder/source/requirements.txt
# Fail the build now, not at the first submission, if the kit does not load or its checks are
# not collected.
cd /autograder/source
targets=(steps)
[ -d instructor ] && targets+=(instructor)
/autograder/venv/bin/python -m pytest "${targets[@]}" --collect-only -q -p no:cacheprovider >/dev/null
# Which backend grading will use here (the build runs without CAP_SYS_ADMIN, like grading).
/autograder/venv/bin/python -c 'from mountlab.backends import detect; print("mountlab backend:", detect.choose().name)'
echo "mountlab autograder ready"
