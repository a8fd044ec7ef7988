"""Stage 01 statistics: Data-Juicer's definitions on hand-computed cases, edge cases, and the fast batch
path against the one-caption definitions on a random multilingual corpus."""

import random

import numpy as np
import pytest

from synthvlm_repro.curation import stats as S
from synthvlm_repro.curation.normalize import fix_unicode, normalize_captions, normalize_punctuation
from synthvlm_repro.curation.rules import RuleFilter, load_flagged_words
from synthvlm_repro.curation.special_characters import OTHER_SPECIAL_CHARACTERS, SPECIAL_CHARACTERS

FLAGGED = frozenset({"butt", "sexy", "xx"})


def batch(text, flagged=FLAGGED):
    return {k: v[0] for k, v in S.caption_stats([text], flagged).items()}


def test_special_character_set_matches_datajuicer_counts():
    assert len(OTHER_SPECIAL_CHARACTERS) == 189
    assert len(SPECIAL_CHARACTERS) == 1618
    for ch in " \t\n\r0!~\u2009\u3000\u00b2\U0001F600":
        assert ch in SPECIAL_CHARACTERS, repr(ch)
    for ch in "\u00a0\ufe0f\u200d\u00ac\u201ba":
        assert ch not in SPECIAL_CHARACTERS, repr(ch)


@pytest.mark.parametrize("text, expected", [
    ("café", 1.0),                 # NFC: 4 code points, all alphanumeric
    ("cafe\u0301", 0.8),           # NFD: the combining accent is not alphanumeric
    ("a b!", 0.5),
    ("", 0.0),
    ("   ", 0.0),
])
def test_alnum_ratio(text, expected):
    assert S.alnum_ratio(text) == expected
    assert batch(text)["alnum_ratio"] == expected


@pytest.mark.parametrize("text, expected", [
    ("ab" * 10, 6 / 11),           # 2 distinct 10-grams (6 and 5), k = min(isqrt(2), 2) = 1
    ("abcdefghi", 0.0),            # shorter than rep_len
    ("abcdefghij", 0.0),           # one 10-gram, never repeated
    ("a" * 12, 1.0),               # one 10-gram repeated 3 times
    ("", 0.0),
])
def test_char_rep_ratio(text, expected):
    assert S.char_rep_ratio(text) == expected
    assert batch(text)["char_rep_ratio"] == expected


def test_word_rep_ratio_hand_computed():
    ten = "one two three four five six seven eight nine ten"
    assert S.word_rep_ratio(f"{ten} {ten}") == 2 / 11
    assert S.word_rep_ratio(" ".join(ten.split()[:9])) == 0.0      # fewer than rep_len words
    assert S.word_rep_ratio(f"{ten}\t{ten.upper()}") == 2 / 11     # lowercased, tab separates
    assert batch(f"{ten} {ten}")["word_rep_ratio"] == 2 / 11


@pytest.mark.parametrize("text, expected", [
    ("2 dogs, 3 cats", 6 / 14),
    ("a\u00a0b", 0.0),             # NBSP is not special
    ("\u2764\ufe0f", 0.5),         # heart is, the variation selector is not
    ("", 0.0),
])
def test_special_char_ratio(text, expected):
    assert S.special_char_ratio(text) == expected
    assert batch(text)["special_char_ratio"] == expected


def test_refined_words_follow_datajuicer():
    assert S.refined_words("2 dogs, 3 cats") == ["dogs", "cats"]
    assert S.refined_words("a  \t\n b") == ["a", "b"]              # whitespace runs give no empty words
    assert S.refined_words("a\rb c") == ["a\rb", "c"]              # \r does not split
    assert S.refined_words("2020s #1 123") == ["s"]                 # digits are stripped from the edges
    assert S.refined_words("\u2764\ufe0f") == ["\ufe0f"]


@pytest.mark.parametrize("text, expected", [
    ("(sexy)", 1.0),
    ("Nice BUTT!", 0.5),
    ("xx2 marks the spot", 0.25),  # "xx2" -> "xx"
    ("!!!", 0.0),                  # no words
])
def test_flagged_words_ratio(text, expected):
    assert S.flagged_words_ratio(text, FLAGGED) == expected
    assert batch(text)["flagged_words_ratio"] == expected


def _random_caption(rng: random.Random) -> str:
    alphabets = ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJ", "0123456789", ".,;:!?'\"()-#@*",
                 " ", "  \t\n\r\u00a0\u2009\u3000", "éüßçñ", "ΣΟΔσςΑ", "İIıi", "一只猫的", "Кот",
                 "\u0301\u093e\ufe0f\u200d", "\U0001F600\u2764\U0001F3FB"]
    kind = rng.random()
    if kind < 0.2:  # repetitive
        unit = "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(1, 6)))
        return (unit + rng.choice([" ", ""])) * rng.randint(1, 30)
    if kind < 0.4:  # word loops
        words = ["the", "red", "car", "Sexy", "xx2", "ΟΔΟΣ", "dog!", "2020s"]
        return " ".join(rng.choice(words[:rng.randint(2, 8)]) for _ in range(rng.randint(0, 40)))
    return "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(0, 160)))


