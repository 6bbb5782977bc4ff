"""Attack: a 10 MB return value (and a 10 MB repr for what JSON cannot carry)."""


class Huge:
    def __repr__(self):
        return "r" * (10 << 20)


def parse_volume_spec(spec):
    if len(spec) % 2:
        return Huge()
    return "v" * (10 << 20)
