"""Base class of every stage's typed config: unknown keys are errors, assignments are validated."""

from pydantic import BaseModel, ConfigDict


class StageConfig(BaseModel):
    """A stage's settings (one section of a profile YAML)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
