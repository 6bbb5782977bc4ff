"""`vagrant up && pytest steps/03`, for real: the kit's Vagrantfile boots a VM, provisions it and
grades step 3 in it, driven from this machine's pytest.

No box registry and no hardware virtualization needed: a Debian 12 box for libvirt is built here
(scripts/build-libvirt-box.sh, cached in /var/cache/mountlab/vm-box), libvirt runs QEMU with
software emulation (TCG) where KVM cannot run, on a NAT network of the test's own. The kit's
Vagrantfile is used as learners get it, in a clean copy of the kit; only the box and the provider
come from the environment (MOUNTLAB_VM_BOX, VAGRANT_DEFAULT_PROVIDER), and this run's network and
storage pool from VAGRANT_HOME's Vagrantfile.

Root, network to the Debian mirror and PyPI, minutes: runs with MOUNTLAB_SLOW=1 (CI does).
The timings of the parts go to stdout (``-s``) and to /var/cache/mountlab/vm-box/timings.json,
the output of every command (with the second each line came) to .../vm-box/last-run.log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mountlab import registry
from mountlab.fsutil import remove_tree
from tests.vm.libvirt_host import Libvirt, virsh

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path("/var/cache/mountlab/vm-box")
BOX_NAME = "mountlab/debian-12"
TOOLS = ["vagrant", "virsh", "libvirtd", "virtlogd", "qemu-system-x86_64", "qemu-img",
         "debootstrap", "mkfs.ext4", "dnsmasq", "iptables", "unshare"]
IN_CI = os.environ.get("CI") == "true"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("MOUNTLAB_SLOW") != "1",
                       reason="boots a VM (minutes, root, network): set MOUNTLAB_SLOW=1"),
]


def _cannot_run(home: Path) -> str | None:
    """Why QEMU under libvirt cannot run here at all, or None."""
    if os.geteuid() != 0:
        return "needs root (libvirt's system daemon, debootstrap)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (f"missing {', '.join(missing)}: apt-get install vagrant vagrant-libvirt "
                "libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base iptables "
                "debootstrap (.ci/run does)")
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


def _mounts() -> list[str]:
    """The host's mount table without the per-mount ids (they never repeat)."""
    return sorted(" ".join(line.split()[2:]) for line in
                  Path("/proc/self/mountinfo").read_text().splitlines())


