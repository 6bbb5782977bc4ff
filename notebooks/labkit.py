"""Helpers shared by the walkthroughs: a throwaway lab, shell transcripts, mount tree drawings.

Nothing here mounts in the namespace of the Jupyter kernel. ``lab(func)`` runs ``func`` in a
forked child (``mountlab.sandbox``) that has a mount namespace of its own with ``/`` made private
(a user namespace too when the kernel is not root), and mounts a fresh tmpfs named ``lab`` on
``/mnt`` there, or binds a scratch folder of the host there (``scratch=``). Everything mounted
during the call goes away with that namespace when the child ends, also when the cell is
interrupted or the kernel killed, so the host's mount table stays as it was.

What ``func`` prints is captured in the child and printed by the kernel once the call returns
(forked children must not write to the kernel's own output streams).

The sentences printed here exist in English and French (``MESSAGES``); the French notebooks
(``notebooks/fr/``) load this same module through ``notebooks/fr/labkit.py``, which calls
``set_language("fr")``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
try:
    import mountlab  # noqa: F401  (the venv installs the kit)
except ImportError:  # a Python without the kit installed: use this copy
    sys.path.insert(0, str(KIT))

from mountlab import mountinfo, sandbox, syscalls  # noqa: E402

LAB = "/mnt"
_PR_SET_PDEATHSIG = 1
# Commands run with a fixed, plain environment so that their output is the same everywhere.
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
       "LANG": "C", "COLUMNS": "110", "TERM": "dumb", "HOME": "/", "PYTHONDONTWRITEBYTECODE": "1",
       "PYTHONPATH": str(KIT), "MOUNTLAB_LANG": "en"}

# ``./container`` in a command given to ``sh`` runs the runtime with the kernel's own Python (the
# kit's venv), whatever the working directory: the same program as the ./container wrapper.
CONTAINER_ARGV = [sys.executable, "-m", "mountlab.runtime"]
CONTAINER = " ".join(shlex.quote(a) for a in CONTAINER_ARGV)

_host_before: list[str] | None = None

# -- language --------------------------------------------------------------------------------------

LANGS = ("en", "fr")
# Every sentence this module prints or raises, both languages side by side.
MESSAGES: dict[str, dict[str, str]] = {
    "recorded": {
        "en": "host mount table recorded; the lab runs in throwaway mount namespaces",
        "fr": "table de montage de l'hôte enregistrée ; le labo tourne dans des namespaces de "
              "montage jetables"},
    "not_started": {
        "en": "start() was not run: nothing to compare",
        "fr": "start() n'a pas été exécuté : rien à comparer"},
    "unchanged": {
        "en": "host mount table unchanged: {answer}",
        "fr": "table de montage de l'hôte inchangée : {answer}"},
    "yes": {"en": "yes", "fr": "oui"},
    "no": {"en": "NO", "fr": "NON"},
    "new": {"en": "  new:", "fr": "  en plus :"},
    "gone": {"en": "  gone:", "fr": "  disparue :"},
    "no_lab_dir": {
        "en": "{lab} is not a directory on this machine: the lab needs it",
        "fr": "{lab} n'est pas un répertoire sur cette machine : le labo en a besoin"},
    "still_mounted": {
        "en": "something is still mounted below {path}: not removing it",
        "fr": "quelque chose est encore monté sous {path} : il n'est pas supprimé"},
    "exit_status": {"en": "[exit status {status}]", "fr": "[code de sortie {status}]"},
    "ended_at_once": {
        "en": "the container {name} ended at once: {output}",
        "fr": "le conteneur {name} s'est arrêté aussitôt : {output}"},
    "did_not_start": {
        "en": "the container {name} did not start within 15 s",
        "fr": "le conteneur {name} n'a pas démarré en 15 s"},
    "write_failed": {
        "en": "  write {path}: {errno} ({strerror})",
        "fr": "  écriture dans {path} : {errno} ({strerror})"},
    "write_ok": {"en": "  write {path}: ok", "fr": "  écriture dans {path} : ok"},
    "tree_title": {"en": "{title}: {count} mounts", "fr": "{title} : {count} montages"},
}
_lang = "en"


def set_language(lang: str) -> None:
    """Print this module's sentences in ``lang`` (``en`` or ``fr``), and make the kit's own
    programs started from here (``./container``, ``mountlab``) speak it too."""
    global _lang
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: choose one of {', '.join(LANGS)}")
    _lang = lang
    ENV["MOUNTLAB_LANG"] = lang
    os.environ["MOUNTLAB_LANG"] = lang


set_language("en")  # whatever the learner's environment says: the notebook decides


def message(key: str, **values: object) -> str:
    """The sentence ``key`` in the notebook's language, with ``values`` filled in."""
    return MESSAGES[key][_lang].format(**values)



