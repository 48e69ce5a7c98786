"""Split a SQL script into statements: on ``;`` outside quotes, comments and dollar-quoted bodies.

Pure. Needed wherever a script cannot be sent as one string: the Redshift Data API runs one statement per call,
and the runner names the failing statement (file, line) on both dialects. Understands what the versioned files
use: ``'...'`` strings (``''`` doubled quotes, ``E'..\\'..'`` escapes), ``"..."`` identifiers, ``-- line`` and
``/* block */`` comments (nested, as PostgreSQL allows) and ``$$ ... $$`` / ``$tag$ ... $tag$`` bodies of stored
procedures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from common.errors import ConfigError

_DOLLAR_TAG: Final = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_TRANSACTION_CONTROL: Final = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\s*(TRANSACTION|WORK)?\s*$", re.IGNORECASE
)


class SqlSplitError(ConfigError):
    """A script ends inside a string, identifier, comment or dollar-quoted body."""


@dataclass(frozen=True)
class Statement:
    """One statement without its terminating ``;`` and the 1-based line where its code starts."""

    text: str
    line: int

    @property
    def summary(self) -> str:
        """The first line of the statement, shortened: enough to recognise it in an error message."""
        first = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return first if len(first) <= 80 else first[:77] + "..."

    @property
    def is_transaction_control(self) -> bool:
        """BEGIN / COMMIT / ROLLBACK and friends (the runner owns transactions, scripts must not)."""
        return _TRANSACTION_CONTROL.match(_strip_comments(self.text)) is not None


def split_statements(script: str, *, name: str = "<sql>") -> list[Statement]:
    """The statements of ``script`` in order; comment-only pieces are dropped."""
    statements: list[Statement] = []
    length = len(script)
    index = 0
    start: int | None = None  # offset of the first code character of the current statement

    def finish(end: int) -> None:
        nonlocal start
        if start is not None:
            text = script[start:end].rstrip()
            statements.append(Statement(text, script.count("\n", 0, start) + 1))
        start = None

    while index < length:
        char = script[index]
        pair = script[index : index + 2]
        if pair == "--":
            newline = script.find("\n", index)
            index = length if newline < 0 else newline + 1
            continue
        if pair == "/*":
            index = _skip_block_comment(script, index, name)
            continue
        if char == ";":
            finish(index)
            index += 1
            continue
        if char.isspace():
            index += 1
            continue
        if start is None:
            start = index
        index = _skip_code(script, index, name)
    finish(length)
    return statements


def _skip_code(script: str, index: int, name: str) -> int:
    """The offset after the code token at ``index``: a whole string, quoted identifier or dollar body, else one
    character."""
    char = script[index]
    if char == "'":
        escapes = index > 0 and script[index - 1] in "eE" and not _is_word(script, index - 2)
        return _skip_quoted(script, index, "'", name, backslash_escapes=escapes)
    if char == '"':
        return _skip_quoted(script, index, '"', name, backslash_escapes=False)
    if char == "$" and not _is_word(script, index - 1):
        tag = _DOLLAR_TAG.match(script, index)
        if tag is not None:
            close = script.find(tag.group(0), tag.end())
            if close < 0:
                raise SqlSplitError(f"{name}:{_line(script, index)}: dollar-quoted body {tag.group(0)} is never closed")
            return close + len(tag.group(0))
    return index + 1


def _is_word(script: str, index: int) -> bool:
    """Whether the character at ``index`` belongs to an identifier (so ``$`` there is not a dollar quote)."""
    return index >= 0 and (script[index].isalnum() or script[index] in "_$")


def _skip_quoted(script: str, index: int, quote: str, name: str, *, backslash_escapes: bool) -> int:
    position = index + 1
    while position < len(script):
        char = script[position]
        if backslash_escapes and char == "\\":
            position += 2
            continue
        if char == quote:
            if script[position + 1 : position + 2] == quote:  # a doubled quote stands for itself
                position += 2
                continue
            return position + 1
        position += 1
    what = "string" if quote == "'" else "quoted identifier"
    raise SqlSplitError(f"{name}:{_line(script, index)}: {what} starting here is never closed")


def _skip_block_comment(script: str, index: int, name: str) -> int:
    depth = 0
    position = index
    while position < len(script):
        pair = script[position : position + 2]
        if pair == "/*":
            depth += 1
            position += 2
        elif pair == "*/":
            depth -= 1
            position += 2
            if depth == 0:
                return position
        else:
            position += 1
    raise SqlSplitError(f"{name}:{_line(script, index)}: block comment starting here is never closed")


def _line(script: str, index: int) -> int:
    return script.count("\n", 0, index) + 1


def _strip_comments(text: str) -> str:
    without_line = re.sub(r"--[^\n]*", " ", text)
    return re.sub(r"/\*.*?\*/", " ", without_line, flags=re.DOTALL)
