"""``./container image build|import|ls|rm`` (mountlab/runtime/images/).

State lives in throw-away directories (MOUNTLAB_STATE, MOUNTLAB_RUN). The debootstrap builds need
the network and minutes: they are marked slow (tests/slow.py).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time

import pytest

from mountlab.runtime import cli, images, state
from mountlab.runtime.images import busybox, debootstrap, tar_import
from tests.runtime import image_build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

have_busybox = pytest.mark.skipif(
    not any(os.path.isfile(p) and busybox.is_static_elf(p)
            for p in ("/bin/busybox", "/usr/bin/busybox")),
    reason="needs a static busybox: apt-get install busybox-static")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MOUNTLAB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MOUNTLAB_RUN", str(tmp_path / "run"))
    monkeypatch.delenv("MOUNTLAB_BUSYBOX", raising=False)
    return tmp_path


@pytest.fixture
def container(env, capsys):
    """Run ``./container ARGS`` in this process; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def images_dir(env) -> str:
    return str(env / "state" / "images")


def leftovers(env) -> list[str]:
    """Hidden staging directories: there must be none once a command has returned."""
    try:
        return [e for e in os.listdir(images_dir(env)) if e.startswith(".") and e != ".logs"]
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------------------------
# busybox


@have_busybox
def test_build_busybox_makes_a_usable_rootfs(env, container):
    code, out, err = container("image", "build", "busybox")
    assert code == 0, err
    rootfs = state.image_rootfs("busybox")
    assert rootfs in out
    assert busybox.is_static_elf(os.path.join(rootfs, "bin/busybox"))
    sh = os.path.join(rootfs, "bin/sh")
    assert os.path.islink(sh)
    assert os.path.realpath(sh) == os.path.realpath(os.path.join(rootfs, "bin/busybox"))
    assert not os.readlink(sh).startswith("/")  # relative: resolves the same from the host
    for applet in ("bin/ls", "bin/cat", "bin/mount"):
        assert os.path.lexists(os.path.join(rootfs, applet)), applet
    with open(os.path.join(rootfs, "etc/passwd")) as f:
        assert f.readline().startswith("root:x:0:0:")
    with open(os.path.join(rootfs, "etc/group")) as f:
        assert f.readline().startswith("root:x:0:")
    modes = {d: os.stat(os.path.join(rootfs, d)).st_mode & 0o7777
             for d in ("tmp", "root", "proc", "dev", "sys")}
    assert modes["tmp"] == 0o1777 and modes["root"] == 0o700
    config = images.image_config("busybox")
    assert config["Cmd"] == ["/bin/sh"] and config["Size"] > 100_000
    assert leftovers(env) == []


