"""Settings of stage 01 (caption curation)."""

from synthvlm_repro.stage_config import StageConfig


class CurationConfig(StageConfig):
    """Where captions come from and which filters run."""

    source: str = "sample"  # "sample" = the kit's shipped captions; else a path (JSON/JSONL/CSV/Parquet)
    max_captions: int | None = None
    skip_bad_rows: bool = False
    judge_model: str | None = "meta-llama/Meta-Llama-3-70B-Instruct"
