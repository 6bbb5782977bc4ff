"""Tell English from French in what the kit prints, line by line, by counting stop words.

A line is English when, once code is set aside, it holds at least two words that only English
uses and more of them than French ones; a short line with one English word and no French one is
English too. What is not the kit's prose is set aside first: paths, commands and their
arguments, identifiers (``read_only``, ``MS_BIND``, ``os.rmdir()``), errno names, an error shown
as it was raised (``[Errno N] ...`` to the end of the line: the OS's words and paths), quoted
text (a spec, a repr, Docker's own words), and what the learner's code said (after ``votre code
a levé X :``).

``python -m tests.language FILE...`` prints the English lines of the files and their count (the
measure of the kit's French, before and after a change).
"""

from __future__ import annotations

import re
import sys

# Words that only English uses (neither French words nor Python's): one of them in a French
# sentence means English was left in it.
ENGLISH = {
    "the", "and", "with", "when", "which", "you", "your", "then", "before", "after", "only",
    "this", "that", "from", "into", "must", "should", "each", "every", "what", "does", "are",
    "is", "of", "to", "it", "be", "by", "for", "not", "an", "or", "if", "at", "its", "was", "has",
    "have", "there", "their", "than", "but", "will", "once", "how", "why", "it's", "don't",
    "can't", "isn't", "in", "no", "all", "any", "can", "cannot", "could", "would", "were",
    "been", "did", "done", "do", "these", "those", "here", "also", "still", "again", "first",
    "next", "read", "write", "run", "step", "check", "checks", "failed", "passed", "missing",
    "created", "stuck", "full", "nothing", "something", "where", "who", "while", "until",
    "without", "because", "so", "yet", "some", "other", "same", "both", "more", "most", "less",
    "mounted", "unmounted", "file", "files", "folder", "directory", "found", "given", "points",
}
# "points" is French too, but never alone: it is set aside in lines that count it (see below).
FRENCH = {
    "le", "la", "les", "de", "des", "du", "un", "une", "et", "est", "pour", "avec", "sur", "dans",
    "que", "qui", "puis", "ou", "à", "ce", "sans", "pas", "ne", "se", "sa", "son", "ses", "au",
    "aux", "en", "il", "elle", "vous", "votre", "vos", "si", "quand", "plus", "tout", "tous",
    "cette", "sont", "par", "d'abord", "n'est", "a", "été", "être", "fait", "encore", "toujours",
    "aucun", "aucune", "étape", "test", "tests", "lire", "bloqué", "ensuite", "pourquoi",
    "critique", "majeur", "mineur", "rien", "là", "où", "comme", "mais", "leur", "leurs", "y",
}
SHARED = {"points", "test", "tests", "a"}  # words both languages write: they decide nothing

_COMMAND = re.compile(r"(?:\./workshop|\./container|\bpytest|\bsudo|\bgit|\bpython3?)"
                      r"(?: +[-\w./#:=\[\]]+)*")
_ERRNO = re.compile(r"\[Errno \d+\] .*")  # an OSError as str(): the OS's words, then paths
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|«[^»]*»")
# The learner's exception and its message; StepImportError's message is the kit's (impl.toml).
_LEARNER = re.compile(r"(votre code a levé|your code raised) (?!StepImportError)([\w.]+)( :|:)? .*")
_CODE = re.compile(r"\S*[()_=/\\\[\]{}|<>*#@$]\S*|\b[A-Z][A-Z0-9_]{2,}\b|\S*\.\w+\S*"
                   r"|\b\w*[A-Z]\w*[a-z]+[A-Z]\w*\b")
_WORD = re.compile(r"[a-zà-ÿœ]+(?:'[a-zà-ÿœ]+)?")


def prose_words(line: str) -> list[str]:
    """The words of ``line`` that are the kit's prose (lower case), code and quotes set aside."""
    line = _LEARNER.sub(r"\1 \2", line)
    for pattern in (_COMMAND, _ERRNO, _QUOTED, _CODE):
        line = pattern.sub(" ", line)
    return _WORD.findall(line.lower())


def counts(line: str) -> tuple[int, int]:
    """(English stop words, French stop words) of one line."""
    words = [w for w in prose_words(line) if w not in SHARED]
    return sum(w in ENGLISH for w in words), sum(w in FRENCH for w in words)


def is_english(line: str) -> bool:
    english, french = counts(line)
    return (english >= 2 and english > french) or (english == 1 and french == 0)


def english_lines(text: str) -> list[str]:
    """The lines of ``text`` that are English."""
    return [line for line in text.splitlines() if is_english(line)]


def main(paths: list[str]) -> int:
    total = english = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        found = [line for line in lines if is_english(line)]
        total, english = total + len(lines), english + len(found)
        for line in found:
            print(f"{path}: {line.strip()}")
    print(f"{english} of {total} lines are English")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
