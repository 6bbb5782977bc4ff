"""Graded checks of step 5: ``parse_volume_spec`` reads ``-v`` as Docker does.

Run them with ``pytest steps/05``. Each check runs your code in a throwaway child process.
"""

import os

import pytest

from mountlab.errors import VolumeSpecError
from mountlab.grading.checks import snapshot
from mountlab.impl import step
from mountlab.volume import PROPAGATIONS, Volume


def parse(spec):
    return step(5).parse_volume_spec(spec)


def accepted(spec, want):
    """``spec`` parses into exactly the Volume ``want``."""
    got = parse(spec)
    assert isinstance(got, Volume), (
        f"parse_volume_spec({spec!r}) returned a {type(got).__name__}: return a "
        "mountlab.volume.Volume, which the runtime expects")
    assert got == want, f"parse_volume_spec({spec!r}) returned {got!r}, expected {want!r}"


def bind(source, target, modes="", read_only=False, propagation=""):
    return Volume(source, target, read_only, "bind", propagation, modes)


def volume(name, target, modes="", read_only=False):
    return Volume(name, target, read_only, "volume", "", modes)


def refused(spec, message, why):
    """``spec`` raises VolumeSpecError(message, spec): Docker's exact words, and the spec."""
    try:
        got = parse(spec)
    except VolumeSpecError as exc:
        assert str(exc) == message, (
            f"{spec!r} was refused with the message {str(exc)!r}; Docker says {message!r}")
        assert exc.spec == spec, (
            f"the VolumeSpecError for {spec!r} must carry the spec: raise "
            f"VolumeSpecError(message, spec) (its .spec was {exc.spec!r})")
    else:
        raise AssertionError(f"{spec!r} was accepted as {got!r}: {why}")


def invalid_spec(spec):
    return f"invalid volume specification: '{spec}'"


def invalid_config(spec, kind, reason):
    return f'{invalid_spec(spec)}: invalid mount config for type "{kind}": {reason}'


def not_absolute(spec, kind, path):
    return invalid_config(spec, kind, f"invalid mount path: '{path}' mount path must be absolute")


def is_root(spec, kind):
    return invalid_config(spec, kind, "invalid specification: destination can't be '/'")


@pytest.mark.points(1, section="what-to-do")
def test_bind_mount(tmp_path):
    """SRC:DST with an absolute SRC is a bind mount, the host path taken as written"""
    accepted("/srv/data:/data", bind("/srv/data", "/data"))
    accepted("/rw:/ro", bind("/rw", "/ro"))
    # Parsing only reads the text: a missing source is not created (step 4 does that at start),
    # and a symlink is not resolved (the runtime resolves paths when it mounts).
    missing, link = tmp_path / "missing" / "dir", tmp_path / "link"
    link.symlink_to("/etc")
    before = snapshot(tmp_path)
    accepted(f"{missing}:/data", bind(str(missing), "/data"))
    accepted(f"{link}:/data", bind(str(link), "/data"))
    assert snapshot(tmp_path) == before, "parsing a spec created or changed files: only read it"


@pytest.mark.points(1, section="modes")
def test_read_only_and_read_write():
    """ro makes the volume read-only, rw or nothing read-write; modes keeps the raw MODES field"""
    accepted("/h:/c", bind("/h", "/c"))
    accepted("/h:/c:ro", bind("/h", "/c", "ro", read_only=True))
    accepted("/h:/c:rw", bind("/h", "/c", "rw"))
    accepted("/h:/c:ro,Z", bind("/h", "/c", "ro,Z", read_only=True))
    accepted("/h:/c:z,rw", bind("/h", "/c", "z,rw"))
    accepted("/h:/c:z", bind("/h", "/c", "z"))
    accepted("cache:/c:ro", volume("cache", "/c", "ro", read_only=True))


