"""The learners' VM: the Vagrantfile is valid and says what the workshop promises.

``vagrant validate`` needs Vagrant (Debian's ``vagrant`` package; ``.ci/run`` installs it) but no
hypervisor. Validation runs on a copy of the Vagrantfile so that no ``.vagrant/`` lands in the kit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VAGRANTFILE = ROOT / "Vagrantfile"
needs_vagrant = pytest.mark.skipif(
    shutil.which("vagrant") is None,
    reason="vagrant is not installed (apt-get install vagrant; CI installs it)")


def source() -> str:
    return VAGRANTFILE.read_text()


def validate(tmp_path: Path, env: dict[str, str] | None = None, provider: str | None = None,
             path_prefix: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vagrant validate`` on a copy of the Vagrantfile (with the provisioning script it names)."""
    work = tmp_path / "kit"
    (work / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(VAGRANTFILE, work / "Vagrantfile")
    shutil.copy(ROOT / "scripts" / "provision.sh", work / "scripts" / "provision.sh")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_VM")}
    full_env.update(env or {})
    full_env["VAGRANT_CHECKPOINT_DISABLE"] = "1"
    args = ["vagrant", "validate"]
    if provider:
        full_env["VAGRANT_DEFAULT_PROVIDER"] = provider
    else:
        args.append("--ignore-provider")
    if path_prefix:
        full_env["PATH"] = f"{path_prefix}{os.pathsep}{full_env['PATH']}"
    return subprocess.run(args, cwd=work, env=full_env, capture_output=True, text=True,
                          timeout=120)


@needs_vagrant
def test_vagrant_validate_passes(tmp_path):
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


@needs_vagrant
def test_virtualbox_settings_are_real_settings(tmp_path):
    """--ignore-provider skips the provider blocks: check VirtualBox's with a stand-in VBoxManage
    (Vagrant only asks it for its version), so that a misspelt setting fails here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "VBoxManage").write_text("#!/bin/sh\necho 7.0.14r161095\n")
    (bin_dir / "VBoxManage").chmod(0o755)
    result = validate(tmp_path, provider="virtualbox", path_prefix=bin_dir)
    if "could not detect VirtualBox" in result.stdout + result.stderr:
        pytest.skip("this Vagrant did not accept the stand-in VBoxManage")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_vagrant
@pytest.mark.parametrize("name,value", [("MOUNTLAB_VM_CPUS", "two"),
                                        ("MOUNTLAB_VM_MEMORY", "512")])
def test_bad_size_is_refused_with_a_message(tmp_path, name, value):
    result = validate(tmp_path, env={name: value})
    assert result.returncode != 0
    assert name in result.stderr


@needs_vagrant
def test_size_from_the_environment_is_accepted(tmp_path):
    result = validate(tmp_path, env={"MOUNTLAB_VM_CPUS": "4", "MOUNTLAB_VM_MEMORY": "4096"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_box_is_bento_ubuntu_2404_unless_the_environment_names_another():
    text = source()
    assert re.search(r'^\s*config\.vm\.box\s*=\s*VM_BOX\s*$', text, re.M)
    assert re.search(r'^VM_BOX = ENV\.fetch\("MOUNTLAB_VM_BOX", ""\)\.strip\.then '
                     r'\{ \|box\| box\.empty\? \? "bento/ubuntu-24\.04" : box \}$', text, re.M)


def test_every_provider_has_a_block():
    providers = set(re.findall(r'config\.vm\.provider\s+"(\w+)"', source()))
    assert providers == {"virtualbox", "libvirt", "parallels", "vmware_desktop"}


def test_cpus_and_memory_come_from_the_environment_with_defaults():
    text = source()
    assert 'mountlab_vm_size("MOUNTLAB_VM_CPUS", 2, 1)' in text
    assert 'mountlab_vm_size("MOUNTLAB_VM_MEMORY", 2048, 1024)' in text
    for setting in ("vb.cpus = VM_CPUS", "vb.memory = VM_MEMORY", "lv.cpus = VM_CPUS",
                    "lv.memory = VM_MEMORY", "prl.cpus = VM_CPUS", "prl.memory = VM_MEMORY",
                    'vmw.vmx["numvcpus"] = VM_CPUS.to_s', 'vmw.vmx["memsize"] = VM_MEMORY.to_s'):
        assert setting in text


def test_jupyter_port_is_forwarded_to_the_host_loopback_only():
    found = re.search(r'config\.vm\.network\s+"forwarded_port",[^\n]*,\n[^\n]*', source())
    assert found, "no forwarded_port"
    text = found.group(0)
    assert "guest: 8888" in text and "host: 8888" in text
    assert 'host_ip: "127.0.0.1"' in text


def test_repo_synced_at_vagrant_and_boot_timeout_raised():
    text = source()
    assert 'config.vm.synced_folder ".", "/vagrant"' in text
    timeout = re.search(r"config\.vm\.boot_timeout\s*=\s*(\d+)", text)
    assert timeout and int(timeout.group(1)) > 300  # Vagrant's default


def test_one_privileged_shell_provisioner_running_provision_sh_as_the_vm():
    text = source()
    assert len(re.findall(r"config\.vm\.provision\b", text)) == 1
    assert 'type: "shell", path: "scripts/provision.sh", privileged: true' in text
    assert '"MOUNTLAB_VM" => "1"' in text


def test_venv_lives_outside_the_synced_folder():
    venv = re.search(r'MOUNTLAB_VM_VENV\s*=\s*"([^"]+)"', source())
    assert venv and not venv.group(1).startswith("/vagrant")
    assert '"MOUNTLAB_VENV" => MOUNTLAB_VM_VENV' in source()


def test_no_vbguest_plugin():
    """vagrant-vbguest is archived and breaks current Vagrant."""
    assert "vbguest" not in source()


def test_shell_files_keep_lf_line_endings():
    attributes = (ROOT / ".gitattributes").read_text()
    for pattern in ("*.sh", "workshop", "container", "Vagrantfile"):
        assert re.search(rf"^{re.escape(pattern)}\s+.*eol=lf", attributes, re.M), pattern
    for path in (VAGRANTFILE, ROOT / "scripts" / "provision.sh"):
        assert b"\r" not in path.read_bytes(), path
