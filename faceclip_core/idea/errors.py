"""ID-EA's user-facing errors: each message names the cause and the fix."""
from __future__ import annotations

from ..errors import FaceCLIPError, UsageError


class BaseModelMismatch(UsageError):
    """Text encoders, conditioning or a saved state that belong to a different base model than expected."""


class TrainingCancelled(FaceCLIPError):
    """The user stopped training; the resumable state was saved first."""

    exit_code = 130
