#!/usr/bin/env bash
# Build a Debian 12 Vagrant box for libvirt, locally, without any box registry: the VM for a Linux
# host without VirtualBox (docs/vm.md) and for tests/vm/test_vagrant_up.py.
#
#   sudo bash scripts/build-libvirt-box.sh [DIR]      # DIR default: /var/cache/mountlab/vm-box
#   vagrant box add --name mountlab/debian-12 DIR/mountlab-debian-12.box
#   MOUNTLAB_VM_BOX=mountlab/debian-12 VAGRANT_DEFAULT_PROVIDER=libvirt vagrant up
#
# Cached in DIR: the downloaded packages, the debootstrap root (rebuilt when the package list
# changes) and the box (rebuilt when the root or this script changes). Prints the box's path on
# its last line.
#
# The box holds the kit's system packages already (scripts/provision.sh --packages): `vagrant up`
# then mostly sets up the kit itself. provision.sh still checks every package and installs any
# the box lacks (one added to the kit's list since the box was built, say).
#
# MOUNTLAB_BOX_WHEELHOUSE=FOLDER (wheels for the guest's Python 3.11, and a requirements.txt; the
# kit's VM test makes one): those requirements go into the VM's venv in the box, installed here
# at native speed. Under emulation (no KVM) the guest's own pip install of JupyterLab and its kin
# takes a quarter of an hour; provisioning then only adds the kit itself to the venv.
#
# The box boots its kernel directly (libvirt's kernel/initrd/cmd_line, set by the Vagrantfile inside
# the box): no boot loader, no partition table. One ext4 file system on /dev/vda.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

