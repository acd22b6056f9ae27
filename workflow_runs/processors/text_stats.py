"""Text statistics: lines, words, characters and the most frequent words. No network."""

import re
from collections import Counter
from typing import Any

from .registry import ConfigError, Processor, decode_text, register

_WORD = re.compile(r"\w+", re.UNICODE)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = set(config) - {"top_words"}
    if unknown:
        raise ConfigError({key: ["Unknown option."] for key in sorted(unknown)})
    top = config.get("top_words", 5)
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 100:
        raise ConfigError({"top_words": ["An integer from 0 to 100."]})
    return {"top_words": top}


def process(name: str, content: bytes, config: dict[str, Any]) -> dict[str, Any]:
    text = decode_text(content)
    words = [word.lower() for word in _WORD.findall(text)]
    top = int(config.get("top_words", 5))
    return {
        "lines": len(text.splitlines()),
        "words": len(words),
        "characters": len(text),
        "bytes": len(content),
        "top_words": [[word, count] for word, count in Counter(words).most_common(top)],
    }


register(
    Processor(
        name="text_stats",
        description="Counts lines, words and characters of a UTF-8 text file.",
        process=process,
        validate_config=validate_config,
    )
)
