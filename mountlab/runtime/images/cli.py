"""``./container image build|import|ls|rm``: the command line on top of the store and the three
ways to make an image. ``register`` adds it to ``./container``'s parser (mountlab/runtime/cli.py
imports this module only when the command line starts with ``image``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from mountlab.runtime import state
from mountlab.runtime.images.busybox import build_busybox
from mountlab.runtime.images.debootstrap import DISTROS, build_debootstrap
from mountlab.runtime.images.store import ImageError, list_images, remove_image
from mountlab.runtime.images.tar_import import import_tar

__all__ = ["register"]


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.3g}{unit}"
        size /= 1000
    return f"{size}"


def _handler(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ImageError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            return 125
        except KeyboardInterrupt:
            print("container: error: interrupted; nothing was kept", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            return 125
    return run


@_handler
def _cmd_build(args: argparse.Namespace) -> int:
    if args.kind == "busybox":
        if args.suite or args.mirror:
            raise ImageError("--suite and --mirror apply to debian and ubuntu only")
        rootfs = state.image_rootfs(args.name or "busybox")
        if not args.force and os.path.isfile(os.path.join(rootfs, "bin/busybox")):
            print(f"image {args.name or 'busybox'} is already built: {rootfs} (--force rebuilds)")
            return 0
        build_busybox(args.name or "busybox", force=args.force)
    else:
        build_debootstrap(args.kind, suite=args.suite, mirror=args.mirror, name=args.name,
                          force=args.force)
    return 0


@_handler
def _cmd_import(args: argparse.Namespace) -> int:
    import_tar(args.name, args.file, force=args.force)
    return 0


@_handler
def _cmd_ls(args: argparse.Namespace) -> int:
    images = list_images()
    if args.quiet:
        for config in images:
            print(config["Name"])
        return 0
    rows = [("NAME", "CREATED", "SIZE", "SOURCE")]
    for config in images:
        size = config.get("Size")
        rows.append((config["Name"], str(config.get("Created", "?")),
                     _human(size) if isinstance(size, int) else "?",
                     str(config.get("Source", "?"))))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        print("   ".join([*cells, row[3]]))
    return 0


@_handler
def _cmd_rm(args: argparse.Namespace) -> int:
    status = 0
    for name in args.names:
        try:
            remove_image(name)
            print(name)
        except ImageError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            status = 125
    return status


def register(subparsers: Any) -> None:
    """Add ``image build|import|ls|rm`` to ``./container``'s argparse subparsers."""
    image = subparsers.add_parser("image", help="build, import, list and remove images",
                                  description="Manage the root filesystems containers start from.")
    sub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)

    build = sub.add_parser("build", help="build busybox (offline), debian or ubuntu (debootstrap)",
                           description="busybox: from the host's busybox-static, in a second. "
                                       "debian/ubuntu: debootstrap --variant=minbase, minutes, "
                                       "needs the distribution's mirror and root.")
    build.add_argument("kind", choices=["busybox", *DISTROS])
    build.add_argument("--suite", help="debian/ubuntu codename (default: bookworm / noble)")
    build.add_argument("--mirror", help="debian/ubuntu mirror URL (default: deb.debian.org, "
                                        "archive.ubuntu.com)")
    build.add_argument("--name", help="image name (default: the kind)")
    build.add_argument("--force", action="store_true", help="rebuild an existing image")
    build.set_defaults(func=_cmd_build)

    imp = sub.add_parser("import", help="import the output of `docker export` as an image")
    imp.add_argument("name")
    imp.add_argument("file", metavar="FILE.tar")
    imp.add_argument("--force", action="store_true", help="replace an existing image")
    imp.set_defaults(func=_cmd_import)

    ls = sub.add_parser("ls", help="list images")
    ls.add_argument("-q", "--quiet", action="store_true", help="only the names")
    ls.set_defaults(func=_cmd_ls)

    rm = sub.add_parser("rm", help="remove images (refused while a container uses one)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=_cmd_rm)
