#!/usr/bin/env bash
# Provision a machine for mountlab: the learners' VM (run by the Vagrantfile), CI, and a plain
# Debian/Ubuntu machine (`sudo bash scripts/provision.sh`). Idempotent: a second run changes
# nothing and says so ("provision: nothing to change").
#
# What it does, in order:
#   1. the system packages (apt), only those missing;
#   2. the venv with the kit and its notebook extras (through ./workshop's own bootstrap; the
#      VM leaves out the dev extras, which only the kit's own tests use);
#   3. the `mountlab` Jupyter kernel (inside the venv, so it never points at a deleted venv);
#   4. in the VM: unprivileged user namespaces allowed (Ubuntu 24.04 restricts them), and sudo
#      keeping MOUNTLAB_VENV;
#   5. /etc/profile.d/mountlab.sh: the venv's bin on PATH in every login shell;
#   6. the container images: busybox always, ubuntu in the VM.
#
# Settings (environment):
#   MOUNTLAB_REPO     the kit's folder                      default: the folder above this script
#   MOUNTLAB_VENV     the venv to create/use                default: $MOUNTLAB_REPO/.venv
#   MOUNTLAB_USER     who owns the venv                     default: root
#   MOUNTLAB_VM=1     this is the learners' VM              default: 0
#   MOUNTLAB_PROFILE=0  do not write /etc/profile.d/mountlab.sh
#   MOUNTLAB_IMAGES   images to build, space-separated     default: "busybox" ("busybox ubuntu" in the VM)
#   MOUNTLAB_VENV_EXTRAS  the kit's extras in the venv     default: scripts/venv.sh's (notebooks in the VM)
set -euo pipefail

# The system's tools, not a user's pyenv or conda shims: the venv must be built on the
# distribution's python3 (python3-venv), and sbin holds sysctl and runuser.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