@pytest.mark.points(1, section="named-volumes")
def test_named_volume():
    """NAME:DST, a source not starting with '/', is a named volume"""
    accepted("data:/var/lib/data", volume("data", "/var/lib/data"))
    accepted("db:/d", volume("db", "/d"))
    accepted("My_vol-1.2:/x:ro,nocopy", volume("My_vol-1.2", "/x", "ro,nocopy", read_only=True))
    accepted("0x:/x:nocopy", volume("0x", "/x", "nocopy"))
    accepted("web:/srv:Z,rw", volume("web", "/srv", "Z,rw"))


@pytest.mark.points(1, section="what-to-do")
def test_anonymous_volume():
    """DST alone is an anonymous volume: no source, kind "volume\""""
    accepted("/data", Volume(None, "/data", False, "volume", "", ""))
    accepted("/var/lib//mysql/", Volume(None, "/var/lib/mysql", False, "volume", "", ""))


@pytest.mark.points(1, section="modes")
def test_propagation_modes_of_a_bind():
    """A propagation mode (shared, rslave, ...) on a bind lands in Volume.propagation"""
    for mode in PROPAGATIONS:
        accepted(f"/h:/c:{mode}", bind("/h", "/c", mode, propagation=mode))
    accepted("/h:/c:ro,z,rslave", bind("/h", "/c", "ro,z,rslave", True, "rslave"))
    accepted("/h:/c:Z,rshared,rw", bind("/h", "/c", "Z,rshared,rw", False, "rshared"))


@pytest.mark.points(2, section="clean-the-paths")
def test_paths_are_cleaned():
    """Both paths are cleaned: no '.', '..', '//' or trailing '/'; '..' stops at '/'"""
    accepted("/srv//data/./x/:/c//d/../e/", bind("/srv/data/x", "/c/e"))
    accepted("/h:/../../etc/x", bind("/h", "/etc/x"))
    accepted("//srv/data://data", bind("/srv/data", "/data"))
    accepted("///srv:///data//:ro", bind("/srv", "/data", "ro", read_only=True))
    accepted("/h/..:/c/.", bind("/", "/c"))
    accepted("vol:/a/b/../c", volume("vol", "/a/c"))


@pytest.mark.points(2, section="count-the-fields")
def test_empty_fields_and_too_many_colons():
    """An empty field, or more than three, is "invalid volume specification: '<spec>'\""""
    why = "split(':') alone is not enough: count the fields and refuse empty ones"
    for spec in ("", ":", "::", ":::", ":/c", "/h:", "/h::ro", "/a:/b:", "vol::", ":/c:ro",
                 "/a:/b:ro:x", "/a:/b:c:d:e", "/a:/b:ro:"):
        refused(spec, invalid_spec(spec), why)


@pytest.mark.points(1, section="count-the-fields")
def test_a_mode_is_not_a_destination():
    """SRC:MODES without a destination ('/h:ro') is an invalid volume specification"""
    why = "with two fields, a second field made of modes means the destination is missing"
    for spec in ("/h:ro", "/h:rw", "/h:ro,z", "/h:Z", "/h:shared", "/h:rprivate,ro", "vol:nocopy"):
        refused(spec, invalid_spec(spec), why)


@pytest.mark.points(2, section="absolute-destination")
def test_relative_destination_is_refused():
    """A destination that is not absolute is refused with Docker's message"""
    why = "the destination must be absolute: a relative one has no meaning in the container"
    for spec, kind, path in (("/h:data", "bind", "data"), ("/h:./data", "bind", "./data"),
                             ("/h:.", "bind", "."), ("/h:..", "bind", ".."),
                             ("/h:~/data:ro", "bind", "~/data"), ("vol:data", "volume", "data"),
                             ("data", "volume", "data"), (".", "volume", ".")):
        refused(spec, not_absolute(spec, kind, path), why)


@pytest.mark.points(1, section="clean-the-paths")
def test_destination_root_is_refused():
    """A destination that is '/' once cleaned ('/', '/..', '//') is refused"""
    why = "a volume mounted over the container's / would hide its whole filesystem"
    for spec, kind in (("/h:/", "bind"), ("/h:/..", "bind"), ("/h://", "bind"),
                       ("/h:/a/../..:ro", "bind"), ("/", "volume"), ("vol:/.", "volume")):
        refused(spec, is_root(spec, kind), why)


