"""Which language the kit speaks: ``--lang en|fr``, then ``MOUNTLAB_LANG``, then the locale.

The locale is read the POSIX way: the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is
set decides (``fr_FR.UTF-8``, ``fr_CA``, ``fr`` are French; anything else is English).

A program decides once (``use``, from its ``--lang`` option): that choice is what
``mountlab.messages`` speaks in this process and in the processes it forks (the checks' checker
processes); ``use(..., export=True)`` also writes it to ``MOUNTLAB_LANG`` for the programs it
starts (``./workshop`` and its pytest runs). Standard library only, and cheap to import:
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


_chosen: str | None = None  # what this program decided (``use``), None until it does


def current(choice: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: ``choice`` (a ``--lang`` option) when given, then
    ``MOUNTLAB_LANG``, then the locale."""
    env = os.environ if environ is None else environ
    return normalise(choice) or normalise(env.get(ENV)) or from_locale(env)


def chosen(choice: str | None = None) -> str:
    """``choice`` when given, else what this program decided (``use``), else ``current()``."""
    return normalise(choice) or _chosen or current()


def use(choice: str | None = None, export: bool = False) -> str:
    """Decide this program's language as ``current`` does; with ``export``, hand it down to the
    programs it starts (``MOUNTLAB_LANG``). Returns it."""
    global _chosen
    _chosen = current(choice)
    if export:
        os.environ[ENV] = _chosen
    return _chosen
