"""What a virtualenv lacks of the kit's requirements: run by the venv's own Python,

    VENV/bin/python scripts/venv_needs.py [--build] KIT/pyproject.toml EXTRAS

it prints one line per requirement that no installed distribution satisfies (the kit's, those of
its extras with EXTRAS a comma list, theirs in turn; with --build also what pip needs to build
the kit without an isolated environment: pip, the build back-end, and wheel beside a setuptools
before 70.1), and exits 0 when none is missing, 1 when some are, 2 when it cannot tell (no
`packaging` to read the version ranges with).

scripts/venv.sh asks it (--build) before updating a venv that runs: when nothing is missing, pip
only has the kit itself to add, without resolving every dependency again nor making a build
environment. That is the VM box's case (its venv ready-made), where each pip start costs seconds
under emulation. scripts/provision.sh asks it whether a venv is ready. It reads the installed
distributions' metadata only: no package is imported (JupyterLab's import alone takes a minute
under emulation).
"""

from __future__ import annotations

import sys
from importlib import metadata

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        sys.exit(2)
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ModuleNotFoundError:  # a bare venv: pip decides
    sys.exit(2)


def wanted(pyproject: str, extras: list[str], build: bool) -> list[Requirement]:
    with open(pyproject, "rb") as f:
        data = tomllib.load(f)
    texts = list(data["project"].get("dependencies", []))
    if build:  # pip builds the kit without an isolated environment with the venv's back-end
        texts += ["pip", *data.get("build-system", {}).get("requires", [])]
    optional = data["project"].get("optional-dependencies", {})
    for extra in extras:
        texts += optional.get(extra, [f"mountlab-unknown-extra-{extra}"])
    return [Requirement(t) for t in texts]


def installed() -> dict[str, metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


def missing(requirements: list[Requirement], dists: dict[str, metadata.Distribution]) -> list[str]:
    """The requirements that nothing installed satisfies, theirs included all the way down (with
    the extras asked for), as pip's resolver would find them."""
    lacking: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[Requirement, str]] = [(r, "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        dist = dists.get(name)
        if dist is None or not req.specifier.contains(dist.version, prereleases=True):
            lacking.append(str(req))
            continue
        for wanted_extra in ("", *req.extras):
            if (name, wanted_extra) not in seen:
                seen.add((name, wanted_extra))
                todo += [(Requirement(r), wanted_extra) for r in dist.requires or []]
    return sorted(set(lacking))


def main(argv: list[str]) -> int:
    build = argv[1:2] == ["--build"]
    args = argv[2:] if build else argv[1:]
    if len(args) != 2:
        print("usage: venv_needs.py [--build] KIT/pyproject.toml EXTRAS", file=sys.stderr)
        return 2
    extras = [e.strip() for e in args[1].split(",") if e.strip()]
    dists = installed()
    requirements = wanted(args[0], extras, build)
    setuptools = dists.get("setuptools")
    if build and setuptools is not None and Version(setuptools.version) < Version("70.1"):
        requirements.append(Requirement("wheel"))  # its bdist_wheel, in setuptools from 70.1
    lacking = missing(requirements, dists)
    for line in lacking:
        print(line)
    return 1 if lacking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