@have_busybox
@root_only
def test_busybox_image_runs_a_shell(env):
    rootfs = images.ensure_busybox()
    proc = subprocess.run(["chroot", rootfs, "/bin/sh", "-c", "echo ok; ls /bin | wc -l"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == "ok" and int(lines[1]) > 50


@have_busybox
def test_build_busybox_is_idempotent(env, container):
    assert container("image", "build", "busybox")[0] == 0
    binary = os.path.join(state.image_rootfs("busybox"), "bin/busybox")
    inode = os.stat(binary).st_ino
    code, out, err = container("image", "build", "busybox")
    assert code == 0 and "already built" in out
    assert os.stat(binary).st_ino == inode  # not rebuilt
    assert images.ensure_busybox() == state.image_rootfs("busybox")
    assert os.stat(binary).st_ino == inode
    assert container("image", "build", "busybox", "--force")[0] == 0
    assert os.stat(binary).st_ino != inode  # rebuilt, and swapped in whole
    assert os.listdir(images_dir(env)) == ["busybox"]


@have_busybox
def test_ensure_busybox_builds_when_missing(env):
    rootfs = images.ensure_busybox()
    assert rootfs == state.image_rootfs("busybox")
    assert os.path.isfile(os.path.join(rootfs, "bin/busybox"))


@have_busybox
def test_build_cleans_what_a_killed_build_left(env, container):
    os.makedirs(images_dir(env))
    dead = os.path.join(images_dir(env), ".tmp-busybox-999999999-abc123")
    os.makedirs(os.path.join(dead, "rootfs", "bin"))
    alive = os.path.join(images_dir(env), f".tmp-other-{os.getpid()}-abc123")
    os.makedirs(alive)
    assert container("image", "build", "busybox")[0] == 0
    assert not os.path.exists(dead)
    assert os.path.exists(alive)  # its builder still runs: left alone


def test_a_dynamic_busybox_is_refused(env, container, monkeypatch):
    monkeypatch.setenv("MOUNTLAB_BUSYBOX", sys.executable)  # dynamically linked
    code, out, err = container("image", "build", "busybox")
    assert code == 125
    assert "busybox-static" in err and err.count("\n") == 1
    assert not os.path.exists(state.image_rootfs("busybox"))
    assert leftovers(env) == []


def test_busybox_takes_no_suite(env, container):
    code, _, err = container("image", "build", "busybox", "--suite", "bookworm")
    assert code == 125 and "--suite" in err


@pytest.mark.parametrize("bad", ["Busybox", "_x", ".x", "a/b", "a b", "../up"])
def test_invalid_image_names(env, container, bad):
    code, _, err = container("image", "build", "busybox", "--name", bad)
    assert code == 125 and "invalid image name" in err
    assert not os.path.exists(os.path.join(images_dir(env), bad))


def test_static_elf_detection():
    assert not busybox.is_static_elf(sys.executable) or "static" in sys.executable
    assert not busybox.is_static_elf(__file__)


# --------------------------------------------------------------------------------------------
# import


def make_tar(path, members) -> str:
    """members: (name, kind, payload) with kind file|dir|symlink|hardlink."""
    with tarfile.open(path, "w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
                info.mode = 0o644
            elif kind == "exec":
                data = payload.encode()
                info.size = len(data)
                info.mode = 0o755
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = payload or 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = payload
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


EXPORT_LIKE = [
    ("./", "dir", 0o755),
    (".dockerenv", "file", ""),
    ("bin/", "dir", 0o755),
    ("bin/tool", "exec", "#!/bin/sh\necho tool\n"),
    ("bin/alias", "hardlink", "bin/tool"),
    ("etc/", "dir", 0o755),
    ("etc/hostname", "file", "box\n"),
    ("etc/localtime", "symlink", "/usr/share/zoneinfo/Etc/UTC"),  # absolute: data, kept
    ("etc/mtab", "symlink", "../proc/self/mounts"),
    ("usr/lib/os-release", "file", "ID=test\n"),  # parent not listed: created
    ("readonly/", "dir", 0o555),
    ("readonly/inside", "file", "x"),
    ("a/../b", "file", "normalized"),  # `..` that stays inside is fine
]


def test_import_a_docker_export(env, container, tmp_path):
    tar = make_tar(tmp_path / "export.tar", EXPORT_LIKE)
    code, out, err = container("image", "import", "myimg", tar)
    assert code == 0, err
    rootfs = state.image_rootfs("myimg")
    assert open(os.path.join(rootfs, "etc/hostname")).read() == "box\n"
    assert os.readlink(os.path.join(rootfs, "etc/localtime")) == "/usr/share/zoneinfo/Etc/UTC"
    assert os.readlink(os.path.join(rootfs, "etc/mtab")) == "../proc/self/mounts"
    tool = os.stat(os.path.join(rootfs, "bin/tool"))
    assert tool.st_mode & 0o777 == 0o755 and tool.st_mtime == 1_700_000_000
    assert os.stat(os.path.join(rootfs, "bin/alias")).st_ino == tool.st_ino
    assert os.stat(os.path.join(rootfs, "readonly")).st_mode & 0o777 == 0o555
    assert open(os.path.join(rootfs, "readonly/inside")).read() == "x"
    assert open(os.path.join(rootfs, "b")).read() == "normalized"
    assert open(os.path.join(rootfs, "usr/lib/os-release")).read() == "ID=test\n"
    assert images.image_config("myimg")["Cmd"] == ["/bin/sh"]
    assert "myimg" in container("image", "ls")[1]
    assert leftovers(env) == []
    # and it can be removed, read-only directories included
    assert container("image", "rm", "myimg")[:2] == (0, "myimg\n")
    assert not os.path.exists(os.path.dirname(rootfs))


def test_import_compressed(env, container, tmp_path):
    plain = make_tar(tmp_path / "plain.tar", EXPORT_LIKE[:4])
    with open(plain, "rb") as src, open(tmp_path / "export.tar.gz", "wb") as dst:
        import gzip

        dst.write(gzip.compress(src.read()))
    assert container("image", "import", "gz", str(tmp_path / "export.tar.gz"))[0] == 0
    assert os.path.isfile(os.path.join(state.image_rootfs("gz"), "bin/tool"))


@pytest.mark.parametrize("members, words", [
    ([("ok", "file", "x"), ("../evil", "file", "pwned")], "climbs out"),
    ([("a/../../evil", "file", "pwned")], "climbs out"),
    ([("/evil", "file", "pwned")], "absolute path"),
    ([("etc/", "dir", 0), ("etc/x", "hardlink", "../../evil")], "climbs out"),
    ([("x", "hardlink", "/etc/passwd")], "absolute path"),
])
def test_import_refuses_escaping_members(env, container, tmp_path, members, words):
    tar = make_tar(tmp_path / "evil.tar", members)
    code, out, err = container("image", "import", "evil", tar)
    assert code == 125 and out == ""
    assert words in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "evil") and not os.path.exists(env / "evil")
    assert not os.path.exists(os.path.join(images_dir(env), "evil"))
    assert leftovers(env) == []


def test_import_refuses_writing_through_an_archive_symlink(env, container, tmp_path):
    host = tmp_path / "hostdir"
    host.mkdir()
    tar = make_tar(tmp_path / "slip.tar", [
        ("escape", "symlink", str(host)),  # an absolute symlink to a host directory...
        ("escape/pwned", "file", "pwned"),  # ...then a member written through it
    ])
    code, _, err = container("image", "import", "slip", tar)
    assert code == 125 and "symlink" in err
    assert os.listdir(host) == []
    assert leftovers(env) == []


def test_extractor_never_follows_a_symlink(env, tmp_path):
    # Defence in depth: even past the archive check, a symlink already in the tree is not
    # followed (a rootfs directory replaced by a symlink between two members).
    host = tmp_path / "hostdir"
    host.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(host, root / "dir")
    extractor = tar_import.Extractor(str(root))
    info = tarfile.TarInfo("dir/pwned")
    with tarfile.open(make_tar(tmp_path / "t.tar", [("dir/pwned", "file", "x")])) as tar:
        info = tar.getmember("dir/pwned")
        with pytest.raises(images.ImageError, match="not a directory inside the image"):
            extractor.extract(tar, "dir/pwned", info)
    extractor.close()
    assert os.listdir(host) == []


def test_interrupted_import_leaves_nothing(env, tmp_path, monkeypatch):
    tar = make_tar(tmp_path / "export.tar", EXPORT_LIKE)
    real = tar_import.Extractor.extract
    calls = []

    def flaky(self, tar, rel, member):
        calls.append(rel)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, tar, rel, member)

    monkeypatch.setattr(tar_import.Extractor, "extract", flaky)
    with pytest.raises(KeyboardInterrupt):
        images.import_tar("half", tar, quiet=True)
    assert not os.path.exists(os.path.join(images_dir(env), "half"))
    assert leftovers(env) == []


def test_import_errors(env, container, tmp_path):
    code, _, err = container("image", "import", "x", str(tmp_path / "missing.tar"))
    assert code == 125 and "no such file" in err
    (tmp_path / "junk.tar").write_text("not a tar")
    code, _, err = container("image", "import", "x", str(tmp_path / "junk.tar"))
    assert code == 125 and "docker export" in err
    tar = make_tar(tmp_path / "ok.tar", EXPORT_LIKE[:3])
    assert container("image", "import", "x", tar)[0] == 0
    code, _, err = container("image", "import", "x", tar)
    assert code == 125 and "already exists" in err
    assert container("image", "import", "x", tar, "--force")[0] == 0
    assert leftovers(env) == []


# --------------------------------------------------------------------------------------------
# ls and rm


def test_ls_and_rm(env, container, tmp_path):
    assert container("image", "ls", "-q")[1] == ""
    tar = make_tar(tmp_path / "t.tar", EXPORT_LIKE[:3])
    for name in ("two", "one"):
        container("image", "import", name, tar)
    code, out, _ = container("image", "ls")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "SIZE", "SOURCE"]
    assert [line.split()[0] for line in lines[1:]] == ["one", "two"]
    assert container("image", "ls", "-q")[1] == "one\ntwo\n"
    code, out, err = container("image", "rm", "one", "nosuch")
    assert code == 125 and out == "one\n" and "no such image: nosuch" in err
    assert container("image", "ls", "-q")[1] == "two\n"


