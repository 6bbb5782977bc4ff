"""Graded checks of step 4, part 2: ``setup_container_volumes`` and ``teardown_container_volumes``.

Run them with ``pytest steps/04``. Each check runs your code in a throwaway mount namespace. So
that these points depend on step 4 only, most checks put simple recording doubles in place of
your steps 1-3 (mountlab/grading/doubles.py); the one named ``..._with_your_steps_1_to_3`` uses
your own. What the checks say (their titles, the reasons they fail) is in ``messages.toml`` beside
this file, in English and French.
"""

import os
import time

import pytest

from mountlab import messages, mountinfo
from mountlab.errors import VolumeError
from mountlab.grading.checks import (
    mount_count,
    same_file,
    seconds,
    snapshot,
    tmpfs,
    write_fails_with_erofs,
)
from mountlab.grading.doubles import InjectedFailure, Steps123, in_subject
from mountlab.impl import step
from mountlab.volume import Volume, volume_data_dir

CID = "c0ffee"
say = messages.beside(__file__)


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
    rootfs = image(tmp_path)
    config = tmp_path / "host" / "app.ini"
    web, logs, odd = (host_dir(tmp_path, n) for n in ("web files", "logs", "données\nnew"))
    config.write_text("[app]\n")
    volumes = [Volume(str(web), "/srv/www"), Volume(str(config), "/etc/app.ini"),
               Volume(str(logs), "/data/log"), Volume(str(odd), "/../opt/é t")]
    with Steps123().installed() as doubles:
        got = setup(rootfs, volumes)
    expected = [str(rootfs / p) for p in ("srv/www", "etc/app.ini", "var/log", "opt/é t")]
    assert got == expected, say("returned_targets", got=got, expected=expected)
    assert doubles.mounted() == expected, say("mounted_targets", got=doubles.mounted(),
                                              expected=expected)
    for volume, target in zip(volumes, expected, strict=True):
        assert same_file(target, volume.source), say("does_not_show", target=target,
                                                     source=volume.source)
        assert mount_count(target) == 1, say("mounted_times", target=target,
                                             count=mount_count(target))
    assert mounted_under(tmp_path) == expected, say("mounted_else")


@pytest.mark.points(2, section="parents-before-children")
@pytest.mark.leaves_mounts
def test_parents_are_mounted_before_children(tmp_path):
    rootfs = image(tmp_path)
    deep, sub, logs, top = (host_dir(tmp_path, n) for n in ("deep", "sub", "logs", "top"))
    volumes = [Volume(str(deep), "/srv/app/sub/deep"), Volume(str(sub), "/srv/app/sub"),
               Volume(str(logs), "/logs"), Volume(str(top), "/srv/app/")]
    with Steps123().installed():
        got = setup(rootfs, volumes)
    expected = [str(rootfs / p) for p in ("logs", "srv/app", "srv/app/sub", "srv/app/sub/deep")]
    assert got == expected, say("mount_order", got=got, expected=expected)
    for source, target in ((deep, expected[3]), (sub, expected[2]), (top, expected[1])):
        assert same_file(target, source), say("does_not_show", target=target, source=source)


