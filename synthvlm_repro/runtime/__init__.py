"""Process-level helpers every stage shares: dtype names, shard/rank from the environment, the device
of a local rank, loading a llava-hf model + processor, and the detached launcher with re-attach.

Import from the submodules (``runtime.dtypes``, ``runtime.distributed``, ``runtime.llava``,
``runtime.launcher``); this package re-exports nothing so importing it stays cheap.
"""
