"""LLaVA templates and label masks on hand-built conversations (plain, v1, multi-turn, text-only)."""

import pytest

from synthvlm_repro.training.builder import VICUNA_SYSTEM, load_tokenizer_with_image_token
from synthvlm_repro.training.templates import IGNORE_INDEX, render, tokenize

N_IMG = 5  # image tokens per <image> in these tests


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer_with_image_token("tiny:vicuna")


def split(t, tok):
    """(full text, trained text, masked text) of a tokenized sample."""
    trained = [i for i, lab in zip(t.input_ids, t.labels) if lab != IGNORE_INDEX]
    masked = [i for i, lab in zip(t.input_ids, t.labels) if lab == IGNORE_INDEX]
    return tok.decode(t.input_ids), tok.decode(trained), tok.decode(masked)


def conv(*turns):
    return [{"from": "human" if i % 2 == 0 else "gpt", "value": v} for i, v in enumerate(turns)]


def test_tokenizer_gets_image_and_pad_tokens(tok):
    assert tok.image_token == "<image>" and tok.pad_token == "<pad>"
    assert tok.convert_tokens_to_ids("<image>") != tok.unk_token_id
    assert tok.pad_token_id not in (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id)


def test_plain_drops_instruction_and_trains_caption_plus_newline(tok):
    t = tokenize(conv("Render a clear and concise summary of the photo.\n<image>", "A red car on a road."), tok,
                 "plain", N_IMG, has_image=True)
    image_id = tok.convert_tokens_to_ids("<image>")
    assert t.input_ids[0] == tok.bos_token_id
    assert t.input_ids[1:1 + N_IMG] == [image_id] * N_IMG and t.has_image
    full, trained, masked = split(t, tok)
    assert full == "<s>" + "<image>" * N_IMG + "A red car on a road.\n"  # the instruction is gone
    assert trained == "A red car on a road.\n"
    assert all(lab == IGNORE_INDEX for lab in t.labels[: 1 + N_IMG])
    # labels equal the ids wherever they are trained
    assert all(lab in (IGNORE_INDEX, i) for i, lab in zip(t.input_ids, t.labels))


def test_v1_single_turn_masks_system_and_user(tok):
    t = tokenize(conv("What is this?\n<image>", "A stop sign."), tok, "v1", N_IMG, has_image=True)
    full, trained, masked = split(t, tok)
    assert full == ("<s>" + VICUNA_SYSTEM + " USER: " + "<image>" * N_IMG + "\nWhat is this? ASSISTANT: A stop sign.</s>")
    assert trained == " A stop sign.</s>"
    assert masked.endswith("What is this? ASSISTANT:")


def test_v1_multi_turn_trains_every_answer_with_its_eos(tok):
    c = conv("<image>\nDescribe it.", "A red heart.", "What colour is it?", "Red.", "Is it round?", "No.")
    t = tokenize(c, tok, "v1", N_IMG, has_image=True)
    full, trained, masked = split(t, tok)
    assert trained == " A red heart.</s> Red.</s> No.</s>"
    assert full.count("</s>") == 3 and full.count("ASSISTANT:") == 3
    assert "What colour is it?" in masked and "Is it round?" in masked
    assert sum(i == tok.eos_token_id for i, lab in zip(t.input_ids, t.labels) if lab != IGNORE_INDEX) == 3


def test_v1_moves_the_image_to_the_front_of_its_turn(tok):
    a = tokenize(conv("Describe it.\n<image>", "x"), tok, "v1", N_IMG, has_image=True)
    b = tokenize(conv("<image>\nDescribe it.", "x"), tok, "v1", N_IMG, has_image=True)
    assert a.input_ids == b.input_ids and a.labels == b.labels


def test_text_only_row_has_no_image_tokens(tok):
    t = tokenize(conv("How many sides does a triangle have?", "Three."), tok, "v1", N_IMG, has_image=False)
    assert tok.convert_tokens_to_ids("<image>") not in t.input_ids and not t.has_image
    assert split(t, tok)[1] == " Three.</s>"


def test_role_order_is_checked(tok):
    with pytest.raises(ValueError, match="turn 1: expected gpt"):
        render([{"from": "human", "value": "a"}, {"from": "human", "value": "b"}], "v1", has_image=False)


def test_truncation_never_cuts_an_image_apart(tok):
    c = conv("<image>\nDescribe.", "A long caption " * 20)
    t = tokenize(c, tok, "v1", N_IMG, has_image=True, max_length=40)  # the system prompt alone is longer
    assert len(t.input_ids) == 40 and not t.has_image and t.n_trained == 0
    assert tok.convert_tokens_to_ids("<image>") not in t.input_ids
    long_caption = tokenize(conv("<image>", "word " * 300), tok, "plain", N_IMG, has_image=True, max_length=64)
    assert len(long_caption.input_ids) == 64 and long_caption.has_image and long_caption.n_trained == 64 - 1 - N_IMG


def test_tiny_llava_tokenizer_gives_the_same_masks(tiny):
    """A tokenizer that already carries <image> (llava-hf's) is used as is and masks the same way."""
    from transformers import AutoProcessor

    llava_tok = AutoProcessor.from_pretrained(tiny("llava")).tokenizer
    t = tokenize(conv("<image>\nQ?", "Yes.", "Why?", "Because."), llava_tok, "v1", N_IMG, has_image=True)
    assert split(t, llava_tok)[1] == " Yes.</s> Because.</s>"


def test_training_v1_text_is_the_evaluation_prompt_plus_the_answer():
    """Stage 04 trains on exactly the prompt stage 05 asks with (one shared vicuna_v1 definition)."""
    from synthvlm_repro.evaluation.prompting import question_prompt
    from synthvlm_repro.training.templates import render

    conv = [{"from": "human", "value": "<image>\nWhat colour is the car?"}, {"from": "gpt", "value": "Red"}]
    text, spans = render(conv, "v1", has_image=True)
    prompt = question_prompt("What colour is the car?")
    assert text == prompt + " Red</s>"
    assert text[spans[0][0]:spans[0][1]] == " Red</s>"
