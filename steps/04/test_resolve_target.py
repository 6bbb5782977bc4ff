"""Graded checks of step 4, part 1: ``resolve_target`` keeps every mount target inside the rootfs.

Run them with ``pytest steps/04``. Each check runs your code in a throwaway mount namespace and
tries several container paths; the first one that goes wrong is shown. What the checks say (their
titles, the reasons they fail) is in ``messages.toml`` beside this file, in English and French.
"""

import os

import pytest

from mountlab import messages
from mountlab.errors import VolumeError
from mountlab.impl import step

say = messages.beside(__file__)

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
    """Each container path resolves to rootfs/expected; ``why`` is the key of the reason."""
    for container_path, expected in cases:
        got = step(4).resolve_target(str(rootfs), container_path)
        assert got == str(rootfs / expected), say(
            "resolved_elsewhere", path=container_path, got=got, expected=str(rootfs / expected),
            why=say(why))


def check_refused(rootfs, container_paths, why):
    """Each container path raises VolumeError naming it; ``why`` is the key of the reason."""
    for container_path in container_paths:
        try:
            got = step(4).resolve_target(str(rootfs), container_path)
        except VolumeError as exc:
            assert names(exc, container_path), say("refused_must_name", path=container_path,
                                                   said=exc)
        else:
            raise AssertionError(say("not_refused", path=container_path, got=got, why=say(why)))


@pytest.mark.points(2, section="what-to-do")
def test_resolves_plain_paths_inside_the_rootfs(tmp_path):
    check_inside(image(tmp_path), [
        ("/data", "data"),
        ("/srv/www/html", "srv/www/html"),
        ("//srv//./www/", "srv/www"),
        ("/" + AWKWARD, AWKWARD),
        ("/srv/-dash/ space/#hash", "srv/-dash/ space/#hash"),
        ("/" + "x" * 255 + "/" + "y" * 255, "x" * 255 + "/" + "y" * 255),
    ], "why_plain")


@pytest.mark.points(3, section="os-path-join-is-not-enough")
def test_dot_dot_cannot_climb_out_of_the_rootfs(tmp_path):
    check_inside(image(tmp_path), [
        ("/../../etc/x", "etc/x"),
        ("/srv/../../../../etc/passwd", "etc/passwd"),
        ("/srv/www/../data", "srv/data"),
        ("/usr/lib/../../../srv", "srv"),
    ], "why_dot_dot")


@pytest.mark.points(3, section="symlinks-in-the-image")
def test_absolute_symlink_in_the_image_stays_inside(tmp_path):
    rootfs = image(tmp_path, [("data", "/etc"), ("top", "/"), ("a", "/b"), ("b", "/etc/"),
                              ("srv/up", "/../../..")])
    check_inside(rootfs, [
        ("/data/x", "etc/x"),
        ("/data", "etc"),
        ("/top/etc/passwd", "etc/passwd"),
        ("/a/passwd", "etc/passwd"),
        ("/srv/up/etc", "etc"),
    ], "why_absolute_link")


@pytest.mark.points(2, section="symlinks-in-the-image")
def test_relative_symlink_with_dot_dot_stays_inside(tmp_path):
    rootfs = image(tmp_path, [("srv/link", "../../../../etc"), ("srv/www", "html"),
                              ("usr/lib/up", "../share"), ("a", "b/c"), ("b/c", "../../../d"),
                              ("srv/here", "./.")])
    check_inside(rootfs, [
        ("/srv/link/x", "etc/x"),
        ("/srv/www/index", "srv/html/index"),
        ("/usr/lib/up/doc", "usr/share/doc"),
        ("/a/e", "d/e"),
        ("/srv/here/x", "srv/x"),
    ], "why_relative_link")


@pytest.mark.points(1, section="symlinks-in-the-image")
@pytest.mark.timeout(3)  # a loop that is not caught never ends
def test_symlink_loops_are_refused(tmp_path):
    chain = [(f"l{i}", f"l{i + 1}") for i in range(39)] + [("l39", "/etc")]
    rootfs = image(tmp_path, [("a", "b"), ("b", "/a"), ("self", "self"), ("grow", "grow/x"),
                              *chain])
    check_inside(rootfs, [("/l0/x", "etc/x")], "why_forty_links")
    check_refused(rootfs, ["/a/x", "/self", "/grow/x"], "why_loop")


@pytest.mark.points(1, section="not-root-not-proc")
def test_refuses_the_root_and_proc(tmp_path):
    rootfs = image(tmp_path, [("p", "/proc"), ("top", "..")])
    check_refused(rootfs, ["/", "/..", "", "/proc", "/proc/sys/kernel", "/./proc/../proc/x",
                           "/p/x", "/top"], "why_root_proc")
