"""Graded checks of step 5: ``parse_volume_spec`` reads ``-v`` as Docker does.

Run them with ``pytest steps/05``. Each check runs your code in a throwaway child process. What the
checks say (their titles, the reasons they fail) is in ``messages.toml`` beside this file, in
English and French; Docker's own error messages stay as Docker words them.
"""

import os

import pytest

from mountlab import messages
from mountlab.errors import VolumeSpecError
from mountlab.grading.checks import snapshot
from mountlab.impl import step
from mountlab.volume import PROPAGATIONS, Volume

say = messages.beside(__file__)


def parse(spec):
    return step(5).parse_volume_spec(spec)


def accepted(spec, want):
    """``spec`` parses into exactly the Volume ``want``."""
    got = parse(spec)
    assert isinstance(got, Volume), say("not_a_volume", spec=spec, type=type(got).__name__)
    assert got == want, say("parsed_wrong", spec=spec, got=got, want=want)


def bind(source, target, modes="", read_only=False, propagation=""):
    return Volume(source, target, read_only, "bind", propagation, modes)


def volume(name, target, modes="", read_only=False):
    return Volume(name, target, read_only, "volume", "", modes)


def refused(spec, message, why):
    """``spec`` raises VolumeSpecError(message, spec): Docker's exact words, and the spec.
    ``why`` is the key of the reason to give when it is accepted."""
    try:
        got = parse(spec)
    except VolumeSpecError as exc:
        assert str(exc) == message, say("wrong_words", spec=spec, said=str(exc), message=message)
        assert exc.spec == spec, say("carry_the_spec", spec=spec, got=exc.spec)
    else:
        raise AssertionError(say("accepted_wrongly", spec=spec, got=got, why=say(why)))


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
    accepted("/srv/data:/data", bind("/srv/data", "/data"))
    accepted("/rw:/ro", bind("/rw", "/ro"))
    # Parsing only reads the text: a missing source is not created (step 4 does that at start),
    # and a symlink is not resolved (the runtime resolves paths when it mounts).
    missing, link = tmp_path / "missing" / "dir", tmp_path / "link"
    link.symlink_to("/etc")
    before = snapshot(tmp_path)
    accepted(f"{missing}:/data", bind(str(missing), "/data"))
    accepted(f"{link}:/data", bind(str(link), "/data"))
    assert snapshot(tmp_path) == before, say("parsing_touched_files")


@pytest.mark.points(1, section="modes")
def test_read_only_and_read_write():
    accepted("/h:/c", bind("/h", "/c"))
    accepted("/h:/c:ro", bind("/h", "/c", "ro", read_only=True))
    accepted("/h:/c:rw", bind("/h", "/c", "rw"))
    accepted("/h:/c:ro,Z", bind("/h", "/c", "ro,Z", read_only=True))
    accepted("/h:/c:z,rw", bind("/h", "/c", "z,rw"))
    accepted("/h:/c:z", bind("/h", "/c", "z"))
    accepted("cache:/c:ro", volume("cache", "/c", "ro", read_only=True))


@pytest.mark.points(1, section="named-volumes")
def test_named_volume():
    accepted("data:/var/lib/data", volume("data", "/var/lib/data"))
    accepted("db:/d", volume("db", "/d"))
    accepted("My_vol-1.2:/x:ro,nocopy", volume("My_vol-1.2", "/x", "ro,nocopy", read_only=True))
    accepted("0x:/x:nocopy", volume("0x", "/x", "nocopy"))
    accepted("web:/srv:Z,rw", volume("web", "/srv", "Z,rw"))


@pytest.mark.points(1, section="what-to-do")
def test_anonymous_volume():
    accepted("/data", Volume(None, "/data", False, "volume", "", ""))
    accepted("/var/lib//mysql/", Volume(None, "/var/lib/mysql", False, "volume", "", ""))


@pytest.mark.points(1, section="modes")
def test_propagation_modes_of_a_bind():
    for mode in PROPAGATIONS:
        accepted(f"/h:/c:{mode}", bind("/h", "/c", mode, propagation=mode))
    accepted("/h:/c:ro,z,rslave", bind("/h", "/c", "ro,z,rslave", True, "rslave"))
    accepted("/h:/c:Z,rshared,rw", bind("/h", "/c", "Z,rshared,rw", False, "rshared"))


