"""argparse's own words (``usage:``, the section titles, ``-h``'s help, its usage errors) in the
kit's language, from ``argparse.toml`` beside this file.

argparse looks each of its messages up at the moment it writes it, through its module's
``_`` and ``ngettext`` (gettext's functions, bound when argparse is imported; Python 3.10 to
3.13). gettext would need a compiled ``.mo`` catalogue installed for the whole process; the kit
hands argparse a lookup in its own catalogue instead. Call ``speak`` before building a parser:
the section titles and ``-h``'s help are written when a parser is made.
"""

from __future__ import annotations

import argparse
import os

from mountlab.messages import HERE, catalogue

CATALOGUE = os.path.join(HERE, "argparse.toml")


def speak(lang: str) -> None:
    """Make argparse speak ``lang`` in this process; English gives Python's own words back."""
    table = {text["en"]: text[lang] for text in catalogue(CATALOGUE).texts.values()
             if lang != "en" and lang in text}

    def gettext(message: str) -> str:
        return table.get(message, message)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    argparse._ = gettext  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]
