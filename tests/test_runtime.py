"""The shared runtime helpers: dtype names, shards and ranks from the launcher's environment, the device
of a local rank, LLaVA loading (on the tiny llava-hf model), the caption of a LLaVA record."""

import argparse

import pytest
import torch

from synthvlm_repro.conversation import first_gpt_turn
from synthvlm_repro.runtime import distributed
from synthvlm_repro.runtime.distributed import Shard, current_shard, parse_shard, shard_from_env
from synthvlm_repro.runtime.dtypes import DTYPES, bytes_per_param, library_dtype, resolve_dtype, torch_dtype

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------- dtypes

@pytest.mark.parametrize("name, dtype, library, size", [("fp32", torch.float32, "float32", 4),
                                                         ("fp16", torch.float16, "float16", 2),
                                                         ("bf16", torch.bfloat16, "bfloat16", 2)])
def test_dtype_names_map_to_torch_library_strings_and_sizes(name, dtype, library, size):
    assert torch_dtype(name) is dtype
    assert library_dtype(name) == library and getattr(torch, library) is dtype  # round trip
    assert bytes_per_param(name) == size == torch.empty(0, dtype=dtype).element_size()
    assert {d.torch for d in DTYPES.values()} == {torch.float32, torch.float16, torch.bfloat16}


def test_auto_and_the_cpu_fallback():
    assert resolve_dtype("auto", "cuda") == "bf16" and resolve_dtype("auto", "cuda:3") == "bf16"
    assert resolve_dtype("auto", "cuda", auto="fp16") == "fp16"
    assert resolve_dtype("auto", "cpu") == "fp32"
    assert torch_dtype("fp16", "cpu") is torch.float16  # an explicit name is kept ...
    assert torch_dtype("fp16", "cpu", half_needs_cuda=True) is torch.float32  # ... unless half needs CUDA
    assert torch_dtype("bf16", "cuda:0", half_needs_cuda=True) is torch.bfloat16
    assert library_dtype("auto") == "auto"  # transformers' / lm-eval's "as stored"
    with pytest.raises(ValueError, match="needs a device"):
        resolve_dtype("auto")
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        torch_dtype("float8")


# --------------------------------------------------------------------------- shards and ranks

def test_parse_shard_good_and_bad():
    assert parse_shard("3/8") == Shard(3, 8) and str(parse_shard("0/1")) == "0/1"
    assert parse_shard("3/8").name == "00003-of-00008"
    for bad in ("3", "a/b", "1/2/3", ""):
        with pytest.raises(ValueError, match=r"expected INDEX/COUNT, e\.g\. 0/8") as err:
            parse_shard(bad)
        assert "\n" not in str(err.value)
    for bad in ("8/8", "-1/4", "0/0"):
        with pytest.raises(ValueError, match="need 0 <= INDEX < COUNT"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="need 0 <= index < count"):
        Shard(2, 2)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_take_every_item_once(count):
    items = list(range(11))
    taken = [x for i in range(count) for x in Shard(i, count).take(items)]
    assert sorted(taken) == items


def test_shard_rank_and_flags_from_the_environment(no_launcher):
    assert shard_from_env() == Shard() and current_shard() == Shard()
    assert distributed.is_main_process() and distributed.local_rank() == 0 and distributed.local_world_size() == 1
    no_launcher.setenv("RANK", "5")
    no_launcher.setenv("WORLD_SIZE", "8")
    no_launcher.setenv("LOCAL_RANK", "1")
    no_launcher.setenv("LOCAL_WORLD_SIZE", "4")
    assert shard_from_env() == Shard(5, 8)
    assert not distributed.is_main_process()
    assert (distributed.rank(), distributed.world_size(), distributed.local_rank(), distributed.local_world_size()) \
        == (5, 8, 1, 4)
    no_launcher.setenv("RANK", "1")
    no_launcher.setenv("WORLD_SIZE", "2")
    assert current_shard(Shard(2, 4)) == Shard(5, 8)  # SLURM array task 2 of 4, each running 2 ranks
    no_launcher.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two': expected an integer"):
        shard_from_env()


