"""Graded checks of step 4, part 2: ``setup_container_volumes`` and ``teardown_container_volumes``.

Run them with ``pytest steps/04``. Each check runs your code in a throwaway mount namespace. So
that these points depend on step 4 only, most checks put simple recording doubles in place of
your steps 1-3 (mountlab/grading/doubles.py); the one named ``..._with_your_steps_1_to_3`` uses
your own.
"""

import os
import time

import pytest

from mountlab import mountinfo
from mountlab.errors import VolumeError
from mountlab.grading.checks import (
    mount_count,
    same_file,
    seconds,
    snapshot,
    tmpfs,
    write_fails_with_erofs,
)
from mountlab.grading.doubles import InjectedFailure, Steps123
from mountlab.impl import step
from mountlab.volume import Volume, volume_data_dir

CID = "c0ffee"


def setup(rootfs, volumes, container_id=CID):
    return step(4).setup_container_volumes(container_id, str(rootfs), volumes)


def teardown(mounted, container_id=CID):
    return step(4).teardown_container_volumes(container_id, mounted)


def image(tmp_path):
    """A small image with a symlink: rootfs/{etc,srv,var}, rootfs/data -> /var."""
    rootfs = tmp_path / "rootfs"
    for d in ("etc", "srv", "var"):
        (rootfs / d).mkdir(parents=True)
    os.symlink("/var", rootfs / "data")
    return rootfs


def host_dir(tmp_path, name, content="x"):
    """A host directory holding one file, ``name.txt``."""
    path = tmp_path / "host" / name
    path.mkdir(parents=True)
    (path / f"{os.path.basename(name)}.txt").write_text(content)
    return path


def use_state_dir(tmp_path):
    # The check runs in a child process of its own: this setting goes away with it.
    os.environ["MOUNTLAB_STATE"] = str(tmp_path / "state")


def mounted_under(path):
    return [m.mountpoint for m in mountinfo.mounts_under(path)]


@pytest.mark.points(2, section="what-to-do")
@pytest.mark.leaves_mounts
def test_mounts_each_volume_at_its_resolved_target(tmp_path):
    """Each volume is mounted through step 2 at its resolved target; the list of targets is
    returned"""
    rootfs = image(tmp_path)
    config = tmp_path / "host" / "app.ini"
    web, logs, odd = (host_dir(tmp_path, n) for n in ("web files", "logs", "données\nnew"))
    config.write_text("[app]\n")
    volumes = [Volume(str(web), "/srv/www"), Volume(str(config), "/etc/app.ini"),
               Volume(str(logs), "/data/log"), Volume(str(odd), "/../opt/é t")]
    with Steps123().installed() as doubles:
        got = setup(rootfs, volumes)
    expected = [str(rootfs / p) for p in ("srv/www", "etc/app.ini", "var/log", "opt/é t")]
    assert got == expected, (
        f"setup_container_volumes returned {got}, not the host paths it mounted, in order: "
        f"{expected}; rootfs/data -> /var is a symlink of the image")
    assert doubles.mounted() == expected, (
        f"step(2).mount_volume was called on {doubles.mounted()}, not on {expected}: resolve "
        "each target with resolve_target and mount through step(2)")
    for volume, target in zip(volumes, expected, strict=True):
        assert same_file(target, volume.source), f"{target} does not show {volume.source}"
        assert mount_count(target) == 1, f"{target} is mounted {mount_count(target)} times"
    assert mounted_under(tmp_path) == expected, \
        "something else than the volumes' targets was mounted"


@pytest.mark.points(2, section="parents-before-children")
@pytest.mark.leaves_mounts
def test_parents_are_mounted_before_children(tmp_path):
    """A volume inside another is mounted after it (by depth of the target, equal depths kept in
    order)"""
    rootfs = image(tmp_path)
    deep, sub, logs, top = (host_dir(tmp_path, n) for n in ("deep", "sub", "logs", "top"))
    volumes = [Volume(str(deep), "/srv/app/sub/deep"), Volume(str(sub), "/srv/app/sub"),
               Volume(str(logs), "/logs"), Volume(str(top), "/srv/app/")]
    with Steps123().installed():
        got = setup(rootfs, volumes)
    expected = [str(rootfs / p) for p in ("logs", "srv/app", "srv/app/sub", "srv/app/sub/deep")]
    assert got == expected, (
        f"mount order {got}, expected {expected}: mount a parent before the volumes inside it, "
        "or it hides them; sort by depth of the target (sorted() keeps equal depths in order)")
    for source, target in ((deep, expected[3]), (sub, expected[2]), (top, expected[1])):
        assert same_file(target, source), f"{target} does not show {source}"