def test_fast_batch_path_is_bit_identical_to_the_definitions():
    rng = random.Random(7)
    texts = [_random_caption(rng) for _ in range(3000)]
    fast = S.caption_stats(texts, FLAGGED)
    reference = {
        "alnum_ratio": [S.alnum_ratio(t) for t in texts],
        "char_rep_ratio": [S.char_rep_ratio(t) for t in texts],
        "flagged_words_ratio": [S.flagged_words_ratio(t, FLAGGED) for t in texts],
        "special_char_ratio": [S.special_char_ratio(t) for t in texts],
        "word_rep_ratio": [S.word_rep_ratio(t) for t in texts],
    }
    for name in S.STAT_COLUMNS:
        np.testing.assert_array_equal(fast[name], np.array(reference[name]), err_msg=name)
    assert (fast["word_rep_ratio"] > 0).sum() > 100 and (fast["char_rep_ratio"] > 0).sum() > 100


def test_punctuation_normalization_matches_datajuicer_unit_test():
    text = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►"
    assert normalize_punctuation(text) == ",.,\"\"\"\"\"\"\"\"\"\"'::?!();- - . ~'...-<>[]%-"


def test_fix_unicode_repairs_mojibake_and_applies_nfc():
    assert fix_unicode("âœ” No problems") == "✔ No problems"
    assert fix_unicode("cafe\u0301") == "café"
    assert normalize_captions(["A “quoted” caption…"]) == ['A "quoted" caption...']


def test_plain_ascii_captions_skip_the_mappers_unchanged(project_root):
    """The shortcut in normalize_captions: ftfy + the punctuation map leave printable ASCII without & alone."""
    import string
    import sys

    from synthvlm_repro.curation.normalize import is_plain_ascii

    sys.path.insert(0, str(project_root / "bench"))
    try:
        from curation_bench import generate
    finally:
        sys.path.pop(0)
    rng = random.Random(3)
    texts = generate(3000) + ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 60)))
                              for _ in range(3000)] + ["a &amp; b", "x\r\ny", "\x1b[31mred", "a\x00b", "fi <b>"]
    plain = [t for t in texts if is_plain_ascii(t)]
    assert 2000 < len(plain) < len(texts)
    assert [normalize_punctuation(fix_unicode(t)) for t in plain] == plain
    assert normalize_captions(texts) == [normalize_punctuation(fix_unicode(t)) for t in texts]
    assert not is_plain_ascii("a &amp; b") and fix_unicode("a &amp; b") == "a & b"


def test_fast_batch_path_on_the_bench_captions(project_root):
    """The ASCII byte-table shortcuts (alnum, special) and the word-pair check on mostly-ASCII captions."""
    import sys

    sys.path.insert(0, str(project_root / "bench"))
    try:
        from curation_bench import generate
    finally:
        sys.path.pop(0)
    texts = generate(4000, seed=11)
    fast = S.caption_stats(texts, FLAGGED)
    for name, fn in (("alnum_ratio", S.alnum_ratio), ("char_rep_ratio", S.char_rep_ratio),
                     ("special_char_ratio", S.special_char_ratio), ("word_rep_ratio", S.word_rep_ratio),
                     ("flagged_words_ratio", lambda t: S.flagged_words_ratio(t, FLAGGED))):
        np.testing.assert_array_equal(fast[name], np.array([fn(t) for t in texts]), err_msg=name)
    assert (fast["word_rep_ratio"] > 0).sum() > 100


def test_rule_filter_intervals_are_closed():
    f = RuleFilter("special_char_ratio", 0.2, 0.4)
    assert f.passes(np.array([0.2, 0.4, 0.19, 0.41])).tolist() == [True, True, False, False]
    assert f.describe(0.1) == "special_char_ratio 0.1 < 0.2"


def test_flagged_word_lists(tmp_path):
    shipped = load_flagged_words()
    assert {"fuck", "shit", "fucking"} <= shipped and "cat" not in shipped
    assert all(" " not in w and w == w.lower() for w in shipped)
    (tmp_path / "flagged_words.json").write_text('{"en": ["Foo", "bar"], "zh": ["x"]}')
    assert load_flagged_words(tmp_path / "flagged_words.json") == {"foo", "bar"}
    (tmp_path / "words.txt").write_text("# comment\nBaz\n\nqux\n")
    assert load_flagged_words(tmp_path / "words.txt") == {"baz", "qux"}
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_flagged_words(tmp_path / "nope.txt")
