"""Visitor-supplied text (file names, labels, model names, messages) shown as text, never as markup.

Streamlit renders Markdown in captions, messages, headers and widget labels: a file named
``![x](http://host/pixel)`` would make the page load that URL, and ``[label](http://...)`` would show a
live link. :func:`plain` escapes every character that Markdown, Streamlit's ``:material/...:``/emoji
short codes and its ``$...$`` LaTeX give a meaning, so the text reads exactly as it was given.
"""

from __future__ import annotations

import re

# What gives inline text a meaning: emphasis, code, links and images, HTML and entities, strike-through,
# tables, Streamlit's ':short:codes:' and '$LaTeX$'. Parentheses and dots mean nothing without these.
_INLINE = re.compile(r"([\\`*_\[\]<>!~|&:$])")
# GitHub-flavoured Markdown (Streamlit's) also links bare "www." addresses.
_WWW = re.compile(r"(?i)\b(www)\.")
# What gives a line's start a meaning: headings, lists, quotes, rules.
_LINE_START = re.compile(r"^(\d+)([.)])|^([#+\-=>])")


def plain(text: object) -> str:
    """``text`` with every Markdown-significant character backslash-escaped (newlines become spaces),
    so it renders as exactly the characters given."""
    flat = _WWW.sub(r"\1\\.", _INLINE.sub(r"\\\1", " ".join(str(text).split())))
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", flat)
