"""The words of the class report (``html_report``): ``mountlab/messages/classreport.toml``, English
and French side by side."""

from __future__ import annotations

from mountlab.messages import say


def t(key: str, lang: str, **values: object) -> str:
    return say(f"classreport.{key}", lang, **values)