@pytest.mark.points(1, section="parents-before-children")
@pytest.mark.leaves_mounts
def test_a_symlink_in_a_parent_volume_stays_inside(tmp_path):
    rootfs = image(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    parent, child = host_dir(tmp_path, "app"), host_dir(tmp_path, "child")
    os.symlink(outside, parent / "sub")  # the volume's own symlink, to a host path
    volumes = [Volume(str(parent), "/srv/app"), Volume(str(child), "/srv/app/sub/x")]
    with Steps123().installed():
        got = setup(rootfs, volumes)
    assert os.listdir(outside) == [] and mounted_under(outside) == [], \
        say("went_to_host", path=outside / "x")
    expected = [str(rootfs / "srv/app"), str(rootfs) + str(outside / "x")]
    assert got == expected, say("returned_expected", got=got, expected=expected)
    assert same_file(expected[1], child), say("does_not_show", target=expected[1], source=child)


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
    rootfs, volumes = rollback_case(tmp_path, case)
    before = snapshot(tmp_path)
    doubles = Steps123()
    if case == "mount-fails":
        doubles.fail_on("mount_volume", 4)
    with doubles.installed(), pytest.raises(VolumeError) as raised:
        setup(rootfs, volumes)
    if case == "mount-fails":
        assert doubles.is_failure(raised.value, 0), say("original_error", got=raised.value)
    else:
        assert "/proc/sys/c" in str(raised.value), say("error_names_path", said=raised.value)
    if case == "mount-fails":
        assert len(doubles.mounted()) == 3, say("three_mounted", got=doubles.mounted())
    else:  # refusing the target before mounting anything is as good as undoing the mounts
        assert len(doubles.mounted()) in (0, 3), say("all_or_none", got=doubles.mounted())
    assert mounted_under(tmp_path) == [], say("left_mounted_after_failure",
                                              paths=", ".join(mounted_under(tmp_path)))
    assert doubles.unmounted() == doubles.mounted()[::-1], say("unmount_order",
                                                               got=doubles.unmounted())
    after = snapshot(tmp_path)
    assert after.keys() - before.keys() == set(), say(
        "left_created", paths=sorted(after.keys() - before.keys()))
    assert after == before, say("removed_existing", paths=sorted(before.keys() - after.keys()))


@pytest.mark.points(1, section="rollback")
@pytest.mark.leaves_mounts
def test_rollback_goes_on_when_an_unmount_fails(tmp_path):
    rootfs = image(tmp_path)
    volumes = [Volume(str(host_dir(tmp_path, n)), f"/srv/{n}") for n in "abc"]
    doubles = Steps123().fail_on("mount_volume", 3).fail_on("unmount_volume", 1)
    with doubles.installed(), pytest.raises(VolumeError) as raised:
        setup(rootfs, volumes)
    assert doubles.is_failure(raised.value, 0), say("original_not_rollback", got=raised.value)
    a, b = (str(rootfs / "srv" / n) for n in "ab")
    assert [c.args[0] for c in doubles.of("unmount_volume")] == [b, a], say("rollback_order")
    assert mount_count(a) == 0, say("rollback_stopped", target=a)


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.leaves_mounts
def test_read_only_is_passed_through(tmp_path):
    rootfs = image(tmp_path)
    ro, rw = host_dir(tmp_path, "ro"), host_dir(tmp_path, "rw")
    volumes = [Volume(str(ro), "/srv/ro", read_only=True), Volume(str(rw), "/srv/rw")]
    with Steps123().installed() as doubles:
        setup(rootfs, volumes)
    assert [c.read_only for c in doubles.of("mount_volume")] == [True, False], \
        say("read_only_flags")
    assert write_fails_with_erofs(rootfs / "srv" / "ro"), say("ro_accepts_writes")
    assert not write_fails_with_erofs(rootfs / "srv" / "rw"), say("rw_is_read_only")


@pytest.mark.points(2, section="named-volumes")
@pytest.mark.leaves_mounts
def test_named_volumes_live_in_their_data_dir(tmp_path):
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
    assert got == expected, say("named_calls", got=got, expected=expected)
    (rootfs / "scratch" / "new.txt").write_text("from the container")
    assert os.path.isfile(os.path.join(anonymous, "new.txt")), say("anonymous_not_shared")
    assert same_file(app, cache), say("does_not_show", target=app, source=cache)


@pytest.mark.points(2, section="teardown-in-reverse")
def test_teardown_unmounts_in_reverse_order(tmp_path):
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
    assert got == mounted[::-1], say("teardown_order", got=got, expected=mounted[::-1])
    assert error is None, say("teardown_raised", got=error)
    assert mounted_under(tmp_path) == [], say("still_mounted_list",
                                              paths=", ".join(mounted_under(tmp_path)))


@pytest.mark.points(1, section="teardown-in-reverse")
@pytest.mark.leaves_mounts
def test_teardown_keeps_going_and_reports_every_failure(tmp_path):
    rootfs = image(tmp_path)
    volumes = [Volume(str(host_dir(tmp_path, n)), f"/srv/{n}") for n in "abc"]
    doubles = Steps123().fail_on("unmount_volume", 1, 3)
    with doubles.installed():
        mounted = setup(rootfs, volumes)
        with pytest.raises(VolumeError) as raised:
            teardown(mounted)
    a, b, c = mounted
    assert [call.args[0] for call in doubles.of("unmount_volume")] == [c, b, a], \
        say("teardown_stopped")
    assert mount_count(b) == 0, say("still_mounted", target=b)
    assert a in str(raised.value) and c in str(raised.value), say(
        "list_every_failure", first=c, second=a, said=raised.value)
    assert not isinstance(raised.value, InjectedFailure), say("one_error_of_yours")


@pytest.mark.points(1, section="a-thousand-volumes")
@pytest.mark.leaves_mounts  # the tmpfs below; the check itself proves the volumes are all gone
@pytest.mark.timeout(8)
def test_a_thousand_volumes(tmp_path):
    # On a tmpfs, so that the disk's speed at creating directories does not count.
    tmpfs(tmp_path / "fs")
    rootfs = image(tmp_path / "fs")
    source = host_dir(tmp_path / "fs", "shared")
    volumes = [Volume(str(source), f"/v/{i % 10}/{i}", read_only=i % 2 == 1) for i in range(1000)]
    volumes += [Volume(str(source), f"/v/{i}") for i in range(10)]  # parents, listed last
    start = time.monotonic()
    # The doubles of steps 1-3 run in your code's process: 2020 calls, none crossing to the
    # check's process and back. Nothing they record decides; the kernel's mount table does.
    with in_subject():
        mounted = setup(rootfs, volumes)
        count = len(mounted_under(rootfs))
        teardown(mounted)
    elapsed = time.monotonic() - start
    assert count == 1010, say("thousand_count", count=count)
    assert mounted_under(rootfs) == [], say("thousand_left")
    # The reference takes half a second; work repeated over every other volume, far longer than
    # 3 s. (More where every system call costs more: in a User-Mode Linux guest.)
    assert elapsed < seconds(3.0), say("thousand_slow", elapsed=elapsed)


@pytest.mark.points(1, section="what-to-do")
def test_end_to_end_with_your_steps_1_to_3(tmp_path):
    use_state_dir(tmp_path)
    rootfs = image(tmp_path)
    data, conf = host_dir(tmp_path, "data", "keep me"), host_dir(tmp_path, "conf")
    volumes = [Volume(str(data), "/srv/data"), Volume(str(conf), "/etc/conf", read_only=True),
               Volume("cache", "/var/cache", kind="volume")]
    try:
        mounted = setup(rootfs, volumes)
    except NotImplementedError as exc:
        raise AssertionError(say("e2e_not_written", error=exc)) from exc
    srv, etc, cache = mounted
    assert same_file(srv, data) and same_file(etc, conf), say("binds_not_shown")
    assert same_file(cache, volume_data_dir("cache")), say("named_not_mounted")
    assert write_fails_with_erofs(etc), say("ro_accepts_writes")
    (rootfs / "srv" / "data" / "new.txt").write_text("written in the container")
    teardown(mounted)
    assert mounted_under(tmp_path) == [], say("still_mounted_list",
                                              paths=", ".join(mounted_under(tmp_path)))
    assert (data / "data.txt").read_text() == "keep me", say("data_lost")
    assert (data / "new.txt").is_file(), say("write_not_kept")