REPO=$(cd "${MOUNTLAB_REPO:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd -P)
IN_VM=${MOUNTLAB_VM:-0}
VENV_GIVEN=${MOUNTLAB_VENV:-}
VENV=${MOUNTLAB_VENV:-$REPO/.venv}
OWNER=${MOUNTLAB_USER:-root}
WRITE_PROFILE=${MOUNTLAB_PROFILE:-1}
if [ "$IN_VM" = 1 ]; then IMAGES=${MOUNTLAB_IMAGES-busybox ubuntu}; else IMAGES=${MOUNTLAB_IMAGES-busybox}; fi
# Learners never run the kit's own tests (ruff, cosmic-ray, ...): the VM's venv is smaller without.
if [ "$IN_VM" = 1 ]; then export MOUNTLAB_VENV_EXTRAS=${MOUNTLAB_VENV_EXTRAS:-notebooks}; fi

# The system packages: the kit's one list (./workshop installs from it too), all but those only
# the kit's own tests use. `bash scripts/provision.sh --packages` prints them.
PACKAGE_LIST=$REPO/mountlab/workshop/packages.toml
[ -f "$PACKAGE_LIST" ] || { printf 'provision: ERROR: %s is missing\n' "$PACKAGE_LIST" >&2; exit 1; }
mapfile -t PACKAGES < <(awk -F'"' '/^name = /{name=$2} /^for = /{if ($0 != "for = [\"test\"]") print name}' "$PACKAGE_LIST")
if [ "${1:-}" = --packages ]; then printf '%s\n' "${PACKAGES[@]}"; exit 0; fi

CHANGES=0
say()     { printf 'provision: %s\n' "$*"; }
changed() { CHANGES=$((CHANGES + 1)); say "changed: $*"; }
warn()    { printf 'provision: WARNING: %s\n' "$*" >&2; }
die()     { printf 'provision: ERROR: %s\n' "$*" >&2; exit 1; }
as_owner() {
  if [ "$OWNER" = root ]; then "$@"; else runuser -u "$OWNER" -- env HOME="$(owner_home)" "$@"; fi
}
owner_home() { getent passwd "$OWNER" | cut -d: -f6; }
# Replace FILE by the content on stdin only when it differs (keeps the second run a no-op).
write_if_changed() {
  local file=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
  install -D -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  changed "wrote $file"
}

[ "$(id -u)" = 0 ] || die "run me as root: sudo bash $0"
[ -f "$REPO/pyproject.toml" ] || die "$REPO is not the mountlab kit (no pyproject.toml)"
getent passwd "$OWNER" >/dev/null || die "MOUNTLAB_USER=$OWNER: no such user"
command -v apt-get >/dev/null || die "this script knows Debian and Ubuntu (apt-get); on another \
distribution install the packages listed at the top of $0 and run ./workshop --version"
START=$(date +%s)
say "kit $REPO, venv $VENV (owner $OWNER), vm=$IN_VM"

# CRLF line endings (a Windows checkout without .gitattributes) break every script in the kit.
if grep -lq $'\r' "$REPO/scripts/provision.sh" "$REPO/workshop" "$REPO/container" 2>/dev/null; then
  warn "the kit's scripts have Windows (CRLF) line endings and will not run. Fix them with
    sed -i 's/\r\$//' $REPO/workshop $REPO/container $REPO/scripts/*.sh
  (docs/vm.md, 'CRLF line endings'), then run this again ('vagrant provision')."
fi

# --- 1. system packages -------------------------------------------------------------------
# One dpkg-query for all (each process start costs under emulation), then builtins only.
missing=()
statuses=$'\n'$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)$'\n'
for p in "${PACKAGES[@]}"; do
  [[ $statuses == *$'\n'"$p installed"$'\n'* ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_get() { apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }
  apt_get update
  apt_get install --no-install-recommends "${missing[@]}"
  changed "apt packages: ${missing[*]}"
else
  say "apt packages: all there"
fi

# --- 2. the venv ----------------------------------------------------------------------------
# Ready = every requirement of the kit and of its notebooks extra (and of the extras the venv
# was made with) installed at a version it accepts, theirs too, as pip's metadata says
# (scripts/venv_needs.py), and mountlab is this kit's (an editable install of a moved or other
# copy of the kit would grade the wrong files). Importing JupyterLab and matplotlib to prove the
# same would cost a minute under emulation.
STAMP=$VENV/.mountlab-pyproject   # ./workshop's record (its time) of the install it made
venv_ok() {
  local recorded=
  [ -x "$VENV/bin/python" ] || return 1
  [ ! -s "$STAMP" ] || read -r recorded <"$STAMP" || true
  "$VENV/bin/python" "$REPO/scripts/venv_needs.py" "$REPO/pyproject.toml" "notebooks,$recorded" \
    >/dev/null 2>&1 || return 1
  [ "$(cd / && "$VENV/bin/python" -c 'import mountlab, os
print(os.path.realpath(list(mountlab.__path__)[0]))' 2>/dev/null)" = "$REPO/mountlab" ]
}
stamp_before=$(stat -c %Y.%y "$STAMP" 2>/dev/null || true)
if [ ! -e "$VENV" ] && ! as_owner test -w "$(dirname "$VENV")"; then
  install -d -o "$OWNER" "$VENV"   # e.g. under /opt: an empty folder the owner may fill
fi
if [ -x "$REPO/workshop" ]; then
  # The wrappers' own bootstrap (a no-op when the venv matches pyproject.toml), so that the venv
  # is exactly the one ./workshop and ./container expect and will not re-sync later under sudo.
  (cd "$REPO" && as_owner env MOUNTLAB_VENV="$VENV" MOUNTLAB_VENV_EXTRAS="${MOUNTLAB_VENV_EXTRAS:-}" \
     ./workshop --version >/dev/null) \
    || die "./workshop --version could not create the venv $VENV"
else
  warn "no ./workshop wrapper: creating the venv directly"
  [ -x "$VENV/bin/python" ] || as_owner python3 -m venv "$VENV"
fi
venv_changed=0
[ "$(stat -c %Y.%y "$STAMP" 2>/dev/null || true)" = "$stamp_before" ] || venv_changed=1
if ! venv_ok; then
  # The notebook extras, should the bootstrap leave them out, or a venv of another copy.
  (cd "$REPO" && as_owner "$VENV/bin/python" -m pip install -q -e ".[notebooks]") \
    || die "pip could not install the kit into $VENV"
  venv_ok || die "the venv $VENV still lacks a module after pip install"
  venv_changed=1
fi
if [ "$venv_changed" = 1 ]; then changed "venv $VENV"; else say "venv: ready"; fi
if [ "$OWNER" != root ] && [ -n "$(find "$VENV" ! -user "$OWNER" -print -quit)" ]; then
  chown -R "$OWNER": "$VENV"
  changed "venv handed back to $OWNER"
fi

# --- 3. the Jupyter kernel --------------------------------------------------------------------
# Inside the venv (--sys-prefix): its jupyter, nbval and JupyterLab find it, and it can never
# point at a venv that is gone (as a system-wide kernel would after the venv is re-created).
KERNEL_JSON=$VENV/share/jupyter/kernels/mountlab/kernel.json
if [ -f "$KERNEL_JSON" ] && grep -qF "\"$VENV/bin/python\"" "$KERNEL_JSON"; then
  say "jupyter kernel mountlab: there"
else
  as_owner "$VENV/bin/python" -m ipykernel install --sys-prefix --name mountlab \
    --display-name mountlab >/dev/null
  changed "jupyter kernel mountlab"
fi

# --- 4. the VM only: user namespaces and sudo ---------------------------------------------------
if [ "$IN_VM" = 1 ]; then
  # The checks run learner code in a user + mount namespace when not root. Ubuntu 24.04's
  # AppArmor forbids unprivileged user namespaces by default; this VM is a single-user teaching
  # machine, so we allow them, which lets `cd /vagrant && pytest steps/03` run without sudo.
  if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
    write_if_changed /etc/sysctl.d/60-mountlab-userns.conf 0644 <<'EOF' || true
# mountlab (scripts/provision.sh): the graded checks run learners' code in a user + mount
# namespace when not root. Ubuntu 24.04 restricts unprivileged user namespaces through AppArmor;
# this teaching VM allows them so that `pytest steps/03` works without sudo.
# Do not copy this to a machine that other people use.
kernel.apparmor_restrict_unprivileged_userns = 0
EOF
    if [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" != 0 ]; then
      sysctl -q -w kernel.apparmor_restrict_unprivileged_userns=0
      changed "kernel.apparmor_restrict_unprivileged_userns=0"
    fi
  fi
  # `sudo ./container run ...` must find the venv outside /vagrant, not make a new one inside.
  SUDOERS=$(mktemp)
  echo 'Defaults env_keep += "MOUNTLAB_VENV"' >"$SUDOERS"
  visudo -cqf "$SUDOERS" || die "visudo refused the sudoers line"
  write_if_changed /etc/sudoers.d/mountlab 0440 <"$SUDOERS" || true
  rm -f "$SUDOERS"
fi

# --- 5. the login profile -----------------------------------------------------------------------
if [ "$WRITE_PROFILE" != 0 ]; then
  profile="# mountlab: written by scripts/provision.sh (run it again rather than editing this)."
  [ -z "$VENV_GIVEN" ] || profile+=$'\n'"export MOUNTLAB_VENV='$VENV'"
  profile+=$'\n'"case \":\$PATH:\" in *\":$VENV/bin:\"*) ;; *) PATH='$VENV/bin':\$PATH ;; esac"
  profile+=$'\n'"export PATH"
  if [ "$IN_VM" = 1 ]; then
    profile+=$'\n'"# Interactive logins start in the kit."
    profile+=$'\n'"case \$- in *i*) [ \"\$PWD\" = \"\$HOME\" ] && [ -d '$REPO/steps' ] && cd '$REPO' ;; esac"
  fi
  write_if_changed /etc/profile.d/mountlab.sh 0644 <<<"$profile" || say "login profile: unchanged"
fi

# --- 6. the images --------------------------------------------------------------------------------
container() { (cd "$REPO" && env MOUNTLAB_VENV="$VENV" ./container "$@"); }
if [ -n "$IMAGES" ]; then
  if [ ! -x "$REPO/container" ]; then
    warn "no ./container wrapper yet: images not built ($IMAGES)"
  elif ! listing=$(container image ls 2>&1); then
    warn "'./container image ls' failed, images not built ($IMAGES):"
    printf '%s\n' "$listing" | tail -n 5 >&2
  else
    for image in $IMAGES; do
      if grep -qE "^[[:space:]]*$image([[:space:]:]|$)" <<<"$listing"; then
        say "image $image: there"
      else
        say "building image $image"
        container image build "$image" || die "'./container image build $image' failed"
        changed "image $image"
      fi
    done
  fi
fi

# --- done ----------------------------------------------------------------------------------------
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ] && [ "$IN_VM" != 1 ] &&
   [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" = 1 ]; then
  say "note: unprivileged user namespaces are restricted here: grade with sudo (docs/vm.md)"
fi
if [ "$CHANGES" = 0 ]; then
  say "nothing to change ($(($(date +%s) - START)) s)"
else
  say "$CHANGES change(s) in $(($(date +%s) - START)) s"
fi
if [ "$IN_VM" = 1 ]; then
  say "ready: vagrant ssh, then: cd $REPO && pytest steps/03"
else
  say "ready: in a new login shell: cd $REPO && pytest steps/03   (or: sudo ./workshop check 3)"
fi
