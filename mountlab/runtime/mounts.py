"""The container's mounts, in the keeper: tmpfs by the runtime itself, volumes through the
learner's step 4, read-only enforced all the way down, and the teardown in reverse.

Runs in the keeper's private mount namespace, after the overlay root and /dev. Parents are
mounted before children (``groups``); everything the learner's code returns is checked before it
is trusted (a target outside the root filesystem is refused before anything is created there).
"""

from __future__ import annotations

import os

from mountlab.messages import say
from mountlab.runtime import learner, rootfs
from mountlab.runtime.errors import RunError, learner_bug, readme, warn
from mountlab.runtime.spec import Tmpfs, clean_target

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

    from mountlab.volume import Volume

    Done = list[tuple[bool, list[str]]]  # (is_tmpfs, host paths) in mount order

__all__ = ["groups", "setup", "teardown"]


def groups(ordered: list[Volume | Tmpfs]) -> list[list[Volume | Tmpfs]]:
    """Parents before children across volumes and tmpfs: sort by depth (stably), then cut into
    runs of one kind, so that step 4 receives the volumes of each run together."""
    ordered = sorted(ordered, key=lambda m: clean_target(m.target).count("/"))
    found: list[list[Volume | Tmpfs]] = []
    for m in ordered:
        if found and isinstance(found[-1][0], Tmpfs) == isinstance(m, Tmpfs):
            found[-1].append(m)
        else:
            found.append([m])
    return found


def setup(plan: dict[str, Any], done: Done) -> None:
    """Mount every tmpfs and volume of ``plan`` in the container's root, appending what is
    mounted to ``done`` as it goes (so that ``teardown`` undoes exactly that, even half-way)."""
    merged = plan["merged"]
    volumes: list[Volume] = []
    for group in groups(plan["ordered"]):
        if isinstance(group[0], Tmpfs):
            done.append((True, [_mount_tmpfs(merged, t) for t in group]))
        else:
            done.append((False, _setup_volumes(plan, group)))
            volumes += group
    _enforce(plan, volumes)


def _mount_tmpfs(merged: str, t: Tmpfs) -> str:
    from mountlab import syscalls

    path = rootfs.resolve_in_root(merged, t.target)
    os.makedirs(path, 0o755, exist_ok=True)
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV | (syscalls.MS_RDONLY if t.read_only else 0)
    syscalls.mount("tmpfs", path, "tmpfs", flags, t.options() or None)
    return path


def _setup_volumes(plan: dict[str, Any], group: list[Volume]) -> list[str]:
    merged = plan["merged"]
    # Ask the learner's resolve_target first: a target that it would put outside the root
    # filesystem is refused before step 4 creates anything there.
    resolved = []
    for v in group:
        try:
            where = learner.call(4, "resolve_target", merged, v.target)
        except learner.StepFailed as exc:
            if isinstance(exc.error, OSError):
                raise RunError(say("container.resolve_refused", target=v.target,
                                   error=learner.describe(exc.error))) from None
            learner_bug(exc, f"resolve_target({merged!r}, {v.target!r})")
        if not isinstance(where, (str, os.PathLike)) or not rootfs.inside(
                merged, where, root_is_real=True):
            raise RunError(say("container.resolved_outside", rootfs=merged, target=v.target,
                               where=where, readme=readme(4)))
        resolved.append((v, where))
    for v, where in resolved:  # every target accepted: only now is anything created
        if v.kind == "bind" and not os.path.lexists(v.source):
            # -v creates a missing host directory, 0755, as Docker does (--mount refused it while
            # planning): through the learner's step 1, with the mount point step 4 resolved.
            try:
                learner.call(1, "setup_volume", v.source, os.fspath(where))
            except learner.StepFailed as exc:
                if isinstance(exc.error, OSError):
                    raise RunError(say("container.cannot_create_source", source=v.source,
                                       error=learner.describe(exc.error))) from None
                learner_bug(exc, f"setup_volume({v.source!r}, {os.fspath(where)!r})")
    try:
        mounted = learner.call(4, "setup_container_volumes", plan["cid"], merged, group)
    except learner.StepFailed as exc:
        if isinstance(exc.error, OSError):
            raise RunError(say("container.cannot_mount_volumes",
                               error=learner.describe(exc.error))) from None
        learner_bug(exc, "setup_container_volumes()")
    if not isinstance(mounted, (list, tuple)) or len(mounted) != len(group):
        warn(say("container.wrong_return", returned=f"{mounted!r:.80}", count=len(group),
                 readme=readme(4)))
    mounted = [os.fspath(p) for p in mounted or ()]
    escaped = [p for p in mounted if not rootfs.inside(merged, p, root_is_real=True)]
    if escaped:
        _teardown_volumes(plan["cid"], mounted)
        raise RunError(say("container.mounted_outside", path=escaped[0], readme=readme(4)))
    return mounted


def _enforce(plan: dict[str, Any], volumes: list[Volume]) -> None:
    """Read-only volumes must be read-only all the way down (their submounts too), and the
    propagation asked for applied. If the step left a writable mount, say so and fix it."""
    if not any(v.read_only or (v.propagation and v.propagation != "rprivate") for v in volumes):
        return  # nothing to check: no need to resolve every target again
    from mountlab import syscalls

    merged = plan["merged"]
    where = {id(v): rootfs.resolve_in_root(merged, v.target) for v in volumes}
    if any(v.read_only for v in volumes):
        # Sorted mount points and one range per volume: linear in the number of volumes, so a
        # thousand read-only volumes cost no more each than ten.
        import bisect

        from mountlab import mountinfo

        writable = sorted(m.mountpoint for m in mountinfo.read() if not m.read_only)
        points = set(where.values())
        fixed: list[str] = []
        for v in volumes:
            if not v.read_only:
                continue
            top = where[id(v)]
            below = writable[bisect.bisect_left(writable, top):
                             bisect.bisect_left(writable, top + "0")]  # "0" follows "/"
            for point in below:
                if point != top and not point.startswith(top + "/"):
                    continue
                parent = point
                while parent != top and parent not in points:
                    parent = os.path.dirname(parent)
                if parent == top:  # not inside another volume, which may well be writable
                    fixed.append(point)
                    if len(fixed) == 1:
                        warn(say("container.left_writable", target=v.target, point=point,
                                 readme=readme(2)))
        for point in dict.fromkeys(fixed):
            syscalls.mount_setattr(point, syscalls.MOUNT_ATTR_RDONLY)
    for v in volumes:
        if v.propagation and v.propagation != "rprivate":
            flag = {"shared": syscalls.MS_SHARED, "slave": syscalls.MS_SLAVE,
                    "private": syscalls.MS_PRIVATE}[v.propagation.removeprefix("r")]
            rec = syscalls.MS_REC if v.propagation.startswith("r") else 0
            syscalls.mount(None, where[id(v)], flags=flag | rec)


def teardown(plan: dict[str, Any], done: Done) -> None:
    """Undo in reverse: our own tmpfs directly, the volumes through the learner's step 4."""
    from mountlab import syscalls

    for is_tmpfs, paths in reversed(done):
        if is_tmpfs:
            for path in reversed(paths):
                try:
                    syscalls.umount2(path, syscalls.MNT_DETACH)
                except OSError:
                    pass  # dropped with the namespace anyway
        elif paths:
            _teardown_volumes(plan["cid"], paths)


def _teardown_volumes(cid: str, mounted: list[str]) -> None:
    try:
        learner.call(4, "teardown_container_volumes", cid, mounted)
    except (learner.StepNotReady, learner.StepFailed) as exc:
        warn(say("container.teardown_failed", error=exc))
