"""Stage 01: caption curation (readers, the paper's rule filters, image-text filters, LLM judge, funnel)."""
