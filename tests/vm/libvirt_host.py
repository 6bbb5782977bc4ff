"""libvirt on this machine for one test: its daemons, a NAT network and a storage pool of its own.

There is no systemd here: the daemons are started by hand when none runs, and stopped at the end
only if this module started them. Everything it creates is named ``mountlab-test-<pid>`` and
removed by :meth:`Libvirt.close`, which then lists what is still there (it must be nothing).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

VIRSH = ["virsh", "--quiet", "-c", "qemu:///system"]
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
PIDFILES = {"virtlogd": Path("/run/virtlogd.pid"), "libvirtd": Path("/run/libvirtd.pid")}
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def virsh(*args: str, check: bool = True) -> str:
    result = subprocess.run([*VIRSH, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _alive(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` when that process still runs."""
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _running(comm: str) -> bool:
    """Whether a process named ``comm`` runs (started by anyone)."""
    for path in Path("/proc").glob("[0-9]*/comm"):
        try:
            if path.read_text().strip() == comm:
                return True
        except OSError:  # gone meanwhile
            continue
    return False


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 192.168.100-199 that no route of this machine uses yet."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True, check=True).stdout
    used = []
    for line in routes.splitlines():
        for word in line.split()[:2]:  # "10.0.0.0/8 dev ..." or "local 127.0.0.1 dev ..."
            try:
                used.append(ipaddress.ip_network(word, strict=False))
                break
            except ValueError:
                continue
    for third in range(100 + os.getpid() % 50, 200):
        net = ipaddress.ip_network(f"192.168.{third}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError("no free 192.168.1xx.0/24 for the test's network")


def _uplink_mtu() -> int:
    """The MTU of the interface of the default route (the guest's packets leave through it)."""
    route = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True,
                           text=True).stdout.split()
    if "dev" in route:
        dev = route[route.index("dev") + 1]
        try:
            return int(Path(f"/sys/class/net/{dev}/mtu").read_text())
        except (OSError, ValueError):
            pass
    return 1500


# The chains libvirtd adds for its first NAT network and never removes: (table, chain, parent).
LIBVIRT_CHAINS = [("filter", "LIBVIRT_INP", "INPUT"), ("filter", "LIBVIRT_OUT", "OUTPUT"),
                  ("filter", "LIBVIRT_FWI", "FORWARD"), ("filter", "LIBVIRT_FWO", "FORWARD"),
                  ("filter", "LIBVIRT_FWX", "FORWARD"), ("nat", "LIBVIRT_PRT", "POSTROUTING"),
                  ("mangle", "LIBVIRT_PRT", "POSTROUTING")]


def _remove_empty_libvirt_chains() -> None:
    """Once the libvirtd started here is gone: its firewall chains, when no rule is left in them
    (a chain with rules belongs to another libvirt user)."""
    for tool in ("iptables", "ip6tables"):
        for table, chain, parent in LIBVIRT_CHAINS:
            rules = subprocess.run([tool, "-w", "-t", table, "-S", chain], capture_output=True,
                                   text=True)
            if rules.returncode != 0 or rules.stdout.strip() != f"-N {chain}":
                continue
            while subprocess.run([tool, "-w", "-t", table, "-D", parent, "-j", chain],
                                 capture_output=True).returncode == 0:
                pass
            subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)


def _libvirt_chains() -> list[str]:
    found = []
    for tool in ("iptables", "ip6tables"):
        for table, chain, _ in LIBVIRT_CHAINS:
            if subprocess.run([tool, "-w", "-t", table, "-S", chain],
                              capture_output=True).returncode == 0:
                found.append(f"{tool} -t {table} chain {chain}")
    return found


