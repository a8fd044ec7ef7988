"""Stage 01's KenLM perplexity filter on a real ``kenlm`` model, built offline in the test.

Data-Juicer's own ``en.arpa.bin`` / ``en.sp.model`` cannot be fetched here, so the test trains a small
SentencePiece model on the kit's sample captions and writes a bigram ARPA model over its pieces by hand
(absolute discounting with backoff to add-one unigrams). The kit's scores are checked against Data-Juicer's
formula (``../shared/reference/datajuicer.md`` §3) computed here, once through ``kenlm`` and once from the
ARPA tables themselves, and the filter is run through the real pipeline config path.
"""

import json
import math
from collections import Counter

import pytest

kenlm = pytest.importorskip("kenlm")
sentencepiece = pytest.importorskip("sentencepiece")

from synthvlm_repro.config import load_config  # noqa: E402
from synthvlm_repro.curation.perplexity import KenLMPerplexity  # noqa: E402
from synthvlm_repro.curation.pipeline import curate  # noqa: E402
from synthvlm_repro.paths import RunPaths  # noqa: E402
from synthvlm_repro.sample_data import expected_bad_ids, load_sample_captions  # noqa: E402

DISCOUNT = 0.5
GIBBERISH = {"g1": "Qzv wxj plok brrn fmtq yhg dkkw zup.", "g2": "Vlurk jopqe xwim trazb kelv umphy.",
             "g3": "Krudge blimfo zyx wapt quorvn eljig."}
TEXTS = [
    "A red octagonal stop sign with the word STOP in white letters.",   # a training caption
    "A dog on the grass near a red car.",
    "A red stop sign.\nA dog on grass.",                                  # multi-line
    "line one\n\nline three",                                            # an empty line in the middle
    "zebra \u20ac\u20ac qqq \u4e00",                                     # characters SentencePiece has not seen
    "",                                                                  # empty -> 0.0
    "   ",
]


def good_captions():
    bad = expected_bad_ids()
    return [c["caption"] for c in load_sample_captions() if c["id"] not in bad]


def train_sentencepiece(folder, normalization):
    prefix = folder / f"sp-{normalization}"
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(c["caption"] for c in load_sample_captions()), model_prefix=str(prefix),
        vocab_size=300, model_type="unigram", normalization_rule_name=normalization, num_threads=1,
        minloglevel=2)
    return prefix.with_suffix(".model")


class HandArpa:
    """A bigram ARPA model whose probabilities the test knows exactly (rounded as written)."""

    def __init__(self, sp, training_texts):
        vocab = {sp.id_to_piece(i) for i in range(sp.get_piece_size())
                 if not (sp.is_control(i) or sp.is_unknown(i))}
        vocab = sorted(p for p in vocab if not any(ch.isspace() for ch in p)) + ["</s>", "<unk>"]
        known = set(vocab)
        sentences = [[w if w in known else "<unk>" for w in " ".join(sp.encode_as_pieces(t)).split()]
                     for t in training_texts]
        uni, bi = Counter(), Counter()
        for words in sentences:
            seq = ["<s>"] + words + ["</s>"]
            uni.update(seq[1:])
            bi.update(zip(seq, seq[1:]))
        total = sum(uni.values())
        self.uni = {w: round(math.log10((uni[w] + 1) / (total + len(vocab))), 6) for w in vocab}
        self.uni["<s>"] = -99.0
        context_count = Counter(u for u, _ in bi.elements())
        followers = Counter(u for u, _ in bi)
        self.bi = {(u, v): round(math.log10((c - DISCOUNT) / context_count[u]), 6) for (u, v), c in bi.items()}
        self.backoff = {}
        for u in context_count:
            left = DISCOUNT * followers[u] / context_count[u]
            seen = sum(10 ** self.uni[v] for (a, v) in self.bi if a == u)
            self.backoff[u] = round(math.log10(left / (1 - seen)), 6)

    def write(self, path):
        lines = ["", "\\data\\", f"ngram 1={len(self.uni)}", f"ngram 2={len(self.bi)}", "", "\\1-grams:"]
        lines += [f"{p:.6f}\t{w}\t{self.backoff.get(w, 0.0):.6f}" for w, p in self.uni.items()]
        lines += ["", "\\2-grams:"]
        lines += [f"{p:.6f}\t{u} {v}" for (u, v), p in self.bi.items()]
        lines += ["", "\\end\\", ""]
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    def score(self, line):
        """log10 P(line </s> | <s>) with backoff: what ``kenlm.Model.score(line)`` returns."""
        total, context = 0.0, "<s>"
        for word in line.split() + ["</s>"]:
            word = word if word in self.uni else "<unk>"
            if (context, word) in self.bi:
                total += self.bi[context, word]
            else:
                total += self.backoff.get(context, 0.0) + self.uni[word]
            context = word
        return total


def datajuicer_ppl(text, sp, score):
    """Data-Juicer's perplexity_filter stat, written out independently of the kit."""
    joined = " ".join(sp.encode_as_pieces(text))
    logits, length = 0.0, 0
    for line in joined.splitlines():
        logits += score(line)
        length += len(line.split()) + 1
    return round(10.0 ** (-logits / length), 1) if length != 0 else 0.0


@pytest.fixture(scope="module", params=["nmt_nfkc", "identity"])
def models(request, tmp_path_factory):
    """(sp model path, ARPA path, HandArpa); ``identity`` normalisation keeps newlines as pieces."""
    folder = tmp_path_factory.mktemp(f"kenlm-{request.param}")
    sp_path = train_sentencepiece(folder, request.param)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    arpa = HandArpa(sp, good_captions()[:60])
    return sp_path, arpa.write(folder / "lm.arpa"), arpa


