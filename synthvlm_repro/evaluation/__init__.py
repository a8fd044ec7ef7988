"""Stage 05: VQA benchmarks with the LLaVA protocol, and MMLU."""