@pytest.mark.points(1, section="modes")
def test_unknown_modes_are_refused():
    """A mode Docker does not know is "invalid mode: <MODES>\""""
    why = "the modes are rw ro z Z nocopy shared rshared slave rslave private rprivate, no other"
    for modes in ("foo", "RO", "ro,", ",ro", "rwz", "ro z", "ro;z", "private ", "rprivatee"):
        refused(f"/h:/c:{modes}", f"invalid mode: {modes}", why)


@pytest.mark.points(1, section="modes")
def test_conflicting_modes_are_refused():
    """Two modes of one family (ro,rw or z,Z or two propagations) are an invalid mode"""
    why = "at most one of rw/ro, one of z/Z, one propagation and one nocopy"
    for spec in ("/h:/c:ro,rw", "/h:/c:rw,rw", "/h:/c:z,Z", "/h:/c:Z,Z", "/h:/c:shared,rslave",
                 "/h:/c:private,private", "/h:/c:ro,z,rshared,rslave", "vol:/c:nocopy,nocopy"):
        refused(spec, f"invalid mode: {spec.rsplit(':', 1)[1]}", why)


@pytest.mark.points(1, section="modes-where-they-belong")
def test_each_mode_where_it_belongs():
    """nocopy only on a named volume, a propagation mode only on a bind"""
    for spec in ("/h:/c:nocopy", "/h:/c:ro,nocopy"):
        refused(spec, invalid_config(spec, "bind", "field VolumeOptions must not be specified"),
                "nocopy is about copying the image's files into a new volume: a bind has none")
    for spec in ("vol:/c:shared", "vol:/c:ro,rprivate"):
        refused(spec, invalid_config(spec, "volume", "field BindOptions must not be specified"),
                "propagation modes are for bind mounts only")


@pytest.mark.points(1, section="named-volumes")
def test_invalid_volume_names_are_refused():
    """A volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ ('a' and '../evil' do not)"""
    why = "a volume's name becomes a directory on the host: only [a-zA-Z0-9][a-zA-Z0-9_.-]+"
    for name in ("a", "~", "."):
        refused(f"{name}:/c", f"create {name}: volume name is too short, names should be at "
                "least two alphanumeric characters", why)
    for name in ("../evil", "./data", "~/data", "a/b", "-x", "_x", ".hidden", "café", "vol\n",
                 "my vol", "x\t"):
        refused(f"{name}:/c:ro", f'create {name}: "{name}" includes invalid characters for a local '
                'volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                'pass a host directory, use absolute path', why)


@pytest.mark.points(1, section="awkward-input")
def test_nul_bytes_are_refused():
    """A NUL byte anywhere is refused: the kernel would cut the path there"""
    why = "the kernel reads a path up to its first NUL byte: '/h\\0x' would mount '/h'"
    for spec in ("/h\0x:/c", "/h:/c\0x", "/h:/c\0:ro", "\0"):
        refused(spec, f"{invalid_spec(spec)}: embedded null byte", why)


@pytest.mark.points(1, section="awkward-input")
def test_awkward_but_valid_paths():
    """Spaces, tabs, newlines, backslashes, non-ASCII and very long paths parse unchanged"""
    for name in ("with space", "tab\there", "new\nline", "back\\slash", "données-é中"):
        accepted(f"/srv/{name}:/mnt/{name}:ro", bind(f"/srv/{name}", f"/mnt/{name}", "ro", True))
    long_name = "x" * 255
    long_path = "/" + "/".join([long_name] * 15)  # 3840 bytes, under PATH_MAX (4096)
    assert len(os.fsencode(long_path)) == 3840
    accepted(f"{long_path}:{long_path}", bind(long_path, long_path))
    accepted(f"/h:/{long_name}", bind("/h", f"/{long_name}"))
