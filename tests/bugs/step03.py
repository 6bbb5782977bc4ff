from tests.bugs import Bug

_UMOUNT = "            syscalls.umount2(mountpoint)\n        except OSError as exc:\n"

BUGS = [
    Bug(3, "rmtree after a failed unmount", "test_busy_past_the_timeout_raises_mount_busy_error",
        (("import glob\n", "import glob\nimport shutil\n"),
         ("                raise MountBusyError(mountpoint, _holders(mountpoint)) from None\n",
          "                shutil.rmtree(mountpoint, ignore_errors=True)\n"
          "                return\n"))),
    Bug(3, "os.path.ismount for the mountpoint check",
        "test_same_filesystem_bind_mount_is_unmounted",
        (("    _unmount_all(path, time.monotonic() + timeout, lazy)\n",
          "    if os.path.ismount(path):\n"
          "        _unmount_all(path, time.monotonic() + timeout, lazy)\n"),
         ("    if mountinfo.is_mountpoint(path):\n", "    if os.path.ismount(path):\n"))),
    Bug(3, "no retry on EBUSY", "test_ebusy_is_retried_until_the_holder_goes",
        (("            elif time.monotonic() < deadline:\n", "            elif False:\n"),)),
    Bug(3, "always lazy", "test_busy_past_the_timeout_raises_mount_busy_error",
        ((_UMOUNT, _UMOUNT.replace("(mountpoint)", "(mountpoint, syscalls.MNT_DETACH)")),)),
    Bug(3, "only one of several stacked mounts removed", "test_stacked_mounts_are_all_removed",
        ((_UMOUNT, _UMOUNT.replace("(mountpoint)\n", "(mountpoint)\n            return\n")),)),
]
