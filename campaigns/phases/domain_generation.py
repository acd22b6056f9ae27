"""Domain generation: a deterministic enumeration of a combination space (no Django here).

The variable part is `variable_length` characters from `character_set`, placed before the constant
(`prefix`), after it (`suffix`) or on both sides (`both`). A hyphen may not start or end a label, so
positions at a label edge draw from the character set without `-`: every index of the space is a
valid name, `space_size` is exact, and index `i` always names the same domain (batches are index ranges).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

PATTERN_TYPES = ("prefix", "suffix", "both")
HOSTNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class GenerationSpec:
    pattern_type: str
    variable_length: int
    character_set: str
    tld: str
    constant_string: str = ""

    @property
    def suffix(self) -> str:
        return "." + self.tld.strip(".").lower()

    def alphabets(self) -> list[str]:
        """The characters each variable position may take, most significant first."""
        charset = self.character_set.lower()
        inner = charset
        edge = charset.replace("-", "")
        n = self.variable_length
        has_constant = bool(self.constant_string)

        def run(first_edge: bool, last_edge: bool) -> list[str]:
            return [edge if (i == 0 and first_edge) or (i == n - 1 and last_edge) else inner for i in range(n)]

        if self.pattern_type == "prefix":
            return run(True, not has_constant)
        if self.pattern_type == "suffix":
            return run(not has_constant, True)
        return run(True, False) + run(False, True)

    def label_length(self) -> int:
        variable = self.variable_length * (2 if self.pattern_type == "both" else 1)
        return variable + len(self.constant_string)


def space_size(spec: GenerationSpec) -> int:
    size = 1
    for alphabet in spec.alphabets():
        size *= len(alphabet)
    return size


def spec_errors(spec: GenerationSpec) -> dict[str, list[str]]:
    """Field-level problems with a spec (empty when it is usable)."""
    errors: dict[str, list[str]] = {}
    if spec.pattern_type not in PATTERN_TYPES:
        errors["pattern_type"] = [f"Must be one of {', '.join(PATTERN_TYPES)}."]
    if spec.variable_length <= 0:
        errors["variable_length"] = ["Must be greater than 0."]
    charset = spec.character_set
    if not charset:
        errors["character_set"] = ["Must not be empty."]
    elif len(set(charset.lower())) != len(charset):
        errors["character_set"] = ["Must not contain duplicate characters."]
    elif not set(charset.lower()) <= HOSTNAME_CHARS:
        bad = "".join(sorted(set(charset.lower()) - HOSTNAME_CHARS))
        errors["character_set"] = [f"Only letters, digits and '-' are valid in hostnames (not {bad!r})."]
    elif set(charset) == {"-"}:
        errors["character_set"] = ["Must contain at least one letter or digit."]
    if spec.constant_string and not re.fullmatch(r"[a-zA-Z0-9-]+", spec.constant_string):
        errors["constant_string"] = ["Only letters, digits and '-' are valid in hostnames."]
    tld = spec.tld.strip(".").lower()
    if not tld or not all(_LABEL.match(label) for label in tld.split(".")):
        errors["tld"] = ["Must be a valid domain suffix such as 'com' or 'co.uk'."]
    if not errors and spec.label_length() > 63:
        errors["variable_length"] = ["The generated label would be longer than 63 characters."]
    if not errors and spec.label_length() + len(spec.suffix) > 253:
        errors["tld"] = ["The generated names would be longer than 253 characters."]
    if not errors:
        label_start = spec.constant_string[:1] if spec.pattern_type == "suffix" else ""
        label_end = spec.constant_string[-1:] if spec.pattern_type == "prefix" else ""
        if "-" in (label_start, label_end):
            errors["constant_string"] = ["A hostname label may not start or end with '-'."]
    return errors


def _digits(index: int, radices: list[int]) -> list[int]:
    digits = [0] * len(radices)
    for position in range(len(radices) - 1, -1, -1):
        index, digits[position] = divmod(index, radices[position])
    if index:
        raise IndexError("index beyond the combination space")
    return digits


def _assemble(spec: GenerationSpec, variable: str) -> str:
    constant = spec.constant_string.lower()
    if spec.pattern_type == "prefix":
        label = variable + constant
    elif spec.pattern_type == "suffix":
        label = constant + variable
    else:
        label = variable[: spec.variable_length] + constant + variable[spec.variable_length :]
    return label + spec.suffix


def name_at(spec: GenerationSpec, index: int) -> str:
    alphabets = spec.alphabets()
    digits = _digits(index, [len(a) for a in alphabets])
    return _assemble(spec, "".join(a[d] for a, d in zip(alphabets, digits, strict=True)))


def names(spec: GenerationSpec, start: int, stop: int) -> Iterator[tuple[int, str]]:
    """`(index, name)` for every index in `[start, stop)`, counting like an odometer (no division per name)."""
    if start >= stop:
        return
    alphabets = spec.alphabets()
    radices = [len(a) for a in alphabets]
    if stop > space_size(spec):
        raise IndexError("range beyond the combination space")
    digits = _digits(start, radices)
    chars = [a[d] for a, d in zip(alphabets, digits, strict=True)]
    last = len(radices) - 1
    for index in range(start, stop):
        yield index, _assemble(spec, "".join(chars))
        position = last
        while position >= 0:  # increment the odometer
            digits[position] += 1
            if digits[position] < radices[position]:
                chars[position] = alphabets[position][digits[position]]
                break
            digits[position] = 0
            chars[position] = alphabets[position][0]
            position -= 1
