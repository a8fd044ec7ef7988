"""The toy world's data files: stage 01's caption source and stage 04's stage-2 instruction set.

``world/`` holds
- ``captions.json``: SynthVLM input format ``[{id, caption, image}]`` over renders in ``images/``, with
  junk captions mixed in (symbol strings, repeated words, shuffled words, captions standing beside
  another scene's image, exact duplicates) so that stage 01's filters have work;
- ``attributes.json``: ``{id: {shape, colour, size, position}}``, the ground truth of every render;
- ``stage2.json`` + ``stage2_images/``: LLaVA-665K-format conversations (short answers, yes/no and
  lettered choices, the answer formats the benchmarks ask for) about other renders.
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_json
from synthvlm_repro.evaluation.prompting import OPTION_LETTER, SHORT_ANSWER
from synthvlm_repro.toy.questions import choice_question, presence_question, short_question
from synthvlm_repro.toy.world import ATTRIBUTES, caption, junk_caption, render, rng_for, sample_scene, scene_ids

CAPTION_PREFIX = "cap"
STAGE2_PREFIX = "s2"
LETTERS = "ABCD"


def caption_rows(n: int, junk_fraction: float) -> tuple[list[dict], dict[str, dict], dict[str, str]]:
    """``(rows, attributes of each clean id, junk kind of each junk id)`` of the stage-01 source."""
    rows, truth, junk = [], {}, {}
    for item_id in scene_ids(CAPTION_PREFIX, n):
        scene = sample_scene(item_id)
        text = caption(scene, item_id)
        rows.append({"id": item_id, "caption": text, "image": f"images/{item_id}.png"})
        truth[item_id] = scene.attributes()
    n_junk = int(round(n * junk_fraction))
    for k, item_id in enumerate(scene_ids("junk", n_junk)):
        host = rows[k % n]
        donor = rows[(k * 7 + 3) % n]
        kind, text = junk_caption(item_id, donor["caption"] if k % 2 else host["caption"])
        if kind == "duplicate":
            text = host["caption"]
        rows.append({"id": item_id, "caption": text, "image": host["image"]})
        junk[item_id] = kind
    rows.sort(key=lambda r: rng_for(r["id"], "order").random())  # junk spread through the file
    return rows, truth, junk


def stage2_rows(n: int) -> list[dict]:
    """LLaVA-665K-format conversations about ``n`` renders: one short answer, one yes/no, one choice."""
    rows = []
    for item_id in scene_ids(STAGE2_PREFIX, n):
        scene, r = sample_scene(item_id), rng_for(item_id, "stage2")
        kind = r.choice(tuple(ATTRIBUTES))
        q1, a1 = short_question(scene, kind)
        q2, a2 = presence_question(scene, r, r.random() < 0.5, r.choice(("random", "popular", "adversarial")))
        q3, options, right = choice_question(scene, r.choice(tuple(ATTRIBUTES)), r)
        q3 += "".join(f"\n{LETTERS[i]}. {o}" for i, o in enumerate(options))
        turns = [(f"<image>\n{q1}\n{SHORT_ANSWER}", a1.capitalize()), (f"{q2}\n{SHORT_ANSWER}", a2.capitalize()),
                 (f"{q3}\n{OPTION_LETTER}", LETTERS[right])]
        conversations = []
        for q, a in turns:
            conversations += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rows.append({"id": item_id, "image": f"{item_id}.png", "conversations": conversations})
    return rows


def build_world(out: Path, spec: dict) -> None:
    """Render the caption source and the stage-2 set into ``out``."""
    rows, truth, junk = caption_rows(spec["captions"], spec["junk_fraction"])
    (out / "images").mkdir(parents=True, exist_ok=True)
    for item_id in tqdm(list(truth), desc="toy world: renders", unit="img"):
        render(sample_scene(item_id), item_id).save(out / "images" / f"{item_id}.png")
    write_json(out / "captions.json", rows)
    write_json(out / "attributes.json", truth)
    write_json(out / "junk.json", junk)
    s2 = stage2_rows(spec["stage2"])
    (out / "stage2_images").mkdir()
    for row in tqdm(s2, desc="toy world: stage-2 renders", unit="img"):
        item_id = row["id"]
        render(sample_scene(item_id), item_id).save(out / "stage2_images" / row["image"])
    write_json(out / "stage2.json", s2)
