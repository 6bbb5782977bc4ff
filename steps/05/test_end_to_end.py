"""Graded end-to-end check of step 5: a ``-v`` spec parsed by your step 5, mounted by your step 4.

Run it with ``pytest steps/05``. It runs your code in a throwaway mount namespace. What it says is
in ``messages.toml`` beside this file, in English and French.
"""

import pytest

from mountlab import messages
from mountlab.impl import step
from mountlab.mountinfo import is_mountpoint, mounts_under

say = messages.beside(__file__)


@pytest.mark.points(1, section="end-to-end")
def test_end_to_end_scenario_with_your_steps_1_to_5(tmp_path):
    # This check runs your steps 1 to 4 too (step 4's setup_container_volumes and
    # teardown_container_volumes call them), so it is worth little: when it fails and step 5's
    # other checks pass, run ``pytest steps/04`` first.
    host, rootfs = tmp_path / "host", tmp_path / "rootfs"
    host.mkdir()
    rootfs.mkdir()
    (host / "test.txt").write_text("test data")
    volume = step(5).parse_volume_spec(f"{host}:/container/volume")
    inside = rootfs / "container" / "volume"

    mounted = step(4).setup_container_volumes("end-to-end", str(rootfs), [volume])
    try:
        assert is_mountpoint(inside), say("e2e_not_mounted", path=inside)
        assert (inside / "test.txt").read_text() == "test data", say("e2e_not_seen")
        (inside / "newfile.txt").write_text("written in the container")
        assert (host / "newfile.txt").read_text() == "written in the container", \
            say("e2e_not_on_host")
    finally:
        step(4).teardown_container_volumes("end-to-end", mounted)

    assert not mounts_under(rootfs), say(
        "e2e_left_mounted", paths=", ".join(m.mountpoint for m in mounts_under(rootfs)))
    assert (host / "test.txt").read_text() == "test data", say("e2e_lost_host_file")
    assert (host / "newfile.txt").read_text() == "written in the container", \
        say("e2e_lost_written_file")
