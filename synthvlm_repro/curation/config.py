"""Settings of stage 01 (caption curation).

Defaults are the paper's (appendix Table 1, ``../shared/reference/paper.md`` §1.2). A threshold set to
``null`` turns that filter off; every filter is recorded in ``funnel.json`` either way.
"""

from typing import Literal

from pydantic import Field, field_validator

from synthvlm_repro.stage_config import Limit, StageConfig, UnitFloat


class CurationConfig(StageConfig):
    """Where captions come from and which filters run, with which thresholds."""

    # --- input
    source: str = "sample"  # "sample" = the kit's shipped captions; else a path (JSON/JSONL/CSV/Parquet)
    # "img2dataset": a folder written by img2dataset (webdataset tars, parquet, or files); "auto" detects it
    source_format: Literal["auto", "synthvlm", "llava", "jsonl", "csv", "parquet", "img2dataset"] = "auto"
    image_root: str | None = None  # folder that `image` paths are relative to (default: the source's folder)
    allow_absolute_image_paths: bool = False  # True: absolute `image` paths are trusted (else quarantined/refused)
    skip_bad_rows: bool = False  # True: quarantine malformed rows into rejected.parquet instead of failing
    max_captions: Limit | None = None  # keep only the first N survivors (source order) for the next stage
    chunk_rows: int = Field(50_000, ge=1)  # rows per streamed chunk
    num_proc: int = Field(1, ge=1)  # processes computing the rule statistics

    # --- normalisation (Data-Juicer fix_unicode_mapper + punctuation_normalization_mapper)
    normalize: bool = True

    # --- rule filters (Data-Juicer, tokenization false)
    alnum_min: UnitFloat | None = 0.60
    char_rep_len: int = Field(10, ge=1)
    char_rep_max: UnitFloat | None = 0.09373663
    flagged_words_max: UnitFloat | None = 0.0
    flagged_words_file: str | None = None  # one word per line, or Data-Juicer's flagged_words.json; None = shipped list
    special_min: UnitFloat | None = 0.16534802
    special_max: UnitFloat | None = 0.42023757
    word_rep_len: int = Field(10, ge=1)
    word_rep_max: UnitFloat | None = 0.03085751

    # --- dedup
    exact_dedup: bool = True  # on lowercased text with punctuation and whitespace runs removed
    near_dedup_threshold: float | None = Field(0.8, gt=0, le=1)  # MinHash-LSH Jaccard; null = off
    minhash_num_perm: int = Field(128, ge=16)
    minhash_ngram: int = Field(3, ge=1)  # word shingle size

    # --- perplexity (Data-Juicer's KenLM filter, or an HF causal LM)
    perplexity_max: float | None = Field(5500.0, gt=0)
    perplexity_scorer: Literal["kenlm", "hf"] = "kenlm"
    kenlm_model: str | None = None  # Data-Juicer's en.arpa.bin (edugp/kenlm wikipedia); null = filter off
    sentencepiece_model: str | None = None  # Data-Juicer's en.sp.model
    perplexity_lm: str | None = None  # HF causal LM ref when perplexity_scorer == "hf"

    # --- image-text filters (against the caption's original image)
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = "openai"
    clip_min: float | None = Field(0.28, ge=-1, le=1)  # raw cosine similarity
    itm_model: str = "Salesforce/blip-itm-base-coco"
    itm_min: UnitFloat | None = 0.8  # BLIP ITM probability of "match"
    image_batch_size: int = Field(32, ge=1)
    image_workers: int | None = Field(None, ge=0)  # DataLoader workers decoding images; null = cores - 1 (0 on <= 2 cores)

    # --- LLM judge (LLaMA3-70B-Instruct in the paper)
    judge_model: str | None = "meta-llama/Meta-Llama-3-70B-Instruct"
    judge_mode: Literal["filter", "record", "off"] = "filter"  # record: keep the answer, drop nothing
    judge_backend: Literal["prefix", "generate", "vllm"] = "prefix"  # prefix: shared-prompt KV cache, same verdicts
    judge_batch_size: int = Field(8, ge=1)
    judge_max_new_tokens: int = Field(5, ge=1)
    lm_batch_size: int = Field(16, ge=1)  # perplexity LM batches
    lm_max_tokens: int = Field(512, ge=8)  # perplexity LM reads at most this many tokens (and its context); longer = truncated, counted
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: bf16 on cuda, fp32 on cpu

    @field_validator("judge_mode", mode="before")
    @classmethod
    def _yaml_off(cls, value):
        """YAML reads a bare ``off`` as ``False`` (and ``on`` as ``True``)."""
        if value is False:
            return "off"
        return "filter" if value is True else value