def test_hand_written_arpa_loads_in_kenlm_and_scores_as_written(models):
    sp_path, arpa_path, arpa = models
    lm = kenlm.Model(str(arpa_path))
    assert lm.order == 2
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    for text in TEXTS + good_captions()[:5]:
        for line in " ".join(sp.encode_as_pieces(text)).splitlines():
            assert lm.score(line) == pytest.approx(arpa.score(line), abs=1e-4), line


def test_kenlm_perplexity_follows_datajuicer_formula(models):
    sp_path, arpa_path, arpa = models
    scorer = KenLMPerplexity(arpa_path, sp_path)
    lm, sp = kenlm.Model(str(arpa_path)), sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    got = scorer(TEXTS)
    assert got == [datajuicer_ppl(t, sp, lm.score) for t in TEXTS]
    for value, text in zip(got, TEXTS):
        assert value == pytest.approx(datajuicer_ppl(text, sp, arpa.score), abs=0.11)
        assert value == round(value, 1)
    assert got[-2:] == [0.0, 0.0] and all(v > 1 for v in got[:-2])
    assert got[0] < got[1] < got[4]   # seen caption < unseen fluent text < unseen characters


def test_multi_line_text_scores_each_line_with_its_own_sentence_end(models):
    sp_path, arpa_path, _ = models
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    joined = " ".join(sp.encode_as_pieces(TEXTS[3]))
    if sp_path.stem == "sp-identity":   # newlines survive as pieces: three lines, one of them empty
        assert [line.split() for line in joined.splitlines()][1] == []
        assert len(joined.splitlines()) == 3
    else:                               # NFKC folds the newline into a space: one line
        assert len(joined.splitlines()) == 1


def curate_with_kenlm(tmp_path, source, arpa_path, sp_path, high, extra=()):
    cfg = load_config("smoke", [f"curation.source={source}", "curation.perplexity_scorer=kenlm",
                                f"curation.kenlm_model={arpa_path}", f"curation.sentencepiece_model={sp_path}",
                                f"curation.perplexity_max={high}", "curation.clip_min=null",
                                "curation.itm_min=null", "curation.judge_mode=off", "curation.max_captions=null",
                                *extra])
    result = curate(cfg.curation, RunPaths.for_run(tmp_path / "run"), "cpu", cfg.seed, progress=False)
    rows = {r["id"]: r for r in result.curated.to_pylist() + result.rejected.to_pylist()}
    return result, rows


def test_perplexity_filter_through_the_pipeline_config(tmp_path, models):
    sp_path, fixture_arpa, _ = models
    arpa_path = tmp_path / "lm.arpa"   # a copy: this test replaces it
    arpa_path.write_bytes(fixture_arpa.read_bytes())
    lm, sp = kenlm.Model(str(arpa_path)), sentencepiece.SentencePieceProcessor(model_file=str(sp_path))
    fluent = {f"k{i}": c for i, c in enumerate(good_captions()[:3])}
    pool = {**fluent, **GIBBERISH}
    source = tmp_path / "pool.jsonl"
    source.write_text("".join(json.dumps({"id": k, "caption": c}) + "\n" for k, c in pool.items()))
    expected = {k: datajuicer_ppl(c, sp, lm.score) for k, c in pool.items()}
    high = math.sqrt(max(expected[k] for k in fluent) * min(expected[k] for k in GIBBERISH))
    assert max(expected[k] for k in fluent) < high < min(expected[k] for k in GIBBERISH)

    result, rows = curate_with_kenlm(tmp_path, source, arpa_path, sp_path, high)
    assert [s["step"] for s in result.funnel][-1] == "perplexity"
    assert set(result.curated.column("id").to_pylist()) == set(fluent)
    assert {cid: row["perplexity"] for cid, row in rows.items()} == expected
    for row in result.rejected.to_pylist():
        assert row["id"] in GIBBERISH and row["reason"] == "perplexity"
        assert row["detail"] == f"perplexity {expected[row['id']]:.1f} > {high:g}"

    # A model replaced at the same path is scored again, not read from the run's score cache.
    old_size = arpa_path.stat().st_size
    HandArpa(sp, list(GIBBERISH.values())).write(arpa_path)
    assert arpa_path.stat().st_size != old_size
    lm = kenlm.Model(str(arpa_path))
    rescored = {k: datajuicer_ppl(c, sp, lm.score) for k, c in pool.items()}
    assert rescored != expected
    _, rows = curate_with_kenlm(tmp_path, source, arpa_path, sp_path, 1e9)
    assert {cid: row["perplexity"] for cid, row in rows.items()} == rescored


def test_half_configured_or_missing_kenlm_model_is_a_clear_error(tmp_path, models):
    sp_path, arpa_path, _ = models
    source = tmp_path / "pool.jsonl"
    source.write_text(json.dumps({"id": "a", "caption": good_captions()[0]}) + "\n")
    with pytest.raises(ValueError, match=r"curation.sentencepiece_model is not set"):
        curate_with_kenlm(tmp_path, source, arpa_path, sp_path, 10.0, ["curation.sentencepiece_model=null"])
    with pytest.raises(FileNotFoundError, match=r"nowhere.arpa: kenlm model not found \(curation.kenlm_model\)"):
        curate_with_kenlm(tmp_path, source, tmp_path / "nowhere.arpa", sp_path, 10.0)
    # Neither set: the filter is off, and the funnel says so.
    result, _ = curate_with_kenlm(tmp_path, source, arpa_path, sp_path, 10.0,
                                  ["curation.kenlm_model=null", "curation.sentencepiece_model=null"])
    assert any("perplexity" in s for s in result.skipped) and len(result.curated) == 1
