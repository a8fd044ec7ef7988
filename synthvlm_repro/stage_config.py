"""Base class of every stage's typed config: unknown keys are errors, assignments are validated.

Every float of every stage config must be finite (``allow_inf_nan=False``): ``ssim_weight: .nan``
would make every selection score NaN and ``clip_min: .nan`` would switch the filter off silently.
:data:`FiniteFloat` carries the same rule for models that do not derive from :class:`StageConfig`.
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: A float that refuses NaN and ±inf at validation.
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: A probability-like threshold in [0, 1].
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
#: "Only the first N" limits: None means all; 0 or negative is a mistake.
Limit = Annotated[int, Field(ge=1)]


class StageConfig(BaseModel):
    """A stage's settings (one section of a profile YAML)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                              allow_inf_nan=False)
