"""Learner code that hangs, raises, forks, leaves a mount on the host or does not import costs the
check its points with a clear message; the run goes on and the host's mount table is untouched."""

import pytest

from mountlab import registry

SOLUTION = (registry.KIT_ROOT / "solutions" / "01" / "setup_volume.py").read_text()

CASES = {
    "hangs": ("def setup_volume(volume_path, container_path):\n    while True:\n        pass\n",
              "did not finish within 1 s"),
    "raises": ("def setup_volume(volume_path, container_path):\n"
               "    raise RuntimeError('boom')\n", "your code raised RuntimeError: boom"),
    "forks": (SOLUTION.replace("    plans = [", "    import subprocess\n"
                               "    subprocess.Popen(['sleep', '30'])\n    plans = ["),
              "was still running at its end"),
    "leaks-a-mount-to-the-host": (
        SOLUTION.replace("    plans = [", "    from mountlab import syscalls\n"
                         "    host = f'/proc/{os.getppid()}/ns/mnt'\n"
                         "    syscalls.setns(os.open(host, os.O_RDONLY), 0)\n"
                         "    os.makedirs(volume_path, exist_ok=True)\n"
                         "    syscalls.mount('tmpfs', volume_path, 'tmpfs', 0, 'size=1m')\n"
                         "    plans = ["),
        # The learner's code runs unprivileged in namespaces of its own: the host's mount
        # namespace is out of its reach, and the attempt costs the check.
        "your code raised"),
    "does-not-import": ("def setup_volume(volume_path, container_path)\n    pass\n",
                        "does not import (line 1)"),
}


def _host_table():
    with open("/proc/self/mountinfo", "rb") as f:
        return sorted(f.read().splitlines())


@pytest.mark.parametrize("case", CASES)
def test_misbehaving_code_loses_points_and_the_run_goes_on(case, grade, tmp_path):
    import os

    if case == "leaks-a-mount-to-the-host" and os.geteuid() != 0:
        pytest.skip("joining the host's mount namespace needs root")
    code, message = CASES[case]
    (tmp_path / "impl" / "01").mkdir(parents=True)
    (tmp_path / "impl" / "01" / "setup_volume.py").write_text(code)
    before = _host_table()
    report = grade(["steps/01"], str(tmp_path / "impl"), "--check-timeout", "1",
                   "-k", "both_directories or calling_twice")
    assert _host_table() == before, "the host's mount table changed"
    (step,) = report["steps"]
    assert [c["passed"] for c in step["checks"]] == [False, False], report["stdout"][-3000:]
    assert all(message in c["reason"] for c in step["checks"]), \
        [c["reason"] for c in step["checks"]]
    assert "Step 1 — Create the volume directories: 0/5 points" in report["stdout"]
