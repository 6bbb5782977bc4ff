"""A wheelhouse for the test VM: the wheels of the kit's dependencies, downloaded on this machine
for the guest's Python, with a requirements.txt naming what they are for.

It serves twice. The box build (scripts/build-libvirt-box.sh, MOUNTLAB_BOX_WHEELHOUSE) installs
those requirements into the VM's venv inside the box, natively, in seconds: under emulation (no
KVM) the same pip install takes the guest a quarter of an hour. Then, during `vagrant up`, it is
served over plain HTTP on the test's own network as the guest pip's only source, so that the VM's
set-up (scripts/provision.sh, through ./workshop's own `pip install`) fetches nothing from PyPI:
the guest pays for every byte it decrypts, and HTTPS from PyPI or rsync over ssh cost it most.

Cached beside the box, rebuilt when the requirements change.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# The box's Debian 12 (SUITE=bookworm in scripts/build-libvirt-box.sh): CPython 3.11, glibc 2.36.
GUEST_PYTHON = "3.11"
GUEST_GLIBC = "2_36"
# The test VM's pip settings, read before any other (/etc/pip.conf, the user's).
GUEST_PIP_CONF = "/etc/xdg/pip/pip.conf"


def requirements(pyproject: Path, extras: tuple[str, ...]) -> list[str]:
    """What `pip install --upgrade pip` and `pip install -e KIT[extras]` fetch, build back-end
    included (pip builds the editable install in an isolated environment)."""
    data = tomllib.loads(pyproject.read_text())
    found = ["pip", "wheel", *data["build-system"]["requires"], *data["project"]["dependencies"]]
    for extra in extras:
        found += data["project"]["optional-dependencies"][extra]
    return found


def platforms_of(glibc: str) -> list[str]:
    """The wheel platforms a glibc ("2_36") runs: pip's --platform takes each one by one."""
    major, minor = (int(n) for n in glibc.split("_"))
    found = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
    legacy = {17: "manylinux2014_x86_64", 12: "manylinux2010_x86_64", 5: "manylinux1_x86_64"}
    return found + [name for m, name in legacy.items() if m <= minor]


def build(dest: Path, pyproject: Path, extras: tuple[str, ...]) -> Path:
    """The wheelhouse in ``dest`` (kept while ``dest.key`` matches), made with this Python's pip
    for the guest's interpreter and platform; returns ``dest``."""
    reqs = requirements(pyproject, extras)
    key = hashlib.sha256(json.dumps([reqs, GUEST_PYTHON, GUEST_GLIBC]).encode()).hexdigest()
    stamp = dest.with_name(dest.name + ".key")
    if stamp.exists() and stamp.read_text() == key and (dest / "requirements.txt").exists():
        return dest
    # Plain folders of downloaded files, never mount points: rmtree is safe.
    new = dest.with_name(dest.name + ".new")
    for old in (dest, new):
        shutil.rmtree(old, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    tag = GUEST_PYTHON.replace(".", "")
    platforms = [arg for p in platforms_of(GUEST_GLIBC) for arg in ("--platform", p)]
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--progress-bar",
                           "off", "--disable-pip-version-check", "--dest", str(new),
                           "--only-binary", ":all:", "--python-version", GUEST_PYTHON,
                           "--implementation", "cp", "--abi", f"cp{tag}", *platforms, *reqs],
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"pip download for the guest's Python {GUEST_PYTHON} failed:\n"
                           f"{done.stderr[-4000:]}")
    (new / "requirements.txt").write_text("\n".join(reqs) + "\n")
    new.rename(dest)
    stamp.write_text(key)
    return dest


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # pip's requests are no news


class Served:
    """The wheelhouse over HTTP on ``host`` (the test network's gateway, which only this machine
    and its guests reach), on a free port, while the ``with`` block runs."""

    def __init__(self, folder: Path, host: str) -> None:
        handler = functools.partial(_Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer((host, 0), handler)
        self.host = host
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=30)

    def home_vagrantfile(self) -> str:
        """Settings for VAGRANT_HOME's Vagrantfile: a provisioner (VAGRANT_HOME's run before the
        kit's) that points the guest's pip at this wheelhouse only."""
        return f"""Vagrant.configure("2") do |config|
  config.vm.provision "wheelhouse", type: "shell", privileged: true, inline: <<~'SH'
    install -d {Path(GUEST_PIP_CONF).parent}
    printf '%s\\n' '[global]' 'find-links = {self.url}' 'trusted-host = {self.host}' \\
      'no-index = true' >{GUEST_PIP_CONF}
  SH
end
"""
