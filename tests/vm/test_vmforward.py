"""pytest on a host without Linux mount namespaces runs itself in the VM (mountlab/vmforward.py).

A stand-in ``vagrant`` on PATH records how it was called and plays the VM: running or not, and
the exit status of the command run over ``vagrant ssh``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mountlab import vmforward

ROOT = vmforward.REPO_ROOT

FAKE_VAGRANT = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_VAGRANT_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
if sys.argv[1:2] == ["status"]:
    state = os.environ.get("FAKE_VAGRANT_STATE", "running")
    print("1700000000,default,metadata,provider,virtualbox")
    print("1700000000,default,provider-name,virtualbox")
    print(f"1700000000,default,state,{{state}}")
    print(f"1700000000,default,state-human-short,{{state.replace('_', ' ')}}")
    sys.exit(0)
if sys.argv[1:2] == ["ssh"]:
    print("fake pytest output from the VM", flush=True)
    print("fake pytest error from the VM", file=sys.stderr, flush=True)
    sys.exit(int(os.environ.get("FAKE_VAGRANT_EXIT", "0")))
sys.exit(99)
"""


@pytest.fixture
def vagrant(tmp_path, monkeypatch):
    """Install the stand-in; returns a function giving the calls it recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vagrant"
    fake.write_text(FAKE_VAGRANT)
    fake.chmod(0o755)
    log = tmp_path / "vagrant.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_VAGRANT_LOG", str(log))
    for name in [k for k in os.environ if k.startswith("MOUNTLAB_")]:
        monkeypatch.delenv(name)

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return calls


def ssh_command(call: dict) -> list[str]:
    """The words of the command given to ``vagrant ssh -c``."""
    argv = call["argv"]
    assert argv[0] == "ssh" and "-c" in argv, argv
    return shlex.split(argv[argv.index("-c") + 1])


def test_needs_vm_follows_the_machine_and_the_override(monkeypatch):
    monkeypatch.delenv("MOUNTLAB_FORCE_VM", raising=False)
    assert vmforward.needs_vm() is (not os.path.exists("/proc/self/ns/mnt"))
    monkeypatch.setenv("MOUNTLAB_FORCE_VM", "1")
    assert vmforward.needs_vm() is True
    monkeypatch.setenv("MOUNTLAB_FORCE_VM", "0")
    assert vmforward.needs_vm() is False


def test_needs_vm_off_linux(monkeypatch):
    monkeypatch.delenv("MOUNTLAB_FORCE_VM", raising=False)
    monkeypatch.setattr(vmforward.sys, "platform", "darwin")
    assert vmforward.needs_vm() is True


def test_runs_the_same_pytest_in_the_matching_folder_of_the_vm(vagrant, capfd):
    status = vmforward.forward(["03", "-q", "-k", "busy and not lazy"], ROOT / "steps")
    assert status == 0
    status_call, ssh_call = vagrant()
    assert status_call["argv"] == ["status", "--machine-readable"]
    assert status_call["cwd"] == str(ROOT)  # where the Vagrantfile is
    assert ssh_call["cwd"] == str(ROOT)
    assert ssh_call["argv"][:2] == ["ssh", "--no-tty"]  # output captured here: not a terminal
    assert ssh_command(ssh_call) == ["cd", "/vagrant/steps", "&&",
                                     "pytest", "03", "-q", "-k", "busy and not lazy"]
    out, err = capfd.readouterr()
    assert "fake pytest output from the VM" in out  # streamed, not swallowed
    assert "fake pytest error from the VM" in err


def test_from_the_kit_root(vagrant):
    vmforward.forward(["steps/03"], ROOT)
    assert ssh_command(vagrant()[-1]) == ["cd", "/vagrant", "&&", "pytest", "steps/03"]


@pytest.mark.parametrize("arg", ["it's", "a b", "$(touch /tmp/x)", "`id`", "x;y", "\"q\"", ""])
def test_arguments_reach_pytest_unchanged(vagrant, arg):
    vmforward.forward(["-k", arg], ROOT)
    assert ssh_command(vagrant()[-1])[3:] == ["pytest", "-k", arg]


def test_absolute_paths_of_the_kit_become_paths_in_the_vm(vagrant, tmp_path):
    vmforward.forward([f"{ROOT / 'mountlab'}::test_x", str(tmp_path)], tmp_path)
    words = ssh_command(vagrant()[-1])
    assert words[:3] == ["cd", "/vagrant", "&&"]  # started outside the kit
    assert words[4:] == ["/vagrant/mountlab::test_x", str(tmp_path)]


def test_mountlab_settings_go_along_but_not_the_hosts(vagrant, monkeypatch):
    monkeypatch.setenv("MOUNTLAB_IMPL", "solutions")
    monkeypatch.setenv("MOUNTLAB_FORCE_VM", "1")
    monkeypatch.setenv("MOUNTLAB_VENV", "/Users/me/venv")
    monkeypatch.setenv("MOUNTLAB_VM_MEMORY", "4096")
    vmforward.forward([], ROOT)
    words = ssh_command(vagrant()[-1])
    assert words[3:] == ["MOUNTLAB_IMPL=solutions", "pytest"]


@pytest.mark.parametrize("code", [1, 2, 5, 42])
def test_the_exit_status_comes_back(vagrant, monkeypatch, code):
    monkeypatch.setenv("FAKE_VAGRANT_EXIT", str(code))
    assert vmforward.forward(["steps/03"], ROOT) == code


@pytest.mark.parametrize("state", ["poweroff", "not_created", "saved", "aborted"])
def test_vm_down_says_how_to_start_it(vagrant, monkeypatch, capfd, state):
    monkeypatch.setenv("FAKE_VAGRANT_STATE", state)
    status = vmforward.forward(["steps/03"], ROOT)
    assert status == vmforward.EXIT_NO_VM != 0
    assert [c["argv"][0] for c in vagrant()] == ["status"]  # no ssh attempted
    err = capfd.readouterr().err
    assert "vagrant up" in err
    assert str(ROOT) in err
    assert ("not been created" if state == "not_created" else f"state: {state}") in err


def test_vagrant_missing_says_how_to_install_it(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no vagrant
    status = vmforward.forward(["steps/03"], ROOT)
    assert status == vmforward.EXIT_NO_VM
    err = capfd.readouterr().err
    assert "Install Vagrant" in err
    assert "vagrant up" in err


def test_pytest_itself_forwards(vagrant, monkeypatch):
    """End to end through the grading plugin's hook: `pytest steps/03` on a host that needs the
    VM runs nothing locally and exits with the VM's status."""
    plugin = ROOT / "mountlab" / "grading" / "plugin.py"
    if "vmforward" not in plugin.read_text():
        pytest.skip("the grading plugin does not call vmforward yet (pytest_cmdline_main hook)")
    env = {**os.environ, "MOUNTLAB_FORCE_VM": "1", "FAKE_VAGRANT_EXIT": "3"}
    result = subprocess.run([sys.executable, "-m", "pytest", "steps/03", "-q", "-p",
                             "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "fake pytest output from the VM" in result.stdout
    assert ssh_command(vagrant()[-1]) == ["cd", "/vagrant", "&&", "pytest", "steps/03", "-q",
                                          "-p", "no:cacheprovider"]


def test_importable_without_the_rest_of_the_kit():
    """The module runs on macOS and Windows: standard library only."""
    source = Path(vmforward.__file__).read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "os", "shlex", "shutil", "subprocess", "sys", "pathlib"}


NO_LINUX_LIBC = """
import ctypes
_real_cdll = ctypes.CDLL


def _cdll(name, *args, **kwargs):
    # As on Windows (and, symbol by symbol, macOS): no C library with Linux's mount calls.
    if name is None:
        raise TypeError("no Linux C library on this host")
    return _real_cdll(name, *args, **kwargs)


ctypes.CDLL = _cdll
"""


def test_pytest_forwards_on_a_host_without_linux_libc(vagrant, tmp_path):
    """On macOS and Windows the kit's Linux-only modules cannot load: pytest must still get as
    far as forwarding into the VM."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_LINUX_LIBC)
    env = {**os.environ, "MOUNTLAB_FORCE_VM": "1", "FAKE_VAGRANT_EXIT": "0",
           "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-m", "pytest", "steps/03", "-q", "-p",
                             "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fake pytest output from the VM" in result.stdout
