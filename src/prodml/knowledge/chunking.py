"""Split normalised text into overlapping chunks, each a ``[start, end)`` span of that text.

A chunk is never copied or rewritten: its text is ``text[start:end]``, so a citation's offsets can always be
checked against the normalised document. Cuts prefer a paragraph break, then a line break, then a sentence
end, then a space, in the second half of the window.
"""

from __future__ import annotations

from dataclasses import dataclass

_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", " ")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def chunk_spans(text: str, size: int, overlap: int) -> list[Span]:
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"chunk size {size} and overlap {overlap}: need size > 0 and 0 <= overlap < size")
    spans: list[Span] = []
    n = len(text)
    start = _skip_space(text, 0)
    while start < n:
        end = min(start + size, n)
        if end < n:
            floor = start + size // 2
            for mark in _BREAKS:
                cut = text.rfind(mark, floor, end)
                if cut != -1:
                    end = cut + len(mark)
                    break
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        if stop > start:
            spans.append(Span(start, stop))
        if end >= n:
            break
        # Step back by the overlap, then forward to the start of a word.
        following = max(end - overlap, start + 1)
        while following < end and not text[following - 1].isspace():
            following += 1
        start = _skip_space(text, following)
    return spans


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at
