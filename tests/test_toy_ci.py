"""The toy world's reduced CI check (about 3 min on 2 idle cores): models trained here carry signal.

1. A toy CLIP trained for a short while ranks the right caption first among 16 on held-out renders far
   above chance (1/16).
2. A toy LLaVA (its vision tower converted from that CLIP, a Llama pretrained on the world's text),
   assembled and trained by stage 04 for a short while, answers colour questions about held-out
   renders through stage 05 far above chance (1/6): the image reaches the language model.
"""

import json

import pytest
import torch

from synthvlm_repro.toy import world
from synthvlm_repro.toy.registry import SPECS

pytestmark = pytest.mark.slow

N_TRAIN, N_TEST = 320, 48


@pytest.fixture(scope="module")
def toy_parts(tmp_path_factory):
    from synthvlm_repro.toy.clip import convert_vision_tower, save_open_clip, train_open_clip
    from synthvlm_repro.toy.lm import build_llama

    root = tmp_path_factory.mktemp("toyci")
    spec = dict(SPECS["open-clip"], pool=2000, steps=120)
    save_open_clip(train_open_clip(spec, root / "scratch", progress=False), spec, root / "clip")
    convert_vision_tower(root / "clip", root / "vision")
    build_llama(root / "llama", dict(SPECS["llama"], steps=150), progress=False)
    return root


def test_toy_clip_ranks_the_right_caption_first(toy_parts):
    from PIL import Image

    from synthvlm_repro.models import load_open_clip

    model, preprocess, tokenizer = load_open_clip(str(toy_parts / "clip"), None)  # local-dir:, as stage 03
    ids = world.scene_ids("ci-heldout", 160)
    images, scenes = world.render_batch(ids)
    with torch.no_grad():
        fi = model.encode_image(torch.stack([preprocess(Image.fromarray(a)) for a in images]), normalize=True)
        ft = model.encode_text(tokenizer([world.caption(s, i) for s, i in zip(scenes, ids)]), normalize=True)
    sim = fi @ ft.T
    hits = [int(sim[i, [i] + [(i + 11 * k) % len(ids) for k in range(1, 16)]].argmax() == 0) for i in range(len(ids))]
    assert sum(hits) / len(hits) > 0.5, f"top-1 of 16 = {sum(hits) / len(hits):.2f} (chance 0.06)"


def _colour_rows(prefix: str, n: int, image_dir):
    from synthvlm_repro.evaluation.prompting import SHORT_ANSWER
    from synthvlm_repro.toy.questions import short_question

    image_dir.mkdir(parents=True, exist_ok=True)
    pretrain, qa = [], []
    for item_id in world.scene_ids(prefix, n):
        scene = world.sample_scene(item_id)
        world.render(scene, item_id).save(image_dir / f"{item_id}.png")
        q, a = short_question(scene, "colour")
        pretrain.append({"id": item_id, "image": f"{item_id}.png", "conversations": [
            {"from": "human", "value": "<image>"}, {"from": "gpt", "value": world.caption(scene, item_id)}]})
        qa.append({"id": item_id, "image": f"{item_id}.png", "conversations": [
            {"from": "human", "value": f"<image>\n{q}\n{SHORT_ANSWER}"}, {"from": "gpt", "value": a.capitalize()}]})
    return pretrain, qa


def test_toy_llava_answers_colour_questions_from_the_image(toy_parts, tmp_path):
    accuracy = colour_accuracy(toy_parts / "vision", toy_parts / "llama", tmp_path)
    assert accuracy > 50, f"colour accuracy {accuracy:.0f}% (chance 17%)"


def colour_accuracy(vision, llama, tmp_path, overrides=()) -> float:
    """Stage 04 trains a LLaVA from these parts (colour captions for 2 epochs, then colour QA with the
    profile's stage 2: 4 epochs at lr 3e-3); stage 05 scores its answers to colour questions on held-out
    renders (GQA layout): accuracy in %."""
    from synthvlm_repro.evaluation.stage import run as evaluate
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.toy.questions import short_question
    from synthvlm_repro.training.launch import run_training

    data = tmp_path / "data"
    pretrain, qa = _colour_rows("ci-train", N_TRAIN, data / "images")
    (data / "qa.json").write_text(json.dumps(qa))
    bench = tmp_path / "bench" / "gqa"
    (bench / "data" / "images").mkdir(parents=True)
    questions, truth = [], {}
    for n, item_id in enumerate(world.scene_ids("ci-test", N_TEST)):
        scene = world.sample_scene(item_id)
        world.render(scene, item_id).save(bench / "data" / "images" / f"{item_id}.png")
        q, a = short_question(scene, "colour")
        questions.append(json.dumps({"question_id": str(n), "image": f"{item_id}.png", "text": q}))
        truth[str(n)] = {"question": q, "answer": a}
    (bench / "llava_gqa_testdev_balanced.jsonl").write_text("\n".join(questions) + "\n")
    (bench / "data" / "testdev_balanced_questions.json").write_text(json.dumps(truth))

    ctx = prepare_run("toy", tmp_path / "run", [
        f"training.vision_tower={vision}", f"training.language_model={llama}",
        f"training.phase2_data={data / 'qa.json'}", f"training.phase2_image_folder={data / 'images'}",
        "training.phase1.num_train_epochs=2",  # phase 2 as the profile: lr 3e-3, 4 epochs
        f"evaluation.data_dir={tmp_path / 'bench'}", "evaluation.benchmarks=[gqa]", *overrides])
    ctx.paths.llava_image_folder.mkdir(parents=True)  # reading a RunPaths path creates nothing
    ctx.paths.llava_pretrain_json.write_text(json.dumps(pretrain))
    for row in pretrain:
        (ctx.paths.llava_image_folder / row["image"]).write_bytes((data / "images" / row["image"]).read_bytes())
    run_training(ctx)
    results = evaluate(ctx, figures=False).tables["results"]
    return float(results[(results["benchmark"] == "gqa") & (results["metric"] == "accuracy")]["value"].iloc[0])
