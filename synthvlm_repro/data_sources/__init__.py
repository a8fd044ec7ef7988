"""The paper profile's inputs: a registry (plain data), ``fetch`` from the HF hub, ``check`` on disk."""
