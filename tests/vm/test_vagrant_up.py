"""`vagrant up && pytest steps/03`, for real: the kit's Vagrantfile boots a VM, provisions it and
grades step 3 in it, driven from this machine's pytest.

No box registry and no hardware virtualization needed: a Debian 12 box for libvirt is built here
(scripts/build-libvirt-box.sh, cached in /var/cache/mountlab/vm-box), libvirt runs QEMU with
software emulation (TCG) where KVM cannot run, on a NAT network of the test's own. The kit's
Vagrantfile is used as learners get it, in a clean copy of the kit; only the box and the provider
come from the environment (MOUNTLAB_VM_BOX, VAGRANT_DEFAULT_PROVIDER), and from VAGRANT_HOME's
Vagrantfile this run's network and storage pool, and the guest pip's only source: a wheelhouse
made on this machine (tests/vm/wheelhouse.py), served over HTTP on that network.

What is slow under emulation is made beforehand, at native speed, into the box: the kit's system
packages, and the VM venv's third-party Python packages (from the same wheelhouse). Provisioning
still runs in full: scripts/provision.sh checks every package (a misspelled one makes apt fail,
see the last test), ./workshop's venv bootstrap runs pip, which adds the kit alone, offline, as
every dependency is there (scripts/venv_needs.py).
The wheelhouse holds the notebooks extra only: a provisioning that asked for the dev extra in
the VM would fail.

Root, network to the Debian mirror and PyPI, minutes: a slow test that CI runs (CI=true) and
MOUNTLAB_SLOW=1 runs, where a missing tool fails it. On two idle cores: 5.2 minutes the first time
(the box built, its debootstrap downloaded), 3.6 with the box cached. The timings of the parts,
each with the load averages, go to stdout (``-s``) and to
/var/cache/mountlab/vm-box/timings.json, the output of every command (with the second each line
came) to .../vm-box/last-run.log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mountlab import registry
from mountlab.fsutil import remove_tree
from tests import processes
from tests.vm import wheelhouse
from tests.vm.libvirt_host import Libvirt, virsh
from tests.vm.logged_run import Run, Timings

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path("/var/cache/mountlab/vm-box")
BOX_NAME = "mountlab/debian-12"
TOOLS = ["vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img",
         "debootstrap", "mkfs.ext4", "dnsmasq", "iptables", "unshare", "rsync"]
# Asked for: a machine where it cannot run fails it rather than skipping it.
ASKED = os.environ.get("MOUNTLAB_SLOW") == "1" or os.environ.get("CI") == "true"
# The extras the VM's provisioning installs (scripts/provision.sh): the wheelhouse holds them.
VM_EXTRAS = ("notebooks",)

pytestmark = [
    # Deselected but in CI and with --slow or MOUNTLAB_SLOW=1 (tests/slow.py).
    pytest.mark.slow,
]

# A VM that lives minutes on this machine, on a network of its own. Vagrant's insecure key stays
# (replacing it is a minute of ssh round trips under emulation; learners' VMs get their own key),
# and Vagrant is told the guest is Debian rather than finding out with dozens of ssh commands.
TEST_VM_SETTINGS = """Vagrant.configure("2") do |config|
  config.ssh.insert_key = false
  config.vm.guest = :debian
end
"""


def _cannot_run(home: Path) -> str | None:
    """Why QEMU under libvirt cannot run here at all, or None."""
    if os.geteuid() != 0:
        return "needs root (libvirt's system daemon, debootstrap)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (f"missing {', '.join(missing)}: apt-get install vagrant vagrant-libvirt "
                "libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base iptables rsync "
                "debootstrap (./workshop test does, as root)")
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True,
                             env=_vagrant_env(home))
    if "vagrant-libvirt" not in plugins.stdout:
        return "the vagrant-libvirt plugin is missing: apt-get install vagrant-libvirt"
    return None


def _vagrant_env(home: Path) -> dict[str, str]:
    """This run's environment for vagrant and the host's pytest: none of the caller's MOUNTLAB_*
    (vmforward would pass them into the VM), this run's VAGRANT_HOME, the box and provider."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MOUNTLAB_", "VAGRANT_", "PYTEST_"))}
    env.update(VAGRANT_HOME=str(home), VAGRANT_CHECKPOINT_DISABLE="1",
               VAGRANT_DEFAULT_PROVIDER="libvirt", MOUNTLAB_VM_BOX=BOX_NAME,
               # The ubuntu image is a debootstrap of Ubuntu inside the VM: minutes under TCG,
               # and step 3 does not use it. busybox, which the steps use, is built.
               MOUNTLAB_VM_IMAGES="busybox",
               PYTHONDONTWRITEBYTECODE="1", LC_ALL="C.UTF-8")
    return env