def test_device_of_a_local_rank(no_launcher):
    assert distributed.local_rank_device("cuda") == "cuda"  # not launched: the device as configured
    no_launcher.setenv("LOCAL_RANK", "3")
    no_launcher.setenv("LOCAL_WORLD_SIZE", "4")
    assert distributed.local_rank_device("cpu") == "cpu"
    assert distributed.local_rank_device("cuda:1") == "cuda:1"  # an explicit GPU is kept
    no_launcher.setattr(torch.cuda, "device_count", lambda: 8)
    assert distributed.local_rank_device("cuda") == "cuda:6"  # 4 ranks on 8 GPUs: rank 3's slice is 6-7
    no_launcher.setattr(torch.cuda, "device_count", lambda: 4)
    assert distributed.local_rank_device("cuda") == "cuda:3"  # one GPU a rank


def test_cpu_cores_are_shared_among_the_ranks_of_a_node(no_launcher):
    import os

    cores = len(os.sched_getaffinity(0))
    assert distributed.cpu_cores_per_rank() == cores
    no_launcher.setenv("LOCAL_WORLD_SIZE", str(cores * 2))
    assert distributed.cpu_cores_per_rank() == 1


def test_every_stage_cli_spells_sharding_the_same(no_launcher):
    from synthvlm_repro.cli import build_parser
    from synthvlm_repro.cli_common import shard_from_args

    parser = build_parser()
    for argv in (["curate"], ["synthesis", "run"], ["selection", "score"], ["evaluate", "answer"]):
        args = parser.parse_args([*argv, "--shard", "1/4"])
        assert args.shard == "1/4", argv
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "answer", "--num-shards", "2"])
    no_launcher.setenv("RANK", "1")
    no_launcher.setenv("WORLD_SIZE", "2")
    assert shard_from_args(argparse.Namespace(shard="1/4")) == Shard(3, 8)
    assert shard_from_args(argparse.Namespace(shard=None)) == Shard(1, 2)


# --------------------------------------------------------------------------- llava loading

def test_load_llava_matches_a_direct_from_pretrained(tiny):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from synthvlm_repro.runtime.llava import load_llava

    path = tiny("llava")
    model, processor = load_llava("tiny:llava", dtype="auto", device="cpu", padding_side="left")
    direct = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
    reference = AutoProcessor.from_pretrained(path)
    assert not model.training and model.dtype == torch.float32 and model.device.type == "cpu"
    assert processor.tokenizer.padding_side == "left"
    prompts = ["USER: <image>\nWhat is it? ASSISTANT:", "USER: <image>\nA much longer question about it? ASSISTANT:"]
    images = [torch.zeros(3, 32, 32, dtype=torch.uint8), torch.full((3, 32, 32), 200, dtype=torch.uint8)]
    reference.tokenizer.padding_side = "left"
    batch = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], reference(images=images, text=prompts, padding=True,
                                                     return_tensors="pt")["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, direct(**batch).logits, rtol=0, atol=0)
    as_stored, _ = load_llava(path, dtype=None)
    assert as_stored.dtype == direct.dtype
    half, saved_processor = load_llava(path, dtype=torch.bfloat16)  # no padding_side: the saved one
    assert half.dtype == torch.bfloat16
    assert saved_processor.tokenizer.padding_side == AutoProcessor.from_pretrained(path).tokenizer.padding_side


# --------------------------------------------------------------------------- LLaVA records

def test_caption_is_the_first_gpt_turn():
    record = {"id": "a", "conversations": [{"from": "human", "value": "<image>\nDescribe."},
                                           {"from": "gpt", "value": "A red car."},
                                           {"from": "gpt", "value": "Second answer."}]}
    assert first_gpt_turn(record) == "A red car."
    assert first_gpt_turn({"conversations": [{"from": "human", "value": "q"}]}) is None
    assert first_gpt_turn({"caption": "x"}) is None
    assert first_gpt_turn({"conversations": "not a list"}) is None
    assert first_gpt_turn(["not", "a", "record"]) is None
