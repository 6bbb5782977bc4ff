"""Which language the kit speaks: ``--lang en|fr``, then ``MOUNTLAB_LANG``, then the locale.

The locale is read the POSIX way: the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is
set decides (``fr_FR.UTF-8``, ``fr_CA``, ``fr`` are French; anything else is English). A command
that chose a language writes it to ``MOUNTLAB_LANG`` (``use``), so that the pytest runs, graders
and checker processes it starts speak the same one. Standard library only, and cheap to import:
``./container`` reads it on its way to an error message.
"""

from __future__ import annotations

import os

LANGS = ("en", "fr")
DEFAULT = "en"
ENV = "MOUNTLAB_LANG"
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def normalise(value: str | None) -> str | None:
    """``fr_FR.UTF-8`` -> ``fr``; None for an empty value or a language the kit does not speak
    (``C``, ``POSIX``, ``de_DE``)."""
    if not value:
        return None
    code = value.strip().lower().replace("-", "_").split(".", 1)[0].split("_", 1)[0]
    return code if code in LANGS else None


def from_locale(environ: dict[str, str] | None = None) -> str:
    """The locale's language: the first of LC_ALL, LC_MESSAGES, LANG that is set decides."""
    env = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = env.get(name, "")
        if value:
            return normalise(value) or DEFAULT
    return DEFAULT


def current(choice: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: ``choice`` (a ``--lang`` option) when given, then
    ``MOUNTLAB_LANG``, then the locale."""
    env = os.environ if environ is None else environ
    return normalise(choice) or normalise(env.get(ENV)) or from_locale(env)


def use(choice: str | None = None) -> str:
    """Decide the language as ``current`` does and hand it down to every process started from
    now on (``MOUNTLAB_LANG``); returns it."""
    chosen = current(choice)
    os.environ[ENV] = chosen
    return chosen