DIR=${1:-/var/cache/mountlab/vm-box}
SUITE=bookworm
MIRROR=${MOUNTLAB_BOX_MIRROR:-http://deb.debian.org/debian}
SIZE_GB=4
# What Vagrant needs in a guest: sshd, sudo, rsync (the synced folder), dbus (hostnamectl); DNS
# from systemd-networkd's DHCP through systemd-resolved. Debian's kernel for virtual machines
# (virtio, ext4, namespaces, overlayfs; no drivers for hardware a VM never has): a quarter of the
# generic kernel's modules to unpack and a smaller initrd for the guest to boot from.
INCLUDE=linux-image-cloud-amd64,initramfs-tools,openssh-server,sudo,systemd-sysv,dbus,systemd-resolved,udev,\
iproute2,kmod,netbase,rsync,ca-certificates
ROOT=$DIR/root
BOX=$DIR/mountlab-debian-12.box
WHEELHOUSE=${MOUNTLAB_BOX_WHEELHOUSE:-}
VM_VENV=/home/vagrant/.venv-mountlab  # the Vagrantfile's MOUNTLAB_VM_VENV

say() { printf 'build-libvirt-box: %s\n' "$*" >&2; }
die() { printf 'build-libvirt-box: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root (debootstrap and file ownership in the image)"
for tool in debootstrap mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install debootstrap e2fsprogs qemu-utils"
done
install -d -m 0755 "$DIR"
if [ -n "$WHEELHOUSE" ] && [ ! -f "$WHEELHOUSE/requirements.txt" ]; then
  die "MOUNTLAB_BOX_WHEELHOUSE=$WHEELHOUSE: no requirements.txt there"
fi
KIT_PACKAGES=$(bash "$(dirname "${BASH_SOURCE[0]}")/provision.sh" --packages) \
  || die "scripts/provision.sh --packages failed"
# shellcheck disable=SC2086  # one package a word
INCLUDE=$(printf '%s\n' ${INCLUDE//,/ } $KIT_PACKAGES | sort -u | paste -sd, -)

# --- the debootstrap root, kept as long as its package list is the same --------------------------
root_key="$SUITE $MIRROR $INCLUDE"
if [ "$(cat "$ROOT.key" 2>/dev/null)" != "$root_key" ]; then
  say "debootstrap $SUITE into $ROOT (about 90 s)"
  # A root is only ever a plain folder here (never a mount point): rm -rf is safe.
  rm -rf "$ROOT" "$ROOT.new" "$ROOT.key"
  # In a mount namespace of its own: the proc and sys it mounts in the root go with it, even when
  # it is interrupted. The .debs stay in DIR/debs for the next root.
  # In two stages, so that dpkg in the second one need not sync every file it unpacks to the
  # disk (force-unsafe-io, which the box keeps): a root thrown away when anything fails.
  install -d -m 0755 "$DIR/debs"
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private sh -c '
    debootstrap --foreign --variant=minbase --cache-dir="$1" --include="$2" "$3" "$4" "$5" &&
    echo force-unsafe-io >"$4/etc/dpkg/dpkg.cfg.d/mountlab-unsafe-io" &&
    chroot "$4" /debootstrap/debootstrap --second-stage' \
    sh "$DIR/debs" "$INCLUDE" "$SUITE" "$ROOT.new" "$MIRROR" >&2 \
    || die "debootstrap failed (log: $ROOT.new/debootstrap/debootstrap.log)"
  chroot "$ROOT.new" apt-get clean
  mv "$ROOT.new" "$ROOT"
  printf '%s' "$root_key" >"$ROOT.key"
fi

# --- the box, kept as long as the root, the wheels and this script are the same -------------------
wheels_key=none
if [ -n "$WHEELHOUSE" ]; then
  wheels_key=$( (ls "$WHEELHOUSE"; cat "$WHEELHOUSE/requirements.txt") | sha256sum | cut -d' ' -f1)
fi
box_key="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $(sha256sum "$ROOT.key" | cut -d' ' -f1)"
box_key+=" $wheels_key"
if [ -f "$BOX" ] && [ "$(cat "$BOX.key" 2>/dev/null)" = "$box_key" ]; then
  say "box up to date: $BOX"
  echo "$BOX"
  exit 0
fi
say "building $BOX"
rm -f "$BOX" "$BOX.key"
WORK=$(mktemp -d "$DIR/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Configure a copy so that the debootstrap root stays as debootstrap left it.
cp -a "$ROOT" "$WORK/root"
R=$WORK/root

# The kit's VM name already (its Vagrantfile's config.vm.hostname): Vagrant then skips renaming the
# guest and restarting its network on every first boot.
echo mountlab >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 mountlab\n' >"$R/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$R/etc/fstab"
# net.ifnames=0 on the kernel command line: the one interface is eth0.
cat >"$R/etc/systemd/network/80-dhcp.network" <<'EOF'
[Match]
Name=eth*

[Network]
DHCP=yes
EOF
chroot "$R" systemctl enable systemd-networkd systemd-resolved >/dev/null 2>&1
ln -sf /run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
# Every boot waits for nothing it does not need: ssh must come up as soon as the network does.
chroot "$R" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# A throwaway VM, often under emulation: dpkg need not sync every file it unpacks (set since
# debootstrap's second stage), apt need not fetch the package descriptions' translations.
echo 'Acquire::Languages "none";' >"$R/etc/apt/apt.conf.d/90mountlab-no-translations"
# The kernel and initrd boot from the box's folder on the host: an initrd rebuilt in the guest
# (packages such as busybox trigger it) would never be used.
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$R/etc/initramfs-tools/update-initramfs.conf"

# The vagrant user: passwordless sudo and Vagrant's insecure public key, which `vagrant up`
# replaces by a key of its own on first boot.
chroot "$R" useradd --create-home --shell /bin/bash vagrant 2>/dev/null || true
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$R/etc/sudoers.d/vagrant"
chmod 0440 "$R/etc/sudoers.d/vagrant"
keys=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub* \
          /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub* 2>/dev/null || true)
[ -n "$keys" ] || die "Vagrant's insecure public key (keys/vagrant.pub) not found: is vagrant installed?"
install -d -m 0700 "$R/home/vagrant/.ssh"
# shellcheck disable=SC2086  # one path a word
cat $keys | sort -u >"$R/home/vagrant/.ssh/authorized_keys"
chmod 0600 "$R/home/vagrant/.ssh/authorized_keys"
chroot "$R" chown -R vagrant:vagrant /home/vagrant/.ssh
echo 'UseDNS no' >"$R/etc/ssh/sshd_config.d/vagrant.conf"

# The VM's venv with the kit's dependencies (see MOUNTLAB_BOX_WHEELHOUSE above), made by the box's
# own Python from the wheels alone; no stamp, so the VM's set-up still runs ./workshop's venv
# bootstrap (pip then finds them installed and adds the kit).
if [ -n "$WHEELHOUSE" ]; then
  say "the kit's Python packages into $VM_VENV, from $WHEELHOUSE"
  cp -a "$WHEELHOUSE" "$R/tmp/wheelhouse"
  in_root() { chroot "$R" env -i HOME=/root LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
  pip_in_root() {
    in_root "$VM_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      --root-user-action=ignore --no-cache-dir --no-index --find-links /tmp/wheelhouse "$@"
  }
  in_root /usr/bin/python3 -m venv "$VM_VENV" >&2
  pip_in_root --upgrade pip >&2
  pip_in_root -r /tmp/wheelhouse/requirements.txt >&2
  # The Jupyter kernel that scripts/provision.sh installs (its step 3), made here as well: one
  # Python start fewer in the guest, where ipykernel's costs seconds.
  if in_root "$VM_VENV/bin/python" -c 'import ipykernel' 2>/dev/null; then
    in_root "$VM_VENV/bin/python" -m ipykernel install --sys-prefix --name mountlab \
      --display-name mountlab >/dev/null
  fi
  in_root chown -R vagrant:vagrant "$VM_VENV"
  rm -rf "$R/tmp/wheelhouse"
fi

# The host's own certificate authorities and pip settings, so that the guest reaches the package
# registries the way the host does (e.g. through a TLS-inspecting proxy). Nothing when there are none.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/"
  chroot "$R" update-ca-certificates >/dev/null 2>&1
fi
[ ! -f /etc/pip.conf ] || cp /etc/pip.conf "$R/etc/pip.conf"

# Direct kernel boot: the kernel and initrd travel in the box, next to its Vagrantfile.
cp "$(ls "$R"/boot/vmlinuz-* | sort -V | tail -n 1)" "$WORK/vmlinuz"
cp "$(ls "$R"/boot/initrd.img-* | sort -V | tail -n 1)" "$WORK/initrd.img"
cat >"$WORK/Vagrantfile" <<'EOF'
# The box's own settings (loaded before the project's Vagrantfile): boot the kernel shipped here.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    here = File.dirname(__FILE__)
    lv.kernel = File.join(here, "vmlinuz")
    lv.initrd = File.join(here, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
  end
end
EOF
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$SIZE_GB" \
  >"$WORK/metadata.json"

mkfs.ext4 -q -F -L root -d "$R" "$WORK/root.raw" "${SIZE_GB}G" >&2
qemu-img convert -O qcow2 "$WORK/root.raw" "$WORK/box.img"
# Uncompressed: `vagrant box add` unpacks it in seconds.
tar -C "$WORK" -cf "$BOX.new" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$BOX.new" "$BOX"
printf '%s' "$box_key" >"$BOX.key"
say "box ready: $BOX"
echo "$BOX"