def _clean_copy(dest: Path) -> None:
    """The kit as a fresh clone has it, with this checkout's changes: the files git tracks (or
    would track), nothing ignored (.venv, .vagrant, caches)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
        elif src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to(os.readlink(src))


# Where this test could leave a mount: its work folder (the VM's disk, the kit's copy), the box's
# cache (debootstrap mounts proc and sys in its root) and libvirt's folders. The rest of the mount
# table is other users' business on a shared machine (dockerd's network namespaces, other
# tests' sandboxes) and may change meanwhile.
LIBVIRT_FOLDERS = ("/etc/libvirt", "/var/lib/libvirt", "/run/libvirt")


def _mounts(*roots: Path | str) -> list[str]:
    """The host's mounts at or below ``roots``, without the per-mount ids (they never repeat)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(point == str(r) or point.startswith(f"{r}/") for r in roots):
            found.append(" ".join(line.split()[2:]))
    return sorted(found)


def _points(output: str) -> tuple[int, int] | None:
    """Step 3's points line of the grading plugin (`<label>: N/M points`), if printed."""
    labels = "|".join(re.escape(registry.get(3).label(lang)) for lang in ("en", "fr"))
    found = re.findall(rf"^(?:{labels}): (\d+)/(\d+) points\s*$", output, re.M)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


@pytest.fixture(scope="module")
def vm():
    """A VM made by `vagrant up` from a clean copy of the kit, destroyed at the end; the end
    checks that nothing of it is left on this machine."""
    # Not pytest's tmp_path: any root pytest on this machine may delete an older numbered
    # /tmp/pytest-of-root/ folder, and this one holds the VM's disk and Vagrant's state for minutes.
    work = Path(tempfile.mkdtemp(prefix="mountlab-vagrant-up-", dir="/var/tmp"))
    kit = work / f"mountlab-{os.getpid()}"  # vagrant-libvirt names the domain <folder>_default
    home = work / "vagrant-home"
    log = work / "vagrant.log"
    run = Run(log)
    env = _vagrant_env(home)
    timings = Timings()
    watched = (work, CACHE, *LIBVIRT_FOLDERS)
    mounts_before = _mounts(*watched)
    libvirt: Libvirt | None = None
    domain_prefix = f"{kit.name}_"
    stack = contextlib.ExitStack()
    try:
        home.mkdir()
        why = _cannot_run(home)
        if why:
            if ASKED:
                pytest.fail(f"MOUNTLAB_SLOW=1 asks for the VM test: {why}")
            pytest.skip(why)
        _clean_copy(kit)
        print(f"\n[vagrant-up] log: {log}; load: {os.getloadavg()}")

        start = time.monotonic()
        wheels = wheelhouse.build(CACHE / "wheelhouse", kit / "pyproject.toml", VM_EXTRAS)
        timings.since("wheelhouse for the guest's pip (cached)", start)
        status, out, marks = run(
            ["bash", str(ROOT / "scripts" / "build-libvirt-box.sh"), str(CACHE)], ROOT,
            os.environ | {"MOUNTLAB_BOX_WHEELHOUSE": str(wheels)}, 1200,
            marks={"root": "build-libvirt-box: debootstrap", "box": "build-libvirt-box: building"})
        assert status == 0, f"building the box failed:\n{out[-4000:]}"
        box = out.strip().splitlines()[-1]
        timings.add("box build (debootstrap root, box image; each cached)", marks["total"])
        if "root" in marks:
            timings.add("  of which debootstrap", marks.get("box", marks["total"]) - marks["root"])
        if "box" in marks:
            timings.add("  of which the box image (venv included)", marks["total"] - marks["box"])

        libvirt = Libvirt(work)
        start = time.monotonic()
        libvirt.start()
        libvirt.create_network()
        libvirt.create_pool()
        served = stack.enter_context(wheelhouse.Served(wheels, str(libvirt.gateway)))
        (home / "Vagrantfile").write_text(libvirt.home_vagrantfile() + served.home_vagrantfile()
                                          + TEST_VM_SETTINGS)
        status, out, _ = run(["vagrant", "box", "add", "--name", BOX_NAME, box], kit, env, 300)
        assert status == 0, out
        timings.since("libvirt start, network, pool, box add", start)

        status, out, marks = run(["vagrant", "up"], kit, env, 3600, marks={
            "booted": "Machine booted and ready",
            "rsync": "Rsyncing folder",
            "provisioners": "Running provisioner:",
            "provision": "Running provisioner: mountlab",
            "venv": "the kit's virtualenv in",  # set up, or brought up to date (the box's)
            "venv_done": "provision: changed: venv"})
        timings.add("vagrant up", marks["total"])
        if "booted" in marks:
            timings.add("  of which box upload, boot until ssh", marks["booted"])
        if "rsync" in marks and "provisioners" in marks:
            timings.add("  of which rsync of the kit", marks["provisioners"] - marks["rsync"])
        if "provision" in marks:
            timings.add("  of which provisioning (scripts/provision.sh)",
                        marks["total"] - marks["provision"])
        if "venv" in marks and "venv_done" in marks:
            timings.add("  of which the venv (pip)", marks["venv_done"] - marks["venv"])
        assert status == 0, f"`vagrant up` failed ({status}):\n{out[-6000:]}"
        assert "provision: ready" in out, out[-6000:]
        yield {"kit": kit, "env": env, "run": run, "timings": timings, "libvirt": libvirt,
               "domain": f"{kit.name}_default", "up_output": out}
    finally:
        start = time.monotonic()
        if (kit / ".vagrant").exists():
            run(["vagrant", "destroy", "-f"], kit, env, 300)
            timings.since("vagrant destroy -f", start)
        stack.close()
        problems = libvirt.close(domain_prefix) if libvirt else []
        problems += processes.naming(str(kit))
        if timings.parts:  # not when skipped
            print("[vagrant-up] timings:\n" + timings.report())
            try:
                shutil.copy(log, CACHE / "last-run.log")
                (CACHE / "timings.json").write_text(timings.json())
            except OSError:
                pass
        if not problems:  # else kept for a look; the work folder holds no mount
            remove_tree(work)
        assert not problems, f"left behind on this machine: {problems}"
        assert _mounts(*watched) == mounts_before, "the host's mount table changed"


