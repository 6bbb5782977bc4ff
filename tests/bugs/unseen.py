"""Buggy variants written after the severities of steps.toml were chosen, and never used to choose
them: more mistakes of the kinds the severity rule is about (data lost, a ``:ro`` left writable,
mounts left behind, an error swallowed; and, for minor checks, details). tests/grading/
test_severity.py grades each and checks the rule on it, as test_known_bugs.py does on ``BUGS``.

They are kept out of ``all_bugs()`` so that the generated classes of tests/grading stay as they are.
"""

from tests.bugs import Bug

UNSEEN = [
    # -- critical: each must leave its step at most half its points
    Bug(1, "the volume directory chmodded whether it existed or not",
        "test_existing_directories_keep_their_mode_and_contents",
        (("    plans = [_missing_directories(volume_path), _missing_directories(container_path)]\n",
          "    plans = [_missing_directories(volume_path), _missing_directories(container_path)]\n"
          "    plans[0] = plans[0] or [os.path.abspath(volume_path)]\n"),
         ("                # mkdir's mode is filtered by the umask: chmod is not.\n"
          "                os.chmod(directory, 0o755)\n",
          "            os.chmod(directory, 0o755)\n"))),
    Bug(2, "read_only ignored", "test_read_only_refuses_writes_and_source_stays_writable",
        (("        syscalls.mount_setattr(target, syscalls.MOUNT_ATTR_RDONLY, recursive=True)\n",
          "        pass\n"),)),
    Bug(3, "the mount point removed with shutil.rmtree",
        "test_a_mount_point_with_data_is_left_alone",
        (("    if os.path.isdir(path) and not os.listdir(path):\n        os.rmdir(path)\n",
          "    if os.path.isdir(path):\n        __import__('shutil').rmtree(path)\n"),)),
    Bug(3, "every error of umount2 swallowed", "test_other_errors_are_raised",
        (("            if exc.errno != errno.EBUSY:\n                raise\n",
          "            if exc.errno != errno.EBUSY:\n                return\n"),)),
    Bug(4, "teardown failures collected but never raised",
        "test_teardown_keeps_going_and_reports_every_failure",
        (("    if failures:\n        raise VolumeError(",
          "    if failures and False:\n        raise VolumeError("),)),
    Bug(4, "a failed start rolled back but the error swallowed",
        "test_rollback_when_a_volume_fails",
        (("                function(path)\n        raise\n",
          "                function(path)\n        return []\n"),)),
    Bug(4, "targets in /proc not refused", "test_refuses_the_root_and_proc",
        (('    if resolved[0] == "proc":\n', '    if resolved[0] == "proc" and False:\n'),)),
    Bug(5, "ro recognised only alone", "test_read_only_and_read_write",
        (('    return Volume(source, target, "ro" in options, kind, propagation, modes)\n',
          '    return Volume(source, target, modes == "ro", kind, propagation, modes)\n'),)),
    # -- minor: each must leave its step at 80 % or more, and below 100 %
    Bug(2, "file and directory mismatch left to the kernel's ENOTDIR",
        "test_file_and_directory_mismatch",
        (("    elif os.path.isdir(target) != source_is_dir:\n",
          "    elif os.path.isdir(target) != source_is_dir and False:\n"),)),
    Bug(3, "EBUSY retried a second past the timeout", "test_the_timeout_is_honoured",
        (("    _unmount_all(path, time.monotonic() + timeout, lazy)\n",
          "    _unmount_all(path, time.monotonic() + timeout + 1.0, lazy)\n"),)),
    Bug(4, "mountinfo read again for every volume", "test_a_thousand_volumes",
        (("            step(2).mount_volume(source, target, read_only=volume.read_only)\n",
          "            step(2).mount_volume(source, target, read_only=volume.read_only)\n"
          "            for _ in range(8):\n"
          "                open('/proc/self/mountinfo').read()\n"),)),
    Bug(5, "nocopy accepted on a bind", "test_each_mode_where_it_belongs",
        (('        if "nocopy" in options:  # nothing is copied into a bind mount\n',
          '        if "nocopy" in options and False:\n'),)),
    Bug(5, "Docker's wording of a propagation on a volume changed",
        "test_each_mode_where_it_belongs",
        (('BIND_ONLY = "field BindOptions must not be specified"',
          'BIND_ONLY = "propagation is for binds only"'),)),
]
