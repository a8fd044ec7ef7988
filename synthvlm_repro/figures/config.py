"""Settings of stage 06 (figures, preference evaluation, report)."""

from typing import Literal

from pydantic import Field

from synthvlm_repro.stage_config import StageConfig


class FiguresConfig(StageConfig):
    """Where figures go, how they look, and how the paper's comparisons are rebuilt (defaults: the paper's)."""

    output_dir: str = "figures"  # relative paths resolve against the project root
    dpi: int = Field(150, ge=1)
    formats: list[Literal["png", "pdf", "svg"]] = ["png", "pdf"]
    example_pairs: int = Field(6, ge=0)  # rows of the synthetic-vs-original example grid
    # t-SNE of CLIP embeddings (paper appendix Fig. 2: 1k random pairs per dataset)
    tsne_samples: int = Field(1000, ge=2)
    tsne_perplexity: float = Field(30.0, gt=0)
    # extra datasets for the t-SNE, name -> LLaVA-format JSON (images relative to the JSON's folder),
    # e.g. {"LLaVA-558K": /data/LLaVA-Pretrain/blip_laion_cc_sbu_558k.json}
    tsne_datasets: dict[str, str] = {}
    # preference evaluation (paper: blind synthetic-vs-original test on 1K samples)
    preference_pairs: int = Field(1000, ge=0)
    judge_enabled: bool = True
    judge_model: str = "llava-hf/llava-1.5-7b-hf"  # any llava-hf checkpoint (a hub id, a dir, or tiny:llava)
    judge_dtype: Literal["fp16", "bf16", "fp32"] = "fp16"
