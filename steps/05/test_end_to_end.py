"""Graded end-to-end check of step 5: a ``-v`` spec parsed by your step 5, mounted by your step 4.

Run it with ``pytest steps/05``. It runs your code in a throwaway mount namespace.
"""

import pytest

from mountlab.impl import step
from mountlab.mountinfo import is_mountpoint, mounts_under


@pytest.mark.points(1, section="end-to-end")
def test_end_to_end_scenario_with_your_steps_1_to_5(tmp_path):
    """End to end with your steps 1 to 5: HOST:/container/volume is shared, then removed cleanly

    This check runs your steps 1 to 4 too (step 4's setup_container_volumes and
    teardown_container_volumes call them), so it is worth little: when it fails and step 5's other
    checks pass, run ``pytest steps/04`` first.
    """
    host, rootfs = tmp_path / "host", tmp_path / "rootfs"
    host.mkdir()
    rootfs.mkdir()
    (host / "test.txt").write_text("test data")
    volume = step(5).parse_volume_spec(f"{host}:/container/volume")
    inside = rootfs / "container" / "volume"

    mounted = step(4).setup_container_volumes("end-to-end", str(rootfs), [volume])
    try:
        assert is_mountpoint(inside), \
            f"after setup_container_volumes, {inside} is not a mount point"
        assert (inside / "test.txt").read_text() == "test data", \
            "the container does not see the host's test.txt through the volume"
        (inside / "newfile.txt").write_text("written in the container")
        assert (host / "newfile.txt").read_text() == "written in the container", \
            "a file created in the container's volume is not on the host"
    finally:
        step(4).teardown_container_volumes("end-to-end", mounted)

    assert not mounts_under(rootfs), (
        "after teardown_container_volumes, something is still mounted in the rootfs: "
        + ", ".join(m.mountpoint for m in mounts_under(rootfs)))
    assert (host / "test.txt").read_text() == "test data", "teardown lost the host's test.txt"
    assert (host / "newfile.txt").read_text() == "written in the container", \
        "teardown lost the file the container wrote to the host"
