"""Dockerfile word handling: splitting on unquoted blanks, quote removal, $VAR expansion."""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_words(text: str, escape: str = "\\") -> list[str]:
    """parseWords: split on unquoted whitespace, keeping the quotes in the words."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
            if ch in "'\"":
                quote = ch
            elif ch == escape and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def _lookup(env: list[str], name: str) -> str | None:
    for item in reversed(env):
        key, sep, value = item.partition("=")
        if key == name:
            return value if sep else ""
    return None


def _expand_var(text: str, i: int, env: list[str]) -> tuple[str, int]:
    """Expand the variable starting after the `$` at text[i]; return (value, next index)."""
    if i < len(text) and text[i] == "{":
        end = text.find("}", i)
        if end < 0:
            raise ValueError("missing '}' in substitution")
        body = text[i + 1:end]
        m = _NAME_RE.match(body)
        if not m:
            raise ValueError(f"bad substitution: ${{{body}}}")
        name, rest = m.group(0), body[m.end():]
        value = _lookup(env, name)
        if rest.startswith(":-"):
            value = value if value else process_word(rest[2:], env)
        elif rest.startswith(":+"):
            value = process_word(rest[2:], env) if value else ""
        elif rest.startswith("-"):
            value = value if value is not None else process_word(rest[1:], env)
        elif rest.startswith("+"):
            value = process_word(rest[1:], env) if value is not None else ""
        elif rest:
            raise ValueError(f"unsupported modifier ({rest[:1]}) in substitution")
        return value or "", end + 1
    m = _NAME_RE.match(text, i)
    if not m:
        return "$", i
    return _lookup(env, m.group(0)) or "", m.end()


def process_word(word: str, env: list[str], escape: str = "\\") -> str:
    """Quote removal and variable expansion of one word (shell-like)."""
    out: list[str] = []
    i = 0
    while i < len(word):
        ch = word[i]
        if ch == "'":
            end = word.find("'", i + 1)
            end = len(word) if end < 0 else end
            out.append(word[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while i < len(word) and word[i] != '"':
                c = word[i]
                if c == escape and i + 1 < len(word) and word[i + 1] in '"$' + escape:
                    out.append(word[i + 1])
                    i += 2
                elif c == "$":
                    value, i = _expand_var(word, i + 1, env)
                    out.append(value)
                else:
                    out.append(c)
                    i += 1
            i += 1
        elif ch == escape and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif ch == "$":
            value, i = _expand_var(word, i + 1, env)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def process_words(text: str, env: list[str]) -> list[str]:
    """Split then process: `EXPOSE $PORTS` with PORTS="80 443" gives two words."""
    out: list[str] = []
    for word in split_words(text):
        expanded = process_word(word, env)
        if word.startswith(("'", '"')):
            out.append(expanded)
        else:
            out.extend(expanded.split())
    return out
