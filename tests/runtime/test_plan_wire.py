"""The run plan crosses from the runtime to the keeper as plain JSON (mountlab/runtime/plan.py)."""

from __future__ import annotations

import json
import os

import pytest

from mountlab.runtime import plan as plans
from mountlab.runtime.spec import Tmpfs
from mountlab.volume import Volume


class _Path(str):
    """A step may return str subclasses; they travel as plain strings."""


def _plan() -> dict:
    odd = os.fsdecode(b"/srv/caf\xe9 \"x\"\\\n")  # undecodable byte, quote, backslash, newline
    return {
        "cid": "c" * 64, "lower": "/images/busybox/rootfs", "layer": "/run/c/fs",
        "merged": "/run/c/fs/rootfs", "tty": None, "hostname": "h\u00e9",
        "command": ["sh", "-c", "echo é"],
        "env": {"PATH": plans.DEFAULT_PATH, "HOME": "/root"},
        "image": "not sent", "record": {"not": "sent"},
        "ordered": [Volume(odd, "/data", True, "bind", "rshared", "ro,rshared"),
                    Volume("named", _Path("/named"), False, "volume", "", ""),
                    Tmpfs("/t", read_only=True, size=1 << 20, mode=0o1777),
                    Tmpfs("/u")],
    }


def test_the_plan_is_one_line_of_json():
    data = plans.to_json(_plan())
    assert b"\n" not in data
    wire = json.loads(data)  # plain data: any JSON reader takes it
    assert set(wire) == {"cid", "lower", "layer", "merged", "tty", "hostname", "command", "env",
                         "ordered"}
    assert wire["ordered"][2] == {"tmpfs": ["/t", True, 1 << 20, 0o1777]}


def test_the_keeper_gets_the_same_plan_back():
    sent = _plan()
    got = plans.from_json(plans.to_json(sent))
    for key in ("cid", "lower", "layer", "merged", "tty", "hostname", "command", "env"):
        assert got[key] == sent[key], key
    volumes, tmpfs = got["ordered"][:2], got["ordered"][2:]
    assert all(type(v) is Volume for v in volumes)
    assert volumes == sent["ordered"][:2]
    assert os.fsencode(volumes[0].source) == b"/srv/caf\xe9 \"x\"\\\n"
    assert [type(t) for t in tmpfs] == [Tmpfs, Tmpfs]
    assert [(t.target, t.read_only, t.size, t.mode) for t in tmpfs] == [
        ("/t", True, 1 << 20, 0o1777), ("/u", False, None, None)]
    assert tmpfs[0].options() == "size=1048576,mode=1777"


def test_the_keeper_refuses_what_is_not_a_whole_plain_json_plan():
    whole = plans.to_json(_plan())
    for bad in (whole[:-1], whole + b" {}", whole.replace(b'"tty":null', b'"tty":NaN')):
        with pytest.raises(ValueError):
            plans.from_json(bad)