@pytest.mark.points(1, section="parents-before-children")
@pytest.mark.leaves_mounts
def test_a_symlink_in_a_parent_volume_stays_inside(tmp_path):
    """A target is resolved once its parent volume is mounted: a symlink in that volume stays
    inside the rootfs"""
    rootfs = image(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    parent, child = host_dir(tmp_path, "app"), host_dir(tmp_path, "child")
    os.symlink(outside, parent / "sub")  # the volume's own symlink, to a host path
    volumes = [Volume(str(parent), "/srv/app"), Volume(str(child), "/srv/app/sub/x")]
    with Steps123().installed():
        got = setup(rootfs, volumes)
    assert os.listdir(outside) == [] and mounted_under(outside) == [], (
        f"the second volume went to the host's {outside / 'x'}: resolve each target just before "
        "mounting it, once its parent volume is in place, since that volume may hold a symlink on "
        "the path (runc CVE-2021-30465)")
    expected = [str(rootfs / "srv/app"), str(rootfs) + str(outside / "x")]
    assert got == expected, f"returned {got}, expected {expected}"
    assert same_file(expected[1], child), f"{expected[1]} does not show {child}"


def rollback_case(tmp_path, case):
    """An image and four volumes; the fourth (last in mount order) fails in ``case``."""
    use_state_dir(tmp_path)
    rootfs = image(tmp_path)
    a, b, c = (host_dir(tmp_path, n) for n in "abc")
    last = "/proc/sys/c" if case == "target-refused" else "/new/x/c"
    volumes = [Volume(str(a), "/srv/a"), Volume("cache", "/new/deep/dir", kind="volume"),
               Volume(str(b), "/srv/b", read_only=True), Volume(str(c), last)]
    return rootfs, volumes


@pytest.mark.points(4, section="rollback")
@pytest.mark.parametrize("case", ["mount-fails", "target-refused"])
def test_rollback_when_a_volume_fails(tmp_path, case):
    """When a volume fails, what the call mounted is unmounted in reverse, what it created is
    removed, and the original error is raised"""
    rootfs, volumes = rollback_case(tmp_path, case)
    before = snapshot(tmp_path)
    doubles = Steps123()
    if case == "mount-fails":
        doubles.fail_on("mount_volume", 4)
    with doubles.installed(), pytest.raises(VolumeError) as raised:
        setup(rootfs, volumes)
    if case == "mount-fails":
        assert doubles.is_failure(raised.value, 0), (
            f"the caller must get the original error of step 2, not {raised.value!r}: re-raise "
            "it with a bare raise")
    else:
        assert "/proc/sys/c" in str(raised.value), f"the error must name the path: {raised.value}"
    if case == "mount-fails":
        assert len(doubles.mounted()) == 3, \
            f"3 volumes should have been mounted: {doubles.mounted()}"
    else:  # refusing the target before mounting anything is as good as undoing the mounts
        assert len(doubles.mounted()) in (0, 3), \
            f"mounted {doubles.mounted()}: mount all the volumes before it, or none"
    assert mounted_under(tmp_path) == [], (
        "still mounted after the failure: " + ", ".join(mounted_under(tmp_path))
        + ". Undo what this call mounted before raising")
    assert doubles.unmounted() == doubles.mounted()[::-1], (
        f"unmounted {doubles.unmounted()}: undo in reverse order of mounting, through "
        "step(3).unmount_volume")
    after = snapshot(tmp_path)
    assert after.keys() - before.keys() == set(), (
        "after the rollback these paths are left that did not exist before: "
        f"{sorted(after.keys() - before.keys())}; remove (rmdir) the directories you created, "
        "the named volume's too")
    assert after == before, (
        "the rollback removed or changed what existed before: "
        f"{sorted(before.keys() - after.keys())}; remove only what this call created")


@pytest.mark.points(1, section="rollback")
@pytest.mark.leaves_mounts
def test_rollback_goes_on_when_an_unmount_fails(tmp_path):
    """A failure while rolling back does not stop the rollback nor hide the original error"""
    rootfs = image(tmp_path)
    volumes = [Volume(str(host_dir(tmp_path, n)), f"/srv/{n}") for n in "abc"]
    doubles = Steps123().fail_on("mount_volume", 3).fail_on("unmount_volume", 1)
    with doubles.installed(), pytest.raises(VolumeError) as raised:
        setup(rootfs, volumes)
    assert doubles.is_failure(raised.value, 0), (
        f"the caller must get the error that stopped the set-up (step 2's), not {raised.value!r}:"
        " an error during the rollback must not replace it")
    a, b = (str(rootfs / "srv" / n) for n in "ab")
    assert [c.args[0] for c in doubles.of("unmount_volume")] == [b, a], (
        "unmounting b failed during the rollback; a must still be unmounted after it")
    assert mount_count(a) == 0, f"{a} is still mounted: keep rolling back past a failure"


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.leaves_mounts
def test_read_only_is_passed_through(tmp_path):
    """A volume's read_only reaches step 2: writes fail with EROFS there, and only there"""
    rootfs = image(tmp_path)
    ro, rw = host_dir(tmp_path, "ro"), host_dir(tmp_path, "rw")
    volumes = [Volume(str(ro), "/srv/ro", read_only=True), Volume(str(rw), "/srv/rw")]
    with Steps123().installed() as doubles:
        setup(rootfs, volumes)
    assert [c.read_only for c in doubles.of("mount_volume")] == [True, False], \
        "pass read_only=volume.read_only to step(2).mount_volume"
    assert write_fails_with_erofs(rootfs / "srv" / "ro"), "the read-only volume accepts writes"
    assert not write_fails_with_erofs(rootfs / "srv" / "rw"), "the read-write volume is read-only"


@pytest.mark.points(2, section="named-volumes")
@pytest.mark.leaves_mounts
def test_named_volumes_live_in_their_data_dir(tmp_path):
    """A named volume is created with step 1 in volume_data_dir(name) and mounted from there; an
    anonymous one is named '<container_id>-<index>'"""
    use_state_dir(tmp_path)
    rootfs = image(tmp_path)
    www = host_dir(tmp_path, "www")
    volumes = [Volume("cache", "/var/cache/app", kind="volume"),
               Volume(None, "/scratch", kind="volume"), Volume(str(www), "/srv")]
    with Steps123().installed() as doubles:
        setup(rootfs, volumes)
    cache, anonymous = volume_data_dir("cache"), volume_data_dir(f"{CID}-1")
    app, scratch, srv = (str(rootfs / p) for p in ("var/cache/app", "scratch", "srv"))
    expected = [("setup_volume", (anonymous, scratch)), ("mount_volume", (anonymous, scratch)),
                ("mount_volume", (str(www), srv)),
                ("setup_volume", (cache, app)), ("mount_volume", (cache, app))]
    got = [(c.function, c.args) for c in doubles.calls]
    assert got == expected, (
        f"the calls to steps 1-3 were {got}, expected {expected}: a named volume's host "
        "directory is volume_data_dir(name), created with step(1).setup_volume(host_dir, target) "
        "before step(2) mounts it; a bind volume needs no step 1")
    (rootfs / "scratch" / "new.txt").write_text("from the container")
    assert os.path.isfile(os.path.join(anonymous, "new.txt")), \
        "a file written in the container did not reach the volume's data directory"
    assert same_file(app, cache), f"{app} does not show {cache}"


@pytest.mark.points(2, section="teardown-in-reverse")
def test_teardown_unmounts_in_reverse_order(tmp_path):
    """Teardown unmounts through step 3, last mounted first, and leaves nothing mounted"""
    rootfs = image(tmp_path)
    volumes = [Volume(str(host_dir(tmp_path, n)), t)
               for n, t in (("logs", "/logs"), ("app", "/srv/app"), ("sub", "/srv/app/sub"))]
    with Steps123().installed() as doubles:
        mounted = setup(rootfs, volumes)
        error = None
        try:
            teardown(mounted)
        except VolumeError as exc:
            error = exc
    got = [c.args[0] for c in doubles.of("unmount_volume")]
    assert got == mounted[::-1], (
        f"unmounted in the order {got}, not {mounted[::-1]}: a parent cannot be unmounted while "
        f"a volume is mounted inside it (EBUSY): go in reverse order of mounting")
    assert error is None, f"teardown raised {error!r}"
    assert mounted_under(tmp_path) == [], f"still mounted: {mounted_under(tmp_path)}"


@pytest.mark.points(1, section="teardown-in-reverse")
@pytest.mark.leaves_mounts
def test_teardown_keeps_going_and_reports_every_failure(tmp_path):
    """A failed unmount does not stop teardown; one VolumeError lists every failure"""
    rootfs = image(tmp_path)
    volumes = [Volume(str(host_dir(tmp_path, n)), f"/srv/{n}") for n in "abc"]
    doubles = Steps123().fail_on("unmount_volume", 1, 3)
    with doubles.installed():
        mounted = setup(rootfs, volumes)
        with pytest.raises(VolumeError) as raised:
            teardown(mounted)
    a, b, c = mounted
    assert [call.args[0] for call in doubles.of("unmount_volume")] == [c, b, a], (
        "unmounting c failed: teardown must still unmount b and a, in that order")
    assert mount_count(b) == 0, f"{b} is still mounted"
    assert a in str(raised.value) and c in str(raised.value), (
        f"the error must list every failed path ({c} and {a}); it said: {raised.value}")
    assert not isinstance(raised.value, InjectedFailure), (
        "raise one VolumeError of your own that lists every failure, not the first error")


@pytest.mark.points(1, section="a-thousand-volumes")
@pytest.mark.leaves_mounts  # the tmpfs below; the check itself proves the volumes are all gone
@pytest.mark.timeout(8)
def test_a_thousand_volumes(tmp_path):
    """A thousand volumes mount and tear down in a few seconds"""
    # On a tmpfs, so that the disk's speed at creating directories does not count.
    tmpfs(tmp_path / "fs")
    rootfs = image(tmp_path / "fs")
    source = host_dir(tmp_path / "fs", "shared")
    volumes = [Volume(str(source), f"/v/{i % 10}/{i}", read_only=i % 2 == 1) for i in range(1000)]
    volumes += [Volume(str(source), f"/v/{i}") for i in range(10)]  # parents, listed last
    start = time.monotonic()
    with Steps123().installed():
        mounted = setup(rootfs, volumes)
        count = len(mounted_under(rootfs))
        teardown(mounted)
    elapsed = time.monotonic() - start
    assert count == 1010, f"{count} volumes mounted, not 1010"
    assert mounted_under(rootfs) == [], "not everything was unmounted"
    # Each of the 2020 calls to the doubles crosses from your code's process to the check's and
    # back: 4 s leaves room for that, and work repeated over every other volume takes far longer.
    # (More where every system call costs more: in a User-Mode Linux guest.)
    assert elapsed < seconds(4.0), (
        f"1010 volumes took {elapsed:.1f} s: look for work repeated for every volume over all "
        "the others (reading mountinfo each time, comparing every pair)")


@pytest.mark.points(1, section="what-to-do")
def test_end_to_end_with_your_steps_1_to_3(tmp_path):
    """End to end with YOUR steps 1-3: a bind, a read-only bind and a named volume go up and down"""
    use_state_dir(tmp_path)
    rootfs = image(tmp_path)
    data, conf = host_dir(tmp_path, "data", "keep me"), host_dir(tmp_path, "conf")
    volumes = [Volume(str(data), "/srv/data"), Volume(str(conf), "/etc/conf", read_only=True),
               Volume("cache", "/var/cache", kind="volume")]
    try:
        mounted = setup(rootfs, volumes)
    except NotImplementedError as exc:
        raise AssertionError(f"not written yet: {exc} (this check uses your steps 1-3 with your "
                             "step 4)") from exc
    srv, etc, cache = mounted
    assert same_file(srv, data) and same_file(etc, conf), "the binds do not show their sources"
    assert same_file(cache, volume_data_dir("cache")), "the named volume is not mounted"
    assert write_fails_with_erofs(etc), "the read-only volume accepts writes"
    (rootfs / "srv" / "data" / "new.txt").write_text("written in the container")
    teardown(mounted)
    assert mounted_under(tmp_path) == [], f"still mounted: {mounted_under(tmp_path)}"
    assert (data / "data.txt").read_text() == "keep me", "the volume's data was lost"
    assert (data / "new.txt").is_file(), "what the container wrote did not stay on the host"
