"""Matching articles against tracked events and watch rules. Pure and fast; no I/O.

Text is NFKC-normalised and cut into words; each distinct word is folded once (accents stripped,
case-folded, possessives and apostrophes dropped) and looked up in an index of the words of every
term of every event and rule: exact words, ``word*`` prefixes, and spelling variants found by
rapidfuzz (same first letter, ratio at or above the term's threshold, so "putting" is not
"Putin"). What a word can start or continue is computed once and cached, so an article costs a
few set operations over its byte chunks until its words can satisfy every requirement of the
tracked event; only then are its words walked, the rules' patterns only once the event matched,
and only the rules that got a hit are evaluated. Cost grows with the article's words and the hits
it gets, not with the number of rules.

Groups may ask for proximity (``near``/``within``) and vetoes may be lifted (``unless``); see
:mod:`monitor.rules`. Every hit keeps its field and word positions; the hits that decide a match
become :class:`~monitor.models.Evidence` with character offsets in the original text.

The parts, one idea each:

- :mod:`~monitor.matching.text`: normalisation, words, folding, byte chunks;
- :mod:`~monitor.matching.index`: term spellings as patterns, and the index of their words;
- :mod:`~monitor.matching.words`: the cache of what each word seen can start or continue;
- :mod:`~monitor.matching.gate`: the quick dismissal of articles no event can match;
- :mod:`~monitor.matching.hits`: hits, and how a match block decides on them;
- :mod:`~monitor.matching.evidence`: hits turned into evidence with character offsets;
- :mod:`~monitor.matching.results`: :class:`MatchResult` and :class:`RuleHit`;
- :mod:`~monitor.matching.matcher`: :class:`Matcher`, which puts them together.
"""

from monitor.matching.index import DEFAULT_FUZZY, EXACT_BELOW_LENGTH, LONG_WORD, SHORT_FUZZY
from monitor.matching.matcher import Matcher
from monitor.matching.results import MatchResult, RuleHit
from monitor.matching.text import Token, fold, tokenize
from monitor.matching.words import FIELDS, WORD_CACHE_SIZE

__all__ = [
    "DEFAULT_FUZZY",
    "EXACT_BELOW_LENGTH",
    "FIELDS",
    "LONG_WORD",
    "SHORT_FUZZY",
    "WORD_CACHE_SIZE",
    "MatchResult",
    "Matcher",
    "RuleHit",
    "Token",
    "fold",
    "tokenize",
]
