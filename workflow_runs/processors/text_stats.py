"""Text statistics: lines, words, characters and the most frequent words. No network.

The file is read chunk by chunk (`streams.TextChunks`): a word or a `\\r\\n` cut by a chunk's end is
joined with the next chunk, so the counts are those of the whole text. Memory is bounded: a word is
counted under its first `MAX_WORD_CHARS` characters, and the word counter holds at most
`MAX_TRACKED_WORDS` distinct words; past that its rarest half is dropped (lossy counting) and the
output says `top_words_approximate: true` (never for a text of fewer distinct words).
"""

import re
from collections import Counter
from typing import Any

from .registry import ConfigError, Processor, register
from .streams import FileInput, TextChunks

_WORD = re.compile(r"\w+", re.UNICODE)
_WORD_START = re.compile(r"^\w+", re.UNICODE)
# The line breaks `str.splitlines` knows; `\r\n` is one.
_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_BREAK_CHARS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
MAX_WORD_CHARS = 1000
MAX_TRACKED_WORDS = 200_000


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"top_words"}
    if unknown:
        raise ConfigError({key: ["Unknown option."] for key in sorted(unknown)})
    top = config.get("top_words", 5)
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 100:
        raise ConfigError({"top_words": ["An integer from 0 to 100."]})
    return {"top_words": top}


class _WordCounter:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.words = 0
        self.approximate = False

    def add(self, word: str) -> None:
        self.words += 1
        self.counts[word[:MAX_WORD_CHARS].lower()] += 1
        if len(self.counts) > MAX_TRACKED_WORDS:
            self.counts = Counter(dict(self.counts.most_common(MAX_TRACKED_WORDS // 2)))
            self.approximate = True


def process(name: str, source: FileInput, config: dict[str, Any]) -> dict[str, Any]:
    text = TextChunks(source)
    counter = _WordCounter()
    breaks = 0
    partial = ""  # the word the previous chunk ended inside (its first MAX_WORD_CHARS characters)
    last = ""  # the previous chunk's last character
    for chunk in text:
        if partial:
            head = _WORD_START.match(chunk)
            if head:
                partial = (partial + head.group())[:MAX_WORD_CHARS]
                if head.end() == len(chunk):
                    last = chunk[-1]
                    continue
            counter.add(partial)
            partial = ""
            if head:
                chunk = chunk[head.end() :]
        breaks += sum(1 for _ in _BREAK.finditer(chunk)) - (last == "\r" and chunk[0] == "\n")
        previous = None  # one match held back: the chunk's last word may go on in the next chunk
        for match in _WORD.finditer(chunk):
            if previous is not None:
                counter.add(previous.group())
            previous = match
        if previous is not None:
            if previous.end() == len(chunk):
                partial = previous.group()[:MAX_WORD_CHARS]
            else:
                counter.add(previous.group())
        last = chunk[-1]
    if partial:
        counter.add(partial)
    top = int(config.get("top_words", 5))
    output = {
        "lines": breaks + (last != "" and last not in _BREAK_CHARS),
        "words": counter.words,
        "characters": text.characters,
        "bytes": source.bytes_read,
        "top_words": [[word, count] for word, count in counter.counts.most_common(top)],
    }
    if counter.approximate:
        output["top_words_approximate"] = True
    return output


register(
    Processor(
        name="text_stats",
        description="Counts lines, words and characters of a UTF-8 text file.",
        process=process,
        validate_config=validate_config,
    )
)
