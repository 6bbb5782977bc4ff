"""Attack: endless output: print forever."""


def setup_volume(volume_path, container_path):
    line = "flood " * 200
    while True:
        print(line)
