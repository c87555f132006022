"""The `[n]` an answer cites, checked against the sources it was given: a number that names no source is taken out
of the answer (with the space before it), as the answer is written, so a streamed answer is already clean."""

from __future__ import annotations

import re

MARK = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")
"""A citation: `[2]`, `[1, 3]` or `[1; 3]` (`[1][3]` is two)."""
NUMBER = re.compile(r"\d+")
LONGEST_MARK = 32
"""Characters after a `[` that may still be a citation; a longer run is ordinary text."""
INSIDE = frozenset("0123456789,; ")


class Citations:
    """Checks an answer's citations as it is written: `feed` each piece, then `close`; what they return is the
    answer with every number that names none of `count` sources removed."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.cited: list[int] = []  # the valid numbers, in the order first cited
        self.invalid: list[int] = []  # the numbers removed
        self._mark = ""  # a `[` and what followed it, until it is known to be a citation or not
        self._space = ""  # whitespace held back: a removed citation takes the space before it too

    def feed(self, piece: str) -> str:
        out: list[str] = []
        for char in piece:
            out.append(self._char(char))
        return "".join(out)

    def close(self) -> str:
        """What is still held back, at the end of the answer."""
        held, self._mark, self._space = self._space + self._mark, "", ""
        return held

    def _char(self, char: str) -> str:
        if self._mark:
            if char == "]":
                mark, self._mark = self._mark + char, ""
                return self._checked(mark)
            if char in INSIDE and len(self._mark) < LONGEST_MARK:
                self._mark += char
                return ""
            text, self._mark, self._space = self._space + self._mark, "", ""  # not a citation: given back
            return text + self._char(char)
        if char == "[":
            self._mark = char
            return ""
        if char.isspace():
            self._space += char
            return ""
        text, self._space = self._space + char, ""
        return text

    def _checked(self, mark: str) -> str:
        space, self._space = self._space, ""
        if not MARK.fullmatch(mark):
            return space + mark
        numbers = [int(number) for number in NUMBER.findall(mark)]
        kept = [number for number in numbers if 1 <= number <= self.count]
        self.invalid += [number for number in numbers if number not in kept]
        self.cited += [number for number in kept if number not in self.cited]
        if not kept:
            return ""
        return space + ("[" + ", ".join(str(number) for number in dict.fromkeys(kept)) + "]")


def checked(answer: str, count: int) -> tuple[str, Citations]:
    """`answer` with the citations of no source removed, and what it cites."""
    citations = Citations(count)
    text = citations.feed(answer) + citations.close()
    return text, citations
