from tests.bugs import Bug

_RESOLVE_START = ('    resolved: list[str] = []  # the components below rootfs, free of symlinks '
                  'and ".."\n')

BUGS = [
    Bug(4, "no rollback", "test_rollback_when_a_volume_fails",
        (("        for function, path in reversed(undo):\n"
          "            # Keep undoing: the caller needs the original error, not one from the "
          "clean-up.\n"
          "            # rmdir removes only empty directories, so no data can be lost here.\n"
          "            with contextlib.suppress(OSError):\n"
          "                function(path)\n", ""),)),
    Bug(4, "os.path.join(rootfs, target)", "test_resolves_plain_paths_inside_the_rootfs",
        ((_RESOLVE_START, "    return os.path.join(rootfs, container_path)\n" + _RESOLVE_START),)),
    Bug(4, "teardown in mount order", "test_teardown_unmounts_in_reverse_order",
        (("for target in reversed(mounted):", "for target in mounted:"),)),
    Bug(4, "children mounted before parents", "test_parents_are_mounted_before_children",
        (("    order = sorted(range(len(volumes)),\n"
          "                   key=lambda i: posixpath.normpath(volumes[i].target).count(\"/\"))\n",
          "    order = range(len(volumes))\n"),)),
    # More of the same family, each caught by its own check.
    Bug(4, "dot-dot joined and normalised by the host",
        "test_dot_dot_cannot_climb_out_of_the_rootfs",
        ((_RESOLVE_START, "    return os.path.normpath(os.path.join(rootfs, "
                          "container_path.lstrip('/')))\n" + _RESOLVE_START),)),
    Bug(4, "symlinks resolved by os.path.realpath",
        "test_absolute_symlink_in_the_image_stays_inside",
        ((_RESOLVE_START, "    return os.path.realpath(os.path.join(rootfs, "
                          "posixpath.normpath('/' + container_path).lstrip('/')))\n"
          + _RESOLVE_START),)),
    Bug(4, "relative symlinks resolved from the rootfs",
        "test_relative_symlink_with_dot_dot_stays_inside",
        (("        if target.startswith(\"/\"):\n            resolved = []\n",
          "        resolved = []\n"),)),
    Bug(4, "read_only not passed to step 2", "test_read_only_is_passed_through",
        (("step(2).mount_volume(source, target, read_only=volume.read_only)",
          "step(2).mount_volume(source, target)"),)),
    Bug(4, "teardown stops at the first failure",
        "test_teardown_keeps_going_and_reports_every_failure",
        (("        except Exception as exc:\n            failures.append(f\"{target}: {exc}\")\n",
          "        except Exception:\n            raise\n"),)),
    Bug(4, "rollback stops at the first failure", "test_rollback_goes_on_when_an_unmount_fails",
        (("            with contextlib.suppress(OSError):\n                function(path)\n",
          "            function(path)\n"),)),
    Bug(4, "all targets resolved before mounting", "test_a_symlink_in_a_parent_volume_stays_inside",
        (("    mounted: list[str] = []\n",
          "    targets = [resolve_target(rootfs, v.target) for v in volumes]\n"
          "    mounted: list[str] = []\n"),
         ("            target = resolve_target(rootfs, volume.target)\n",
          "            target = targets[index]\n"))),
    Bug(4, "anonymous volume named after the container only",
        "test_named_volumes_live_in_their_data_dir",
        (('source or f"{container_id}-{index}"', "source or container_id"),)),
]