class LabError(RuntimeError):
    """The lab function raised: the message holds its traceback, as it ran in the child."""


# -- the host's mount table -----------------------------------------------------------------------

def _host_lines() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


def start() -> None:
    """Remember the host's mount table, to compare at the end of the notebook."""
    global _host_before
    _host_before = _host_lines()
    print(message("recorded"))


def check_host() -> None:
    """Say whether the host's mount table is the one recorded by ``start()``."""
    now = _host_lines()
    if _host_before is None:
        print(message("not_started"))
    elif now == _host_before:
        print(message("unchanged", answer=message("yes")))
    else:
        print(message("unchanged", answer=message("no")))
        for line in sorted(set(now) - set(_host_before)):
            print(message("new"), line)
        for line in sorted(set(_host_before) - set(now)):
            print(message("gone"), line)


# -- the lab ---------------------------------------------------------------------------------------

def _die_with_the_kernel(kernel: int) -> None:
    """If the kernel dies (killed, restarted), end this lab child and everything it started:
    they share its process group. Their mounts go with their namespace."""
    def end(_signum, _frame):
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, end)
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != kernel:  # the kernel died before prctl
        end(None, None)


def _in_lab(kernel, func, args, kwargs, scratch):
    _die_with_the_kernel(kernel)
    if scratch:
        syscalls.mount(scratch, LAB, None, syscalls.MS_BIND | syscalls.MS_REC)
    else:
        syscalls.mount("lab", LAB, "tmpfs", 0, "mode=755")
    os.chdir("/")
    # What the programs started here write to their inherited stdout/stderr goes to a file, shown
    # after func's own prints (else it would reach the kernel's output at a random moment).
    raw = tempfile.TemporaryFile()
    os.dup2(raw.fileno(), 1)
    os.dup2(raw.fileno(), 2)
    out = io.StringIO()
    error = None
    result = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:  # noqa: B036 - brought back to the kernel as text
            error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    _wait_for_orphans()
    raw.seek(0)
    return out.getvalue() + raw.read().decode(errors="replace"), result, error


