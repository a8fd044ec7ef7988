"""Stage 05 against long data (issue 16): a question longer than the model's context is cut to fit it."""

import logging
import random

from PIL import Image

from synthvlm_repro.evaluation import inference
from synthvlm_repro.evaluation.benchmarks import Question


def test_a_question_longer_than_the_context_is_cut_to_fit_with_a_count_logged(tmp_path, tiny, caplog):
    model, processor = inference.load_llava(str(tiny("llava")), "cpu", "fp32")
    Image.new("RGB", (32, 24), (20, 120, 200)).save(tmp_path / "blue.png")
    rng = random.Random(0)
    long_text = " ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 8))) for _ in range(3000))
    questions = [Question("long", long_text, tmp_path / "blue.png"), Question("short", "What colour?", tmp_path / "blue.png")]
    context = model.config.text_config.max_position_embeddings
    with caplog.at_level(logging.WARNING):
        answers, prompts = inference.generate_batch(model, processor, questions, 8)
    assert len(answers) == 2 and "question long:" in caplog.text and "question short" not in caplog.text
    image = inference.expand_to_square(questions[0].load_image(), processor.image_processor.image_mean)
    ids = processor(images=[image], text=[prompts[0]], return_tensors="pt")["input_ids"][0]
    assert context - 8 - 8 <= len(ids) <= context - 8  # prompt + answer fit, and little room is wasted
    assert prompts[1] == inference.question_prompt("What colour?")  # short questions are untouched
    assert long_text.startswith(prompts[0].split("\n", 1)[1].rsplit(" ASSISTANT:", 1)[0][:200])