def _processes_naming(path: Path) -> list[str]:
    """Processes whose command line names ``path`` (e.g. vagrant-libvirt's ssh port forwards use
    the machine's key in the kit's .vagrant folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if any(str(path) in word for word in words):
            found.append(f"process {cmdline.parent.name}: {' '.join(words)[:200]}")
    return found


class Run:
    """One command, its output streamed to a log with the second each line arrived."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __call__(self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float,
                 marks: dict[str, str] | None = None) -> tuple[int, str, dict[str, float]]:
        """Run ``argv``; returns its status, output (stdout and stderr together) and, for each
        name of ``marks``, when (seconds after the start) the first line containing its text
        came."""
        seen: dict[str, float] = {}
        lines: list[str] = []
        start = time.monotonic()
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(argv)}   (in {cwd})\n")
            # Its own session: on a timeout or an interruption of the test, the whole group
            # (vagrant and its ssh) goes, none is left running without its parent.
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    start_new_session=True)
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    now = time.monotonic() - start
                    lines.append(line)
                    log.write(f"[{now:6.1f}] {line}")
                    log.flush()
                    for name, text in (marks or {}).items():
                        if name not in seen and text in line:
                            seen[name] = now
                    if now > timeout:
                        lines.append(f"(killed after {timeout:.0f} s)\n")
                        os.killpg(proc.pid, signal.SIGKILL)
                        break
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            status = proc.wait()
        seen["total"] = time.monotonic() - start
        return status, "".join(lines), seen


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
    home.mkdir()
    why = _cannot_run(home)
    if why:
        if IN_CI:
            pytest.fail(f"CI must run the VM test: {why}")
        pytest.skip(why)
    _clean_copy(kit)
    log = work / "vagrant.log"
    run = Run(log)
    env = _vagrant_env(home)
    timings: dict[str, float] = {}
    mounts_before = _mounts()
    print(f"\n[vagrant-up] log: {log}; load: {os.getloadavg()}")

    start = time.monotonic()
    box = subprocess.run(["bash", str(ROOT / "scripts" / "build-libvirt-box.sh"), str(CACHE)],
                         capture_output=True, text=True, timeout=900)
    assert box.returncode == 0, f"building the box failed:\n{box.stderr[-4000:]}"
    timings["box (debootstrap root and box, cached)"] = time.monotonic() - start

    libvirt = Libvirt(work)
    domain_prefix = f"{kit.name}_"
    try:
        start = time.monotonic()
        libvirt.start()
        libvirt.create_network()
        libvirt.create_pool()
        (home / "Vagrantfile").write_text(libvirt.home_vagrantfile())
        status, out, _ = run(["vagrant", "box", "add", "--name", BOX_NAME,
                              box.stdout.strip().splitlines()[-1]], kit, env, 300)
        assert status == 0, out
        timings["libvirt start, network, pool, box add"] = time.monotonic() - start

        status, out, marks = run(["vagrant", "up"], kit, env, 3600, marks={
            "boot": "Waiting for SSH to become available",
            "booted": "Machine booted and ready",
            "provision": "Running provisioner: mountlab"})
        timings["vagrant up (all)"] = marks["total"]
        if "provision" in marks:
            timings["  of which box upload and boot until ssh"] = marks.get("booted", 0.0)
            timings["  of which provisioning"] = marks["total"] - marks["provision"]
        assert status == 0, f"`vagrant up` failed ({status}):\n{out[-6000:]}"
        assert "provision: ready" in out, out[-6000:]
        yield {"kit": kit, "env": env, "run": run, "timings": timings, "libvirt": libvirt,
               "domain": f"{kit.name}_default", "up_output": out}
    finally:
        start = time.monotonic()
        if (kit / ".vagrant").exists():
            status, out, _ = run(["vagrant", "destroy", "-f"], kit, env, 300)
            timings["vagrant destroy"] = time.monotonic() - start
        problems = libvirt.close(domain_prefix) + _processes_naming(kit)
        try:
            shutil.copy(log, CACHE / "last-run.log")
        except OSError:
            pass
        if not problems:  # else kept for a look; the work folder holds no mount
            remove_tree(work)
        timings["total"] = sum(v for k, v in timings.items() if not k.startswith("  "))
        report = {k: round(v, 1) for k, v in timings.items()}
        report["load_average"] = list(os.getloadavg())
        print("[vagrant-up] timings (s): " + json.dumps(report, indent=1))
        try:
            (CACHE / "timings.json").write_text(json.dumps(report, indent=1) + "\n")
        except OSError:
            pass
        assert not problems, f"left behind on this machine: {problems}"
        assert _mounts() == mounts_before, "the host's mount table changed"


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
    vm["timings"][f"host pytest steps/03 {' '.join(args)}".strip()] = time.monotonic() - start
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
    vm["timings"]["vagrant ssh -c 'cd /vagrant && pytest steps/03'"] = time.monotonic() - start
    assert re.search(r"^rootdir: /vagrant\b", out, re.M), out[-4000:]
    assert _points(out) == (0, 25), out[-4000:]
    assert status == 1, out[-4000:]


def test_broken_provisioning_fails_with_the_provisioner_s_error(vm):
    """A misspelled package in the provisioning script: `vagrant provision` fails and shows
    apt's own message. Same script, same provisioner as `vagrant up`, without a second boot."""
    script = vm["kit"] / "scripts" / "provision.sh"
    good = script.read_text()
    broken = re.sub(r"^(\s+)strace(\s)", r"\1straec\2", good, count=1, flags=re.M)
    assert broken != good, "no `strace` line left in the package list to misspell"
    script.write_text(broken)
    try:
        start = time.monotonic()
        status, out, _ = vm["run"](["vagrant", "provision"], vm["kit"], vm["env"], 600)
        vm["timings"]["vagrant provision (broken)"] = time.monotonic() - start
    finally:
        script.write_text(good)
    assert status != 0, out[-4000:]
    assert "Unable to locate package straec" in out, out[-4000:]
