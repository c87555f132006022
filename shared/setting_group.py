"""The base of every nested settings group (`MMINDEX_GROUP__NAME`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Group(BaseModel):
    """A nested settings group: unknown names are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
