"""Domain generation is a deterministic enumeration of a space of valid names (no Django)."""

import re

from hypothesis import given
from hypothesis import strategies as st

from campaigns.phases.domain_generation import GenerationSpec, name_at, names, space_size, spec_errors

LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def test_prefix_names_count_like_an_odometer():
    spec = GenerationSpec("prefix", 2, "abc", "com", "shop")
    assert [name for _, name in names(spec, 0, 4)] == ["aashop.com", "abshop.com", "acshop.com", "bashop.com"]
    assert space_size(spec) == 9


def test_a_hyphen_never_lands_on_a_label_edge_and_the_space_counts_that():
    spec = GenerationSpec("both", 1, "a-", "io")  # var + var with no constant: both edges
    assert space_size(spec) == 1
    assert [n for _, n in names(spec, 0, 1)] == ["aa.io"]
    inner = GenerationSpec("both", 2, "a-", "io", "x")
    every = [n for _, n in names(inner, 0, space_size(inner))]
    assert len(every) == len(set(every)) == 1 * 2 * 2 * 1
    assert all(LABEL.match(n.split(".")[0]) for n in every)


@given(
    pattern=st.sampled_from(["prefix", "suffix", "both"]),
    length=st.integers(1, 3),
    charset=st.sets(st.sampled_from("abz09-"), min_size=2).map(lambda s: "".join(sorted(s))),
    constant=st.sampled_from(["", "mid", "x1"]),
    start=st.integers(0, 50),
    count=st.integers(0, 40),
)
def test_ranges_agree_with_name_at_and_are_valid_and_distinct(pattern, length, charset, constant, start, count):
    spec = GenerationSpec(pattern, length, charset, "test", constant)
    if spec_errors(spec) or set(charset) <= {"-"}:
        return
    stop = min(start + count, space_size(spec))
    start = min(start, stop)
    produced = list(names(spec, start, stop))
    assert [i for i, _ in produced] == list(range(start, stop))
    assert [n for _, n in produced] == [name_at(spec, i) for i in range(start, stop)]
    assert len({n for _, n in produced}) == len(produced)
    assert all(LABEL.match(n.removesuffix(".test")) for _, n in produced)


def test_spec_errors_name_the_field():
    assert "character_set" in spec_errors(GenerationSpec("prefix", 2, "aab", "com"))
    assert "character_set" in spec_errors(GenerationSpec("prefix", 2, "a_b", "com"))
    assert "pattern_type" in spec_errors(GenerationSpec("middle", 2, "ab", "com"))
    assert "tld" in spec_errors(GenerationSpec("prefix", 2, "ab", "-com"))
    assert "variable_length" in spec_errors(GenerationSpec("prefix", 70, "ab", "com"))
    assert spec_errors(GenerationSpec("suffix", 3, "abc-", "co.uk", "shop")) == {}