class Libvirt:
    """libvirt's daemons plus a NAT network and a directory pool for one test run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = f"mountlab-test-{os.getpid()}"
        self.started: dict[str, int] = {}  # daemon -> pid, only those started here
        self.subnet = _free_subnet()
        self.mtu = min(_uplink_mtu(), 1500)
        self.pool_dir = workdir / "pool"
        self.network_up = self.pool_up = False
        self.ip_forward = IP_FORWARD.read_text().strip()
        self.chains_before = _libvirt_chains()

    # --- daemons -------------------------------------------------------------------------------
    def start(self) -> None:
        if _alive(PIDFILES["virtlogd"]) is None:
            subprocess.run(["virtlogd", "-d"], check=True, timeout=30)
            self.started["virtlogd"] = self._wait_pid("virtlogd")
        if _alive(PIDFILES["libvirtd"]) is None:
            # libvirtd probes QEMU as its `qemu` user (libvirt-qemu), which cannot open /dev/kvm
            # here (root-only): it then finds KVM "available" but unusable and probes again and
            # again, about 48 s for every domain definition. QEMU running as root makes the probe
            # consistent (0.02 s). The root-run qemu.conf is bind-mounted over the system's in a
            # private mount namespace that only libvirtd and its QEMUs see: the file on this
            # machine never changes and the mount goes away with them.
            conf = self.workdir / "qemu.conf"
            conf.write_text(QEMU_CONF.read_text()
                            + '\n# mountlab tests: QEMU as root (tests/vm/libvirt_host.py)\n'
                              'user = "root"\ngroup = "root"\n')
            subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount --bind "$0" /etc/libvirt/qemu.conf && exec libvirtd -d',
                            str(conf)], check=True, timeout=30)
            self.started["libvirtd"] = self._wait_pid("libvirtd")
        deadline = time.monotonic() + 60
        while subprocess.run([*VIRSH, "version"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not answer on qemu:///system within 60 s")
            time.sleep(0.2)

    @staticmethod
    def _wait_pid(daemon: str) -> int:
        deadline = time.monotonic() + 30
        while (pid := _alive(PIDFILES[daemon])) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{daemon} did not start (no live pid in {PIDFILES[daemon]})")
            time.sleep(0.1)
        return pid

    # --- network and pool ----------------------------------------------------------------------
    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """This machine's address on the network (its bridge's), which the guest reaches."""
        return self.subnet.network_address + 1

    def create_network(self) -> None:
        """A NAT network: the guest reaches out through this machine, nothing reaches the guest
        from outside it (libvirt's NAT accepts only connections the guest opened)."""
        gateway = self.gateway
        xml = self.workdir / "network.xml"
        xml.write_text(f"""<network>
  <name>{self.name}</name>
  <bridge name='mlbr{os.getpid() % 100000}' stp='off' delay='0'/>
  <forward mode='nat'/>
  <mtu size='{self.mtu}'/>
  <ip address='{gateway}' netmask='{self.subnet.netmask}'>
    <dhcp><range start='{gateway + 1}' end='{self.subnet.broadcast_address - 1}'/></dhcp>
  </ip>
</network>
""")
        virsh("net-define", str(xml))
        self.network_up = True
        virsh("net-start", self.name)

    def create_pool(self) -> None:
        self.pool_dir.mkdir(exist_ok=True)
        virsh("pool-define-as", self.name, "dir", "--target", str(self.pool_dir))
        self.pool_up = True
        virsh("pool-start", self.name)

    def home_vagrantfile(self) -> str:
        """Settings for vagrant-libvirt (in VAGRANT_HOME's Vagrantfile, loaded before the kit's):
        this run's network and pool instead of the shared defaults."""
        return f"""Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.uri = "qemu:///system"
    lv.storage_pool_name = "{self.name}"
    lv.management_network_name = "{self.name}"
    lv.management_network_address = "{self.subnet}"
    lv.management_network_mtu = {self.mtu}
    # A throwaway VM: QEMU ignores the guest's disk flushes (dpkg and pip sync every file they
    # write, which under emulation costs minutes), and no VNC port is opened on this machine.
    lv.disk_driver :cache => "unsafe"
    lv.graphics_type = "none"
  end
end
"""

    def _restore_ip_forward(self) -> None:
        """libvirt turns on IPv4 forwarding for a NAT network and leaves it on: turn it off again
        when it was off, unless another NAT user (a libvirt network, dockerd) may need it now."""
        if self.ip_forward != "0" or virsh("net-list", "--name", check=False).split():
            return
        if _running("dockerd"):
            return
        IP_FORWARD.write_text("0\n")

    # --- the end -------------------------------------------------------------------------------
    def leftovers(self) -> list[str]:
        """What of this run is still there: domains, volumes, network, pool, daemons."""
        found: list[str] = []
        if subprocess.run([*VIRSH, "version"], capture_output=True).returncode == 0:
            domains = virsh("list", "--all", "--name", check=False).split()
            found += [f"domain {d}" for d in domains if d.startswith(self.name)]
            if self.name in virsh("net-list", "--all", "--name", check=False).split():
                found.append(f"network {self.name}")
            if self.name in virsh("pool-list", "--all", "--name", check=False).split():
                found.append(f"pool {self.name}")
        if self.pool_dir.exists():
            found += [f"volume {p}" for p in self.pool_dir.iterdir()]
        found += [f"daemon {name} (pid {pid})" for name, pid in self.started.items()
                  if _alive(PIDFILES[name]) == pid]
        if "libvirtd" in self.started:
            found += [f"firewall {c}" for c in _libvirt_chains() if c not in self.chains_before]
        return found

    def close(self, domain_prefix: str) -> list[str]:
        """Remove the domains named ``domain_prefix*`` (if any survived ``vagrant destroy``), the
        pool with its volumes, the network; stop the daemons started here. Returns
        :meth:`leftovers`."""
        errors: list[str] = []
        try:
            for dom in virsh("list", "--all", "--name", check=False).split():
                if dom.startswith(domain_prefix):
                    errors.append(f"domain {dom} survived `vagrant destroy`")
                    virsh("destroy", dom, check=False)
                    virsh("undefine", dom, "--remove-all-storage", check=False)
            if self.pool_up:
                # Every file of the pool's folder is a volume (the box's base image above all,
                # which `vagrant destroy` keeps): deleted through libvirt, by path.
                virsh("pool-refresh", self.name, check=False)
                for vol in sorted(self.pool_dir.iterdir()) if self.pool_dir.exists() else []:
                    try:
                        virsh("vol-delete", str(vol))
                    except RuntimeError as e:
                        errors.append(str(e))
                virsh("pool-destroy", self.name, check=False)
                virsh("pool-undefine", self.name, check=False)
            if self.network_up:
                virsh("net-destroy", self.name, check=False)
                virsh("net-undefine", self.name, check=False)
                self._restore_ip_forward()
        finally:
            for name in ("libvirtd", "virtlogd"):
                pid = self.started.get(name)
                if pid is not None and _alive(PIDFILES[name]) == pid:
                    os.kill(pid, signal.SIGTERM)
                    if not _wait_gone(pid, 30):
                        errors.append(f"{name} (pid {pid}) ignored SIGTERM")
            if "libvirtd" in self.started:
                _remove_empty_libvirt_chains()
            if self.pool_dir.exists() and not any(self.pool_dir.iterdir()):
                self.pool_dir.rmdir()
        return errors + self.leftovers()
