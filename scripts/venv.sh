# Sourced by ./workshop and ./container: make sure the kit's virtualenv exists and matches
# pyproject.toml, creating or re-syncing it when needed (like ./gradlew). Sets MOUNTLAB_PY.
# MOUNTLAB_VENV chooses where the virtualenv lives (the VM keeps it off the synced folder);
# MOUNTLAB_VENV_EXTRAS which of the kit's extras it gets (default notebooks,dev; the VM's
# provisioning asks for notebooks only). A re-sync keeps the extras the stamp recorded.

# Builtins only (no subshell, no dirname): ./container pays for every fork at each start.
mountlab_root=${BASH_SOURCE[0]%/scripts/venv.sh}
case $mountlab_root in
    /*) ;;
    *) mountlab_root=$PWD/$mountlab_root ;;
esac
mountlab_venv="${MOUNTLAB_VENV:-$mountlab_root/.venv}"
MOUNTLAB_PY="$mountlab_venv/bin/python"

mountlab_say() { printf 'mountlab: %s\n' "$*" >&2; }
# The learner's language, as ./workshop picks it (LC_ALL, then LC_MESSAGES, then LANG): the text
# in English ($1) or French ($2), side by side so that neither is forgotten.
mountlab_tr() {
    local lang=${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}
    case $lang in fr*|FR*) printf '%s' "$2" ;; *) printf '%s' "$1" ;; esac
}

# apt-get update, then install "$@", quietly: a progress line from apt's status channel, and
# apt's own output only when it fails.
mountlab_apt_install() {
    local log status kind percent
    log=$(mktemp) || return 1
    apt-get -o DPkg::Lock::Timeout=600 -qq update >>"$log" 2>&1
    status=$?
    if [ "$status" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q \
            -o APT::Status-Fd=3 install --no-install-recommends "$@" 3>&1 >>"$log" 2>&1 |
        while IFS=: read -r kind _ percent _; do
            case $kind in
                dlstatus) printf '\r  %s %3d%%' "$(mountlab_tr downloading téléchargement)" "${percent%%.*}" >&2 ;;
                pmstatus) printf '\r  %s %3d%%' "$(mountlab_tr installing installation)" "${percent%%.*}" >&2 ;;
            esac
        done
        status=${PIPESTATUS[0]}
        printf '\n' >&2
    fi
    [ "$status" = 0 ] || tail -n 15 "$log" >&2
    rm -f "$log"
    return "$status"
}

mountlab_python() {
    local py
    # The distribution's python first: a venv built on a user's pyenv under /root would not run
    # for anyone else (sudo, the VM's user, graders).
    for py in /usr/bin/python3 python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    mountlab_say "Python 3.10 or newer is needed: install python3 (apt-get install python3)."
    return 1
}

# The extras to install: asked for, else those of the venv's last install, else all.
mountlab_venv_extras() {
    local recorded=
    if [ -n "${MOUNTLAB_VENV_EXTRAS:-}" ]; then printf '%s' "$MOUNTLAB_VENV_EXTRAS"; return; fi
    if [ -s "$mountlab_venv/.mountlab-pyproject" ]; then
        read -r recorded <"$mountlab_venv/.mountlab-pyproject" || true
    fi
    printf '%s' "${recorded:-notebooks,dev}"
}

mountlab_venv_create() {
    local py extras=$1
    if [ -x "$MOUNTLAB_PY" ] && "$MOUNTLAB_PY" -c '' 2>/dev/null; then
        # A venv that runs (pyproject.toml changed since, or the VM box's ready-made one): pip
        # brings it up to date. Making it again would only re-run ensurepip, a minute under emulation.
        mountlab_say "$(mountlab_tr \
            "updating the kit's virtualenv in $mountlab_venv to pyproject.toml with pip..." \
            "mise à jour de l'environnement virtuel du kit dans $mountlab_venv selon pyproject.toml avec pip...")"
    else
        py="$(mountlab_python)" || return 1
        if ! "$py" -c 'import ensurepip, venv' 2>/dev/null; then
            # Debian and Ubuntu ship venv's pip bootstrap in a separate package.
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
                mountlab_say "$(mountlab_tr \
                    "first run: installing python3-venv with apt-get, for the kit's virtualenv (Debian and Ubuntu keep Python's venv apart)" \
                    "premier lancement : installation de python3-venv avec apt-get, pour l'environnement virtuel du kit (Debian et Ubuntu livrent le venv de Python à part)")"
                mountlab_apt_install python3-venv || return 1
            else
                mountlab_say "$(mountlab_tr \
                    "Python's venv module is missing: install it with 'sudo apt-get install python3-venv' (as root: without sudo), then try again." \
                    "le module venv de Python manque : installez-le avec 'sudo apt-get install python3-venv' (en root : sans sudo), puis recommencez.")"
                return 1
            fi
        fi
        mountlab_say "$(mountlab_tr \
            "first run: setting up the kit's virtualenv in $mountlab_venv with pip (a few minutes)..." \
            "premier lancement : création de l'environnement virtuel du kit dans $mountlab_venv avec pip (quelques minutes)...")"
        "$py" -m venv "$mountlab_venv" >&2 || return 1
    fi
    # pip's and setuptools' chatter goes to a log, shown only when something fails.
    local log="$mountlab_venv/pip.log"
    if "$mountlab_venv/bin/python" "$mountlab_root/scripts/venv_needs.py" --build \
        "$mountlab_root/pyproject.toml" "$extras" >"$log" 2>&1; then
        # Every dependency is there already (the VM box's ready-made venv, a re-sync after an
        # edit of pyproject.toml that added none): pip adds the kit alone, without resolving
        # them all again nor making a build environment, each many seconds under emulation.
        "$mountlab_venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
            --no-build-isolation -e "$mountlab_root[$extras]" >"$log" 2>&1
    else
        { "$mountlab_venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
          "$mountlab_venv/bin/python" -m pip install -q --disable-pip-version-check \
            -e "$mountlab_root[$extras]"; } >"$log" 2>&1
    fi || {
        cat "$log" >&2
        mountlab_say "pip could not install the dependencies (above, and in $log); check the network and run again."
        return 1
    }
}

mountlab_venv_ready() {
    # Builtin tests only: this runs before every ./container command, where each fork counts.
    local stamp="$mountlab_venv/.mountlab-pyproject" extras
    if [ ! -x "$MOUNTLAB_PY" ] || [ ! -e "$stamp" ] || [ "$mountlab_root/pyproject.toml" -nt "$stamp" ]; then
        extras=$(mountlab_venv_extras)
        mountlab_venv_create "$extras" || exit 1
        # Its time records which pyproject.toml was installed, its line which extras.
        printf '%s\n' "$extras" >"$stamp"
    fi
}
