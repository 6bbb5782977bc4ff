"""Graded checks of step 4, part 1: ``resolve_target`` keeps every mount target inside the rootfs.

Run them with ``pytest steps/04``. Each check runs your code in a throwaway mount namespace and
tries several container paths; the first one that goes wrong is shown.
"""

import os

import pytest

from mountlab.errors import VolumeError
from mountlab.impl import step

AWKWARD = "a b/tab\there/new\nline/back\\slash/données-中"


def image(tmp_path, links=()):
    """A small image: rootfs/{etc,srv,usr/lib,usr/share}, plus the symlinks ``links``
    (pairs of path in the image, link text)."""
    rootfs = tmp_path / "rootfs"
    for d in ("etc", "srv", "usr/lib", "usr/share"):
        (rootfs / d).mkdir(parents=True)
    for path, text in links:
        (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(text, rootfs / path)
    return rootfs


def names(error, path):
    """The error's message names ``path`` (as is, or quoted the way OSError quotes it)."""
    return path in str(error) or repr(path) in str(error)


def check_inside(rootfs, cases, why):
    """Each container path resolves to rootfs/expected."""
    for container_path, expected in cases:
        got = step(4).resolve_target(str(rootfs), container_path)
        assert got == str(rootfs / expected), (
            f"resolve_target(rootfs, {container_path!r}) returned {got!r}, not "
            f"{str(rootfs / expected)!r}: {why}")


def check_refused(rootfs, container_paths, why):
    """Each container path raises VolumeError naming it."""
    for container_path in container_paths:
        try:
            got = step(4).resolve_target(str(rootfs), container_path)
        except VolumeError as exc:
            assert names(exc, container_path), (
                f"the error must name the path {container_path!r}; it said: {exc}")
        else:
            raise AssertionError(f"resolve_target(rootfs, {container_path!r}) returned {got!r} "
                                 f"instead of raising VolumeError: {why}")


@pytest.mark.points(2, section="what-to-do")
def test_resolves_plain_paths_inside_the_rootfs(tmp_path):
    """A plain container path lands at the same path under the rootfs"""
    check_inside(image(tmp_path), [
        ("/data", "data"),
        ("/srv/www/html", "srv/www/html"),
        ("//srv//./www/", "srv/www"),
        ("/" + AWKWARD, AWKWARD),
        ("/srv/-dash/ space/#hash", "srv/-dash/ space/#hash"),
        ("/" + "x" * 255 + "/" + "y" * 255, "x" * 255 + "/" + "y" * 255),
    ], "the container's / is the rootfs, so /x lands at rootfs/x (os.path.join with an absolute "
       "second argument throws the rootfs away)")


@pytest.mark.points(3, section="os-path-join-is-not-enough")
def test_dot_dot_cannot_climb_out_of_the_rootfs(tmp_path):
    """'..' never climbs above the rootfs: /../../etc/x lands in rootfs/etc/x"""
    check_inside(image(tmp_path), [
        ("/../../etc/x", "etc/x"),
        ("/srv/../../../../etc/passwd", "etc/passwd"),
        ("/srv/www/../data", "srv/data"),
        ("/usr/lib/../../../srv", "srv"),
    ], "in the container, /.. is / itself: '..' must stop at the rootfs")


@pytest.mark.points(3, section="symlinks-in-the-image")
def test_absolute_symlink_in_the_image_stays_inside(tmp_path):
    """An absolute symlink in the image (rootfs/data -> /etc) lands inside the rootfs"""
    rootfs = image(tmp_path, [("data", "/etc"), ("top", "/"), ("a", "/b"), ("b", "/etc/"),
                              ("srv/up", "/../../..")])
    check_inside(rootfs, [
        ("/data/x", "etc/x"),
        ("/data", "etc"),
        ("/top/etc/passwd", "etc/passwd"),
        ("/a/passwd", "etc/passwd"),
        ("/srv/up/etc", "etc"),
    ], "an image's symlink to /etc means the container's /etc, rootfs/etc, never the host's "
       "(runc CVE-2021-30465): read it with os.readlink and resolve it again from the rootfs, "
       "never with os.path.realpath")


@pytest.mark.points(2, section="symlinks-in-the-image")
def test_relative_symlink_with_dot_dot_stays_inside(tmp_path):
    """A relative symlink goes on from its own directory, and its '..' stops at the rootfs"""
    rootfs = image(tmp_path, [("srv/link", "../../../../etc"), ("srv/www", "html"),
                              ("usr/lib/up", "../share"), ("a", "b/c"), ("b/c", "../../../d"),
                              ("srv/here", "./.")])
    check_inside(rootfs, [
        ("/srv/link/x", "etc/x"),
        ("/srv/www/index", "srv/html/index"),
        ("/usr/lib/up/doc", "usr/share/doc"),
        ("/a/e", "d/e"),
        ("/srv/here/x", "srv/x"),
    ], "a relative link goes on from the directory that holds it, and its '..' cannot climb "
       "above the rootfs either")


@pytest.mark.points(1, section="symlinks-in-the-image")
@pytest.mark.timeout(3)  # a loop that is not caught never ends
def test_symlink_loops_are_refused(tmp_path):
    """A symlink loop raises VolumeError; a chain of 40 symlinks (the kernel's limit) is followed"""
    chain = [(f"l{i}", f"l{i + 1}") for i in range(39)] + [("l39", "/etc")]
    rootfs = image(tmp_path, [("a", "b"), ("b", "/a"), ("self", "self"), ("grow", "grow/x"),
                              *chain])
    check_inside(rootfs, [("/l0/x", "etc/x")],
                 "the kernel follows up to 40 symlinks in a path: do not stop earlier")
    check_refused(rootfs, ["/a/x", "/self", "/grow/x"],
                  "count the symlinks you follow and give up past 40 (ELOOP), as the kernel does")


@pytest.mark.points(1, section="not-root-not-proc")
def test_refuses_the_root_and_proc(tmp_path):
    """The container's / and targets in /proc raise VolumeError naming the path"""
    rootfs = image(tmp_path, [("p", "/proc"), ("top", "..")])
    check_refused(rootfs, ["/", "/..", "", "/proc", "/proc/sys/kernel", "/./proc/../proc/x",
                           "/p/x", "/top"],
                  "a volume over the container's / would hide the whole image, and /proc belongs "
                  "to the kernel (a volume there can hide or replace what it shows)")
