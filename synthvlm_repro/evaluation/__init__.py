"""Stage 05: VQA benchmarks with the LLaVA protocol, and MMLU.

``benchmarks`` (local files in LLaVA's eval layout) -> ``inference`` (greedy, batched, resumable, sharded
answers) -> ``scoring`` / ``answer_processing`` (LLaVA's parsers and the official metrics) -> ``run``
(tidy ``evaluation/results.{csv,json}``); ``mmlu`` (lm-eval on the extracted language model),
``fixtures`` (tiny PIL-drawn sets), ``prompting`` (Vicuna v1 template), ``report``, ``lmms_bridge``, ``cli``.
"""