@pytest.mark.points(2, section="clean-the-paths")
def test_paths_are_cleaned():
    accepted("/srv//data/./x/:/c//d/../e/", bind("/srv/data/x", "/c/e"))
    accepted("/h:/../../etc/x", bind("/h", "/etc/x"))
    accepted("//srv/data://data", bind("/srv/data", "/data"))
    accepted("///srv:///data//:ro", bind("/srv", "/data", "ro", read_only=True))
    accepted("/h/..:/c/.", bind("/", "/c"))
    accepted("vol:/a/b/../c", volume("vol", "/a/c"))


@pytest.mark.points(2, section="count-the-fields")
def test_empty_fields_and_too_many_colons():
    why = "why_count_fields"
    for spec in ("", ":", "::", ":::", ":/c", "/h:", "/h::ro", "/a:/b:", "vol::", ":/c:ro",
                 "/a:/b:ro:x", "/a:/b:c:d:e", "/a:/b:ro:"):
        refused(spec, invalid_spec(spec), why)


@pytest.mark.points(1, section="count-the-fields")
def test_a_mode_is_not_a_destination():
    why = "why_mode_not_destination"
    for spec in ("/h:ro", "/h:rw", "/h:ro,z", "/h:Z", "/h:shared", "/h:rprivate,ro", "vol:nocopy"):
        refused(spec, invalid_spec(spec), why)


@pytest.mark.points(2, section="absolute-destination")
def test_relative_destination_is_refused():
    why = "why_absolute"
    for spec, kind, path in (("/h:data", "bind", "data"), ("/h:./data", "bind", "./data"),
                             ("/h:.", "bind", "."), ("/h:..", "bind", ".."),
                             ("/h:~/data:ro", "bind", "~/data"), ("vol:data", "volume", "data"),
                             ("data", "volume", "data"), (".", "volume", ".")):
        refused(spec, not_absolute(spec, kind, path), why)


@pytest.mark.points(1, section="clean-the-paths")
def test_destination_root_is_refused():
    why = "why_not_root"
    for spec, kind in (("/h:/", "bind"), ("/h:/..", "bind"), ("/h://", "bind"),
                       ("/h:/a/../..:ro", "bind"), ("/", "volume"), ("vol:/.", "volume")):
        refused(spec, is_root(spec, kind), why)


@pytest.mark.points(1, section="modes")
def test_unknown_modes_are_refused():
    why = "why_known_modes"
    for modes in ("foo", "RO", "ro,", ",ro", "rwz", "ro z", "ro;z", "private ", "rprivatee"):
        refused(f"/h:/c:{modes}", f"invalid mode: {modes}", why)


@pytest.mark.points(1, section="modes")
def test_conflicting_modes_are_refused():
    why = "why_one_per_family"
    for spec in ("/h:/c:ro,rw", "/h:/c:rw,rw", "/h:/c:z,Z", "/h:/c:Z,Z", "/h:/c:shared,rslave",
                 "/h:/c:private,private", "/h:/c:ro,z,rshared,rslave", "vol:/c:nocopy,nocopy"):
        refused(spec, f"invalid mode: {spec.rsplit(':', 1)[1]}", why)


@pytest.mark.points(1, section="modes-where-they-belong")
def test_each_mode_where_it_belongs():
    for spec in ("/h:/c:nocopy", "/h:/c:ro,nocopy"):
        refused(spec, invalid_config(spec, "bind", "field VolumeOptions must not be specified"),
                "why_nocopy")
    for spec in ("vol:/c:shared", "vol:/c:ro,rprivate"):
        refused(spec, invalid_config(spec, "volume", "field BindOptions must not be specified"),
                "why_propagation")


@pytest.mark.points(1, section="named-volumes")
def test_invalid_volume_names_are_refused():
    why = "why_volume_name"
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
    why = "why_nul"
    for spec in ("/h\0x:/c", "/h:/c\0x", "/h:/c\0:ro", "\0"):
        refused(spec, f"{invalid_spec(spec)}: embedded null byte", why)


@pytest.mark.points(1, section="awkward-input")
def test_awkward_but_valid_paths():
    for name in ("with space", "tab\there", "new\nline", "back\\slash", "données-é中"):
        accepted(f"/srv/{name}:/mnt/{name}:ro", bind(f"/srv/{name}", f"/mnt/{name}", "ro", True))
    long_name = "x" * 255
    long_path = "/" + "/".join([long_name] * 15)  # 3840 bytes, under PATH_MAX (4096)
    assert len(os.fsencode(long_path)) == 3840
    accepted(f"{long_path}:{long_path}", bind(long_path, long_path))
    accepted(f"/h:/{long_name}", bind("/h", f"/{long_name}"))
