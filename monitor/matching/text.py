"""Text as the matcher sees it: NFKC-normalised, cut into words, each word folded.

A field's text is normalised once (:class:`NormalText`), keeping the way back to the original's
character offsets for evidence. Words are runs of letters and digits, joined by apostrophes
(``WORD``); :func:`words` cuts them mostly in C, from the text with its typographic marks made
ASCII (:func:`plain`); :func:`fold` strips accents, case, possessives and apostrophes.
:func:`chunks` is the quick look at an article used before any of that: its UTF-8 bytes, ASCII
lowered and cut at ASCII separators, in C.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from typing import NamedTuple

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# The quick look at an article: UTF-8 bytes, ASCII lowered, ASCII separators (never inside a
# word: everything but letters, digits and the apostrophe) turned into spaces, then split. Each
# chunk holds whole words of WORD, so a chunk's words tell what it can start.
_CHUNK_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if c >= 128 or c == 39 or chr(c).isalnum() else 32
    for c in range(256)
)
_SEPARATORS = bytes(c if c >= 128 or c == 39 or chr(c).isalnum() else 32 for c in range(256))
_ASCII_WORDS = bytes(c if c < 128 and (c == 39 or chr(c).isalnum()) else 32 for c in range(256))
# Typographic marks news text is full of, each replaced by one ASCII character that cuts words the
# same way: the curly apostrophe joins words like the straight one, quotes and dashes separate.
_TYPOGRAPHY = (("’", "'"), *((mark, " ") for mark in "‘“”„«»‐‑–—"))
# Distinct words whose folded form is remembered. News vocabulary repeats, and the story profile
# of every matched article folds each of its words (monitor/stories.py); the common words of the
# matched articles fit many times over. An entry is a few hundred bytes.
FOLD_CACHE_SIZE = 16_384


@lru_cache(maxsize=FOLD_CACHE_SIZE)
def fold(word: str) -> str:
    """One word as the matcher sees it: no accents, no case, no possessive, no apostrophes.
    Pure, so remembered for the most recent ``FOLD_CACHE_SIZE`` distinct words."""
    word = _POSSESSIVE.sub("", word)
    if not word.isascii():
        word = unicodedata.normalize("NFKD", word)
        word = "".join(c for c in word if not unicodedata.combining(c))
        word = word.replace("’", "")
    return word.replace("'", "").casefold()


def chunks(title: str, summary: str) -> list[bytes]:
    """An article's chunks (see ``_CHUNK_TABLE``): each holds one or more whole words, lowered."""
    text = f"{title}\n{summary}"
    try:
        raw = text.encode()  # the common case, a little faster without an error handler
    except UnicodeEncodeError:  # a lone surrogate (JSON can carry one)
        raw = text.encode(errors="surrogatepass")
    return raw.translate(_CHUNK_TABLE).split()


def chunk_words(chunk: bytes) -> set[str]:
    """The words (as ``WORD`` cuts them from the normalised text) that one chunk holds."""
    return set(WORD.findall(NormalText.of(chunk.decode("utf-8", "replace")).norm))


def plain(norm: str) -> str:
    """Normalised text with its typographic apostrophes, quotes and dashes made ASCII: the same
    length, the same words at the same places (a curly apostrophe becomes a straight one)."""
    if norm.isascii():
        return norm
    for mark, ascii_mark in _TYPOGRAPHY:
        norm = norm.replace(mark, ascii_mark)
    return norm


def words(text: str) -> list[str]:
    """``WORD.findall(text)``, with the regex only where it is needed. ASCII separators (all but
    letters, digits and the apostrophe) never stand inside a word, so the text is cut at them in
    C; in plain ASCII text each piece is a word unless an apostrophe stands at its edge. Elsewhere
    a piece made only of letters and digits is one word, and only the others go through the
    regex."""
    if text.isascii():
        cut = text.encode().translate(_ASCII_WORDS).decode()
        if "'" in cut and (
            " '" in cut or "' " in cut or "''" in cut or cut[0] == "'" or cut[-1] == "'"
        ):
            return WORD.findall(text)
        return cut.split()
    pieces = text.encode(errors="surrogatepass").translate(_SEPARATORS)
    found: list[str] = []
    for piece in pieces.decode(errors="surrogatepass").split():
        if piece.isalnum():
            found.append(piece)
        else:
            found += WORD.findall(piece)
    return found


class Token(NamedTuple):
    """A folded word and its character span in the original text."""

    word: str
    start: int
    end: int


_token = tuple.__new__  # a Token from a tuple, without NamedTuple's Python-level __new__


class NormalText:
    """A field's text in NFKC form, with the way back to the original's character offsets."""

    __slots__ = ("_at", "_segments", "norm", "original", "plain")

    def __init__(
        self,
        original: str,
        norm: str,
        segments: list[tuple[int, int, bool]] | None = None,
        at: list[int] | None = None,
    ):
        self.original = original
        self.norm = norm
        self.plain = plain(norm)  # what words are cut from (see plain())
        # Where the text changed: per segment of the normalised text (starting at ``at``), the
        # original span it came from and whether it is an unchanged stretch.
        self._segments = segments
        self._at = at

    @property
    def exact(self) -> bool:
        """Whether the normalised text is the original (every offset is the same in both)."""
        return self._segments is None

    @classmethod
    def of(cls, text: str) -> NormalText:
        if text.isascii() or unicodedata.is_normalized("NFKC", text):
            return cls(text, text)
        # ASCII runs are already normal; normalise each other character with its combining marks
        # (and the base character before them), so every offset maps back exactly.
        pieces: list[str] = []
        segments: list[tuple[int, int, bool]] = []
        at: list[int] = []
        length = 0

        def add(piece: str, start: int, end: int, same: bool) -> None:
            nonlocal length
            if piece:
                pieces.append(piece)
                segments.append((start, end, same))
                at.append(length)
                length += len(piece)

        done = 0
        for run in _NON_ASCII.finditer(text):
            begin = run.start()
            if begin > done and unicodedata.combining(text[begin]):
                begin -= 1
            add(text[done:begin], done, begin, True)
            segment = begin
            for i in range(begin + 1, run.end() + 1):
                if i == run.end() or not unicodedata.combining(text[i]):
                    add(unicodedata.normalize("NFKC", text[segment:i]), segment, i, False)
                    segment = i
            done = run.end()
        add(text[done:], done, len(text), True)
        return cls(text, "".join(pieces), segments, at)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the normalised span [start, end)."""
        if self._segments is None:
            return start, end
        return self._original(start)[0], self._original(end - 1)[1]

    def _original(self, index: int) -> tuple[int, int]:
        """The original span of the normalised character at ``index``."""
        assert self._segments is not None and self._at is not None
        number = bisect_right(self._at, index) - 1
        start, end, same = self._segments[number]
        if same:
            start += index - self._at[number]
            return start, start + 1
        return start, end


def tokenize(text: str) -> list[Token]:
    """Folded word tokens with their character spans in the original text."""
    prepared = NormalText.of(text)
    if prepared.exact:  # most text: the spans are the regex's own
        return [_token(Token, (fold(m[0]), *m.span())) for m in WORD.finditer(prepared.norm)]
    tokens = []
    for m in WORD.finditer(prepared.norm):
        start, end = prepared.span(m.start(), m.end())
        tokens.append(Token(fold(m.group()), start, end))
    return tokens


def folded_words(text: str) -> list[str]:
    """The words of :func:`tokenize`, without their spans."""
    return list(map(fold, WORD.findall(NormalText.of(text).norm)))