def _wait_for_orphans(limit: float = 5.0) -> None:
    """Reap the processes that ended or are ending below us: the lab's process is a subreaper, so
    a program's helpers that outlive it for a moment (a runtime's keeper exiting) come back here."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def lab(func, *args, scratch: str | None = None, timeout: float = 30.0, **kwargs):
    """``func(*args, **kwargs)`` in a throwaway mount namespace with the lab on ``/mnt``;
    prints what it printed and returns what it returned."""
    if not os.path.isdir(LAB):
        raise LabError(message("no_lab_dir", lab=LAB))
    try:
        text, result, error = sandbox.run(_in_lab, os.getpid(), func, args, kwargs, scratch,
                                          timeout=timeout, leaves_mounts=True)
    except sandbox.SandboxError as exc:
        raise LabError(exc.text) from None
    print(text, end="")
    if error:
        raise LabError(error)
    return result


def scratch_dir() -> str:
    """A scratch folder on the host for state that must outlive one lab call (removed when the
    kernel exits, or by ``remove_scratch``)."""
    path = tempfile.mkdtemp(prefix="mountlab-nb-")
    os.chmod(path, 0o755)
    atexit.register(remove_scratch, path)
    return path


def remove_scratch(path: str) -> bool:
    """Remove a scratch folder; True when it is gone. Its files may belong to the lab's root (a
    user namespace's), so the removal runs inside the lab, after checking in mountinfo that
    nothing is mounted below it: never delete through a mount (notebook 2)."""
    if not os.path.isdir(path):
        return True

    def remove():
        mounts = mountinfo.read()
        if subtree(mounts, lab_mount(mounts))[1:]:
            raise LabError(message("still_mounted", path=path))
        for name in os.listdir(LAB):
            full = os.path.join(LAB, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)

    with contextlib.suppress(Exception):
        lab(remove, scratch=path)
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return not os.path.exists(path)


# -- commands --------------------------------------------------------------------------------------

def sh(*commands: str, env: dict | None = None, cwd: str = "/", show: str | None = None) -> int:
    """Run each command with bash, printed like a terminal transcript (``$ command``, then its
    output, then ``[exit status N]`` when it is not 0). Returns the last exit status."""
    status = 0
    for command in commands:
        print(f"$ {show or command}")
        real = command.replace("./container ", CONTAINER + " ")
        proc = subprocess.run(["bash", "-c", real], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, cwd=cwd,
                              env={**ENV, **(env or {})}, stdin=subprocess.DEVNULL)
        print(proc.stdout, end="" if proc.stdout.endswith("\n") or not proc.stdout else "\n")
        status = proc.returncode
        if status:
            print(message("exit_status", status=status))
    return status


def run_quiet(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, env={**ENV, **(env or {})},
                          stdin=subprocess.DEVNULL)


def start_container(name: str, *run_args: str, env: dict | None = None):
    """``./container run --name NAME RUN_ARGS... sh -c 'read _'`` in the background: a container
    that lives until its standard input is closed (``stop_container``). Returns the runtime's
    process and the record ``./container inspect NAME`` prints, once the container runs."""
    env = {**ENV, **(env or {})}
    proc = subprocess.Popen([*CONTAINER_ARGV, "run", "--name", name,
                             *run_args, "sh", "-c", "read _"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(message("ended_at_once", name=name, output=proc.stdout.read()))
        out = run_quiet(*CONTAINER_ARGV, "inspect", name, env=env)
        if out.returncode == 0:
            record = json.loads(out.stdout)[0]
            if record["State"]["Running"]:
                return proc, record
        time.sleep(0.02)
    stop_container(proc)
    raise LabError(message("did_not_start", name=name))


def stop_container(proc) -> str:
    """Close the container's standard input, so that its command ends; wait for the runtime
    (which unmounts the volumes through step 4); return what it printed."""
    out, _ = proc.communicate("", timeout=15)
    return out


def errname(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno, str(exc.errno))


def try_write(path: str, text: str = "hello\n") -> bool:
    """Write ``text`` to ``path`` and say how it went (``ok`` or the errno)."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        print(message("write_failed", path=path, errno=errname(exc), strerror=exc.strerror))
        return False
    print(message("write_ok", path=path))
    return True


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def mount_line(path: str) -> str:
    """The raw line of /proc/self/mountinfo for the topmost mount at ``path``."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", "rb") as f:
        lines = [line for line in f.read().decode(errors="replace").splitlines()
                 if mountinfo.parse_line(line).mountpoint == path]
    return lines[-1] if lines else ""


def options(path: str) -> str:
    """The per-mount options of the topmost mount at ``path``, e.g. ``ro,relatime``."""
    found = mountinfo.find(path)
    return ",".join(found[-1].options) if found else "(not a mount point)"


# -- mount trees -----------------------------------------------------------------------------------

def subtree(mounts: list, top) -> list:
    """``top`` (a Mount) and the mounts below it in the tree, parents before children."""
    keep = {top.mount_id}
    out = [top]
    for m in mounts:
        if m.parent_id in keep and m.mount_id not in keep:
            keep.add(m.mount_id)
            out.append(m)
    return out


def lab_mount(mounts: list):
    """The lab's own mount (the last one on /mnt) in a mount table."""
    return [m for m in mounts if m.mountpoint == LAB][-1]


def label(m, *, options: bool = True) -> str:
    source = m.source + (f"[{m.root}]" if m.root != "/" else "")
    text = f"{m.mountpoint}  {m.fstype} {source}"
    if options:
        text += "  " + ("ro" if m.read_only else "rw")
    return text


def _ordered(mounts: list) -> list[tuple[int, object, bool]]:
    """(depth, mount, is_last_child) in tree order (a child's parent comes before it)."""
    ids = {m.mount_id for m in mounts}
    children: dict[int, list] = {}
    roots = []
    for m in mounts:
        if m.parent_id in ids and m.parent_id != m.mount_id:
            children.setdefault(m.parent_id, []).append(m)
        else:
            roots.append(m)
    out = []

    def walk(m, depth, last):
        out.append((depth, m, last))
        kids = children.get(m.mount_id, [])
        for i, k in enumerate(kids):
            walk(k, depth + 1, i == len(kids) - 1)

    for i, r in enumerate(roots):
        walk(r, 0, i == len(roots) - 1)
    return out


def text_tree(mounts: list, *, options: bool = True) -> str:
    """The mounts as a tree, like ``findmnt``: one line per mount, children indented."""
    lines = []
    stack: list[bool] = []  # for each depth: has the ancestor at that depth more siblings?
    for depth, m, last in _ordered(mounts):
        del stack[depth:]
        prefix = "".join("   " if done else "│  " for done in stack[1:])
        if depth:
            prefix += "└─ " if last else "├─ "
        lines.append(prefix + label(m, options=options))
        stack.append(last)
    return "\n".join(lines)


