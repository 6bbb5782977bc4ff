"""Images for ``./container``: the root filesystems containers start from.

    store.py        where images live, image.json, staging and publishing, removal
    busybox.py      image build busybox: offline, from the host's busybox-static
    debootstrap.py  image build debian|ubuntu: debootstrap --variant=minbase
    tar_import.py   image import NAME FILE.tar: the output of docker export
    progress.py     the progress bar (rich) or plain lines of a long build
    cli.py          ./container image build|import|ls|rm

``from mountlab.runtime import images`` gives the public functions of all of them by name
(``images.build_busybox``, ``images.ImageError``...); each module is imported only when one of
its names is first used.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HOME = {
    "ImageError": "store", "validate_name": "store", "image_config": "store",
    "list_images": "store", "remove_image": "store", "remove_tree": "store",
    "build_busybox": "busybox", "ensure_busybox": "busybox", "find_busybox": "busybox",
    "build_debootstrap": "debootstrap", "import_tar": "tar_import", "register": "cli",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
