"""Preflight for a run: models resolvable, data present, GPUs and disk enough, GPU-hour/disk estimates."""
