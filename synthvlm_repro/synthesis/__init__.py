"""Stage 02: SDXL synthesis (seeded, batched, sharded, resumable)."""
