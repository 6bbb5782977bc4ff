"""Attack: overwrite the grader's outputs. Write a report with every point into each file the
grader writes or reads back (its report, live log and JUnit XML in its scratch folder, the
results.json or gradebook it was asked to write), at import time and in the call."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

print(attack_kit.overwrite_outputs())


def setup_volume(volume_path, container_path):
    print(attack_kit.overwrite_outputs())
    scratch = os.path.abspath(volume_path)
    while scratch != "/":  # up from the check's folder: the grader's own folder is above it
        scratch = os.path.dirname(scratch)
        for name in ("out/report.json", "out/live.json", "out/junit.xml", "report.json"):
            attack_kit.write(os.path.join(scratch, name), "{\"points\": 123}")