def bind_links(host: list, container: list) -> list[tuple[object, object, str]]:
    """For each container mount that shows a folder of a filesystem the host has mounted too
    (a bind mount: same device, its root inside the host mount's root): (host mount holding the
    folder, container mount, the folder's path on the host)."""
    links = []
    for c in container:
        if c.root == "/" and c.fstype in ("proc", "sysfs", "overlay"):
            continue
        best = None
        for h in host:
            if (h.major, h.minor) != (c.major, c.minor):
                continue
            base = h.root.rstrip("/")
            if c.root == h.root or c.root.startswith(base + "/"):
                if best is None or len(h.root) > len(best.root):
                    best = h
        if best is not None and c.root != "/":
            rest = c.root[len(best.root.rstrip("/")):]
            links.append((best, c, best.mountpoint.rstrip("/") + rest))
    return links


def draw(host: list, container: list, *, host_title: str = "host",
         container_title: str = "container", highlight=()) -> None:
    """Draw the host's mount tree beside the container's, with an arrow for each bind mount from
    the host folder to where the container sees it. Displayed as a PNG (the text of the trees is
    printed by ``text_tree`` where it matters)."""
    import logging

    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # no font-cache notice on stderr
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.display import Image, display
    from matplotlib.patches import ConnectionPatch

    left, right = _ordered(host), _ordered(container)
    rows = max(len(left), len(right), 4)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 0.26 * rows + 1.2),
                                   gridspec_kw={"width_ratios": [1.25, 1], "wspace": 0.05})
    links = bind_links([m for _, m, _ in left], [m for _, m, _ in right])
    linked_host = {h.mount_id for h, _, _ in links}
    linked_ctr = {c.mount_id for _, c, _ in links}
    texts: dict[tuple[int, int], object] = {}
    for side, (ax, tree, title, marked) in enumerate(
            ((ax1, left, host_title, linked_host | set(highlight)),
             (ax2, right, container_title, linked_ctr))):
        ax.set_xlim(0, 1)
        ax.set_ylim(-rows - 0.5, 1)
        ax.axis("off")
        ax.set_title(message("tree_title", title=title, count=len(tree)), loc="left",
                     fontsize=11, fontweight="bold")
        where: dict[int, tuple[float, float]] = {}
        for i, (depth, m, _last) in enumerate(tree):
            x, y = (0.01 if side == 0 else 0.30) + 0.03 * depth, -i
            where[m.mount_id] = (x, y)
            parent = where.get(m.parent_id)
            if parent is not None and m.parent_id != m.mount_id:
                px, py = parent
                ax.plot([px + 0.008, px + 0.008, x - 0.004], [py - 0.3, y, y], lw=0.7,
                        color="#888888")
            text = label(m)
            if len(text) > 70:
                text = text[:69] + "…"
            style = dict(boxstyle="round,pad=0.15", fc="#ffe9a8", ec="#c9a227") \
                if m.mount_id in marked else None
            texts[(side, m.mount_id)] = ax.text(x, y, text, va="center", ha="left",
                                                family="monospace", fontsize=8, bbox=style)
    fig.canvas.draw()  # the texts' extents are known only once drawn
    colours = ["#c0392b", "#2471a3", "#1e8449", "#7d3c98", "#b9770e"]
    for n, (h, c, path) in enumerate(links):
        colour = colours[n % len(colours)]
        start = texts[(0, h.mount_id)].get_window_extent()
        end = texts[(1, c.mount_id)].get_window_extent()
        xa, ya = ax1.transData.inverted().transform((start.x1 + 4, (start.y0 + start.y1) / 2))
        xb, yb = ax2.transData.inverted().transform((end.x0 - 4, (end.y0 + end.y1) / 2))
        fig.add_artist(ConnectionPatch((xa, ya), (xb, yb), coordsA=ax1.transData,
                                       coordsB=ax2.transData, arrowstyle="->", color=colour,
                                       lw=1.2, connectionstyle="arc3,rad=0.0"))
        xe, ye = ax2.transData.inverted().transform((end.x1 + 6, (end.y0 + end.y1) / 2))
        ax2.text(xe, ye, f"<- {path}", va="center", ha="left", family="monospace", fontsize=8,
                 color=colour)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buf.getvalue()))
