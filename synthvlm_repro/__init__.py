"""synthvlm-repro: a reproducibility kit for SynthVLM (arXiv 2407.20756).

Stages: ``curation`` (01) → ``synthesis`` (02) → ``selection`` (03) → ``training`` (04) →
``evaluation`` (05) → ``figures`` (06). Notebooks call :func:`prepare_run` first.
"""

__version__ = "0.1.0"


def __getattr__(name):  # keep ``import synthvlm_repro`` light (no torch)
    if name in ("prepare_run", "RunContext"):
        from synthvlm_repro import run_context

        return getattr(run_context, name)
    if name in ("load_config", "ConfigError", "ProjectConfig"):
        from synthvlm_repro import config

        return getattr(config, name)
    raise AttributeError(name)