def test_rm_refuses_an_image_in_use(env, container, tmp_path):
    tar = make_tar(tmp_path / "t.tar", EXPORT_LIKE[:3])
    container("image", "import", "used", tar)
    cid = state.new_container_id()
    fd = state.create_container(cid, {"id": cid, "name": "web", "image": "used", "volumes": [],
                                      "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    try:
        code, out, err = container("image", "rm", "used")
        assert code == 125 and "in use" in err and cid[:12] in err and "web" in err
        assert os.path.isdir(state.image_rootfs("used"))
        code, out, err = container("image", "import", "used", tar, "--force")
        assert code == 125 and "in use" in err
    finally:
        os.close(fd)  # the container "exits": the image is free
    assert container("image", "rm", "used")[0] == 0


# --------------------------------------------------------------------------------------------
# debootstrap


def test_debootstrap_progress_protocol():
    stream = io.BytesIO(b"P: 0 100 DOWNREL\nPF: Downloading Release file\n"
                        b"I: RETRIEVING\nIA: bash\nIA: 5.2\nIF: Retrieving %s %s\n"
                        b"W: KEYRING\nWA: /k.gpg\nWF: Cannot check Release signature; %s\n"
                        b"P: 3 10 DOWNDEBS\nPF: Downloading packages\n"
                        b"E: COULDNTDL\nEA: apt\nEF: Couldn't download package %s\n")
    messages = list(debootstrap.read_messages(stream))
    assert messages == [
        ("P", "Downloading Release file", ["0", "100", "DOWNREL"]),
        ("I", "Retrieving bash 5.2", ["RETRIEVING"]),
        ("W", "Cannot check Release signature; /k.gpg", ["KEYRING"]),
        ("P", "Downloading packages", ["3", "10", "DOWNDEBS"]),
        ("E", "Couldn't download package apt", ["COULDNTDL"]),
    ]


def test_unknown_distribution_and_bad_suite(env, container):
    assert container("image", "build", "fedora")[0] == 125  # argparse choices
    code, _, err = container("image", "build", "debian", "--suite", "../x")
    assert code == 125 and "invalid suite" in err


@pytest.mark.slow(ci=False)  # minutes of downloads and unpacking each: CI's CPU goes elsewhere
@pytest.mark.skipif(bool(image_build.cannot_build()), reason=image_build.cannot_build() or "-")
@pytest.mark.background(start=image_build.start)
@pytest.mark.parametrize("distro", ["debian", "ubuntu"])
def test_debootstrap_build(background_work, distro):
    build = background_work  # started with the session (tests/runtime/image_build.py)
    try:
        status, output = build.wait()
        assert status == 0, output[-3000:]
        env = build.work
        rootfs = os.path.join(env / "state", "images", distro, "rootfs")
        with open(os.path.join(rootfs, "etc/os-release")) as f:
            assert f"ID={distro}" in f.read()
        assert os.path.exists(os.path.join(rootfs, "bin/bash"))
        config = json.load(open(os.path.join(env / "state", "images", distro, "image.json")))
        assert config["Cmd"] == ["/bin/bash"]
        assert leftovers(env) == []
        # debootstrap mounted /proc and /sys inside the target in a namespace of its own: no trace
        with open("/proc/self/mountinfo") as f:
            assert str(env) not in f.read()
    finally:
        build.stop()
