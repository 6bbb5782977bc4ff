from tests.bugs import Bug

_REFUSE_MISSING_SOURCE = (
    "    if not os.path.exists(source):\n"
    "        raise FileNotFoundError(\n"
    "            errno.ENOENT, f\"the volume's source does not exist, so nothing was mounted on "
    "{target}:\"\n"
    "            \" create it first or fix the path\", source)\n")
_ALREADY_MOUNTED = (
    "    elif mountinfo.is_mountpoint(target):\n"
    "        if _same_file(source, target):\n"
    "            return  # already done: a second bind would stack on top of the first\n"
    "        raise VolumeError(\n"
    "            errno.EBUSY, f\"something else than {source} is mounted here: unmount it first or "
    "\"\n"
    "            \"choose another target\", target)\n")
_BIND = "flags=syscalls.MS_BIND | syscalls.MS_REC)"
_READ_ONLY = (
    "    if read_only:\n"
    "        # The first MS_BIND call ignores MS_RDONLY. mount_setattr then changes every mount of "
    "the\n"
    "        # tree at once and leaves their other flags (nosuid, nodev, noexec) as they are.\n"
    "        syscalls.mount_setattr(target, syscalls.MOUNT_ATTR_RDONLY, recursive=True)\n")
_SETATTR = "        syscalls.mount_setattr(target, syscalls.MOUNT_ATTR_RDONLY, recursive=True)\n"

BUGS = [
    Bug(2, "MS_BIND|MS_RDONLY in one call",
        "test_read_only_refuses_writes_and_source_stays_writable",
        ((_BIND, "flags=syscalls.MS_BIND | syscalls.MS_REC\n"
                 "                   | (syscalls.MS_RDONLY if read_only else 0))"),
         (_READ_ONLY, ""))),
    Bug(2, "no MS_REC", "test_submounts_come_along",
        ((_BIND, "flags=syscalls.MS_BIND)"),)),
    Bug(2, "read-only only on the top mount", "test_read_only_covers_submounts",
        ((_SETATTR, "        syscalls.mount(None, target, flags=syscalls.MS_BIND | "
                    "syscalls.MS_REMOUNT | syscalls.MS_RDONLY)\n"),)),
    Bug(2, "a missing source created instead of refused",
        "test_missing_source_raises_and_creates_nothing",
        ((_REFUSE_MISSING_SOURCE, "    if not os.path.exists(source):\n"
                                  "        os.makedirs(source)\n"),)),
    Bug(2, "mounts stacked on a second call", "test_second_call_does_not_stack",
        ((_ALREADY_MOUNTED, ""),)),
    # Not in the design's list, but met in class: each loses the points of the check named.
    Bug(2, "read-only remount that drops nosuid, nodev and noexec",
        "test_read_only_keeps_nosuid_nodev_noexec",
        ((_SETATTR, "        for mount in mountinfo.mounts_under(target):\n"
                    "            syscalls.mount(None, mount.mountpoint, flags=syscalls.MS_BIND | "
                    "syscalls.MS_REMOUNT | syscalls.MS_RDONLY)\n"),)),
    Bug(2, "os.path.ismount for the mountpoint check", "test_second_call_does_not_stack",
        (("    elif mountinfo.is_mountpoint(target):\n", "    elif os.path.ismount(target):\n"),)),
    Bug(2, "mount point mode left to the umask",
        "test_target_is_created_with_the_right_type_and_mode",
        (("    old = os.umask(0o022)\n", ""), ("        os.umask(old)\n", "        pass\n"))),
]
