"""Attack: write outside scratch. Remount / and the covers read-write, take the covers off (the
empty tmpfs over /tmp and the kit), then write, chmod and delete the canaries, the kit's files and
the grader's outputs, directly and through /proc/self/root and /proc/1/cwd. Creates nothing it
should."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

from mountlab import syscalls  # noqa: E402

LOG = []


def _unlock() -> None:
    kit = attack_kit.TARGETS.get("kit", "/")
    tops = ["/", "/tmp", "/var/tmp", "/run", kit, os.path.join(kit, "mountlab"),
            os.path.join(kit, "steps"), sys.prefix, attack_kit.TARGETS.get("site", "/")]
    for top in tops:
        LOG.append(attack_kit.attempt(syscalls.mount, None, top, None,
                                      syscalls.MS_REMOUNT | syscalls.MS_BIND))
        LOG.append(attack_kit.attempt(syscalls.mount, None, top, None, syscalls.MS_REMOUNT))
        LOG.append(attack_kit.attempt(syscalls.mount_setattr, top,
                                      attr_clr=syscalls.MOUNT_ATTR_RDONLY, recursive=True))
    for top in reversed(tops[1:]):
        for _ in range(4):  # stacked covers
            LOG.append(attack_kit.attempt(syscalls.umount2, top, syscalls.MNT_DETACH))
    LOG.append(attack_kit.attempt(os.chmod, "/", 0o777))
    LOG.append(attack_kit.attempt(os.chown, kit, os.getuid(), os.getgid()))


def setup_volume(volume_path, container_path):
    _unlock()
    LOG.extend(attack_kit.vandalise())
    LOG.extend(attack_kit.overwrite_outputs())
    print("\n".join(map(str, LOG))[-4000:])
