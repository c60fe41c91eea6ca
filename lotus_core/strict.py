"""The one strict pydantic base every validated config model in lotus_core builds on."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo names its key) and a loaded config cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
