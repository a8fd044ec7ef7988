"""Settings of the toy experiment (notebook 07): arms, seeds and how big each arm's stage-1 set is."""

from typing import Literal

from pydantic import Field

from synthvlm_repro.stage_config import StageConfig

ARMS = ("renders", "clip+ssim", "clip", "random")


class ToyConfig(StageConfig):
    """The paper's claim as an experiment: stage-1 data from renders, or synthetic candidates chosen by
    CLIPScore + lambda*SSIM, CLIPScore alone, or at random; the same stage 2; several seeds per arm."""

    arms: list[Literal["renders", "clip+ssim", "clip", "random"]] = list(ARMS)
    seeds: list[int] = [0, 1, 2]
    judge: str = "toy:judge"  # attribute classifier deciding whether a chosen image matches its caption
    arm_size: int | None = Field(None, ge=1)  # stage-1 pairs per arm (None: every caption stage 02 rendered)
    workers: int = Field(1, ge=1)  # (arm, seed) runs trained in parallel processes
