"""`.dockerignore` patterns with Docker's rules (moby/patternmatcher).

Each line is a pattern, cleaned like a path (a leading `/` is dropped);
`!` makes it an exception; `*` and `?` stay inside one path element, `**`
matches any number of elements. A pattern that matches a directory matches
everything below it. The last matching pattern decides.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def read_patterns(data: str) -> list[str]:
    """ignorefile.ReadAll: comments and blank lines dropped, each line cleaned."""
    out: list[str] = []
    for line in data.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = os.path.normpath(line).lstrip("/") or "/"
            if line == ".":
                line = ""
        out.append(("!" if invert else "") + line)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                # `**/` also matches no directory at all
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                    out.append("(.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class Matcher:
    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for text in patterns:
            exclusion = text.startswith("!")
            body = text[1:] if exclusion else text
            if not body:
                continue
            self.patterns.append(Pattern(body, exclusion, _compile(body)))

    def excluded(self, path: str) -> bool:
        """Whether the context-relative `path` (slash separated) is left out."""
        parents = []
        parts = path.split("/")
        for n in range(1, len(parts)):
            parents.append("/".join(parts[:n]))
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue  # only a pattern that can change the outcome matters
            hit = bool(pat.regex.match(path)) or any(pat.regex.match(p) for p in parents)
            if hit:
                matched = not pat.exclusion
        return matched

    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)