def test_the_vm_is_on_this_run_s_network_with_the_right_accelerator(vm):
    xml = virsh("dumpxml", vm["domain"])
    kvm = Path("/dev/kvm").exists() and re.search(
        r"^flags\s*:.*\b(vmx|svm)\b", Path("/proc/cpuinfo").read_text(), re.M)
    assert f"<domain type='{'kvm' if kvm else 'qemu'}'" in xml
    assert f"<source network='{vm['libvirt'].name}'" in xml


def _host_pytest(vm, *args: str) -> tuple[int, str]:
    """`pytest steps/03 ...` typed on the host in the kit's folder, as the README says; forwarded
    into the VM (MOUNTLAB_FORCE_VM=1 plays a host without mount namespaces)."""
    env = vm["env"] | {"MOUNTLAB_FORCE_VM": "1",
                       "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.monotonic()
    status, out, _ = vm["run"](["pytest", "steps/03", *args], vm["kit"], env, 600)
    vm["timings"].since(f"host pytest steps/03 {' '.join(args)}".strip(), start)
    return status, out


def test_host_pytest_runs_in_the_vm_and_grades_the_skeleton(vm):
    status, out = _host_pytest(vm)
    assert "mountlab: running in the VM: cd /vagrant && pytest steps/03" in out, out[-4000:]
    # pytest's header from inside the VM: the kit is /vagrant there, not this machine's copy.
    assert re.search(r"^rootdir: /vagrant\b", out, re.M), out[-4000:]
    assert _points(out) == (0, 25), out[-4000:]
    assert status == 1, out[-4000:]  # failed checks, like a learner's first run


def test_host_pytest_with_the_reference_gets_full_points(vm):
    status, out = _host_pytest(vm, "--impl", "solutions")
    assert re.search(r"^rootdir: /vagrant\b", out, re.M), out[-4000:]
    assert _points(out) == (25, 25), out[-4000:]
    assert status == 0, out[-4000:]


def test_vagrant_ssh_pytest(vm):
    start = time.monotonic()
    status, out, _ = vm["run"](["vagrant", "ssh", "-c", "cd /vagrant && pytest steps/03"],
                               vm["kit"], vm["env"], 600)
    vm["timings"].since("vagrant ssh -c 'cd /vagrant && pytest steps/03'", start)
    assert re.search(r"^rootdir: /vagrant\b", out, re.M), out[-4000:]
    assert _points(out) == (0, 25), out[-4000:]
    assert status == 1, out[-4000:]


def test_broken_provisioning_fails_with_the_provisioner_s_error(vm):
    """A misspelled package in the kit's package list: `vagrant provision` (after `vagrant rsync`,
    which brings the edit into the VM) fails and shows apt's own message. Same script, same
    provisioner as `vagrant up`, without a second boot."""
    listing = vm["kit"] / "mountlab" / "workshop" / "packages.toml"
    good = listing.read_text()
    broken = good.replace('name = "strace"', 'name = "straec"', 1)
    assert broken != good, "no strace package left in the kit's list to misspell"
    listing.write_text(broken)
    try:
        start = time.monotonic()
        status, out, _ = vm["run"](["vagrant", "rsync"], vm["kit"], vm["env"], 300)
        assert status == 0, out[-4000:]
        status, out, _ = vm["run"](["vagrant", "provision"], vm["kit"], vm["env"], 600)
        vm["timings"].since("vagrant rsync + provision (misspelled package)", start)
    finally:
        listing.write_text(good)
    assert status != 0, out[-4000:]
    assert "provision: installing straec" in out, out[-4000:]
    assert "Unable to locate package straec" in out, out[-4000:]
