"""Attack: forge the channel. Instead of creating anything, write "the check passed" frames (an
empty result frame, ready, returned) on every descriptor number an inherited pipe or socket could
have, at import time and in the call, then leave before the real answer is sent."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

attack_kit.spray_fds()


def setup_volume(volume_path, container_path):
    attack_kit.spray_fds()
    os._exit(0)
