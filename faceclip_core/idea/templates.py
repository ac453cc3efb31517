"""Training prompts: short portrait captions around the identity placeholder, as in textual inversion."""
from __future__ import annotations

from .interfaces import PLACEHOLDER

TEMPLATES = [
    f"face of {PLACEHOLDER} person",
    f"a photo of {PLACEHOLDER} person",
    f"a close-up photo of {PLACEHOLDER} person",
    f"a portrait of {PLACEHOLDER} person",
    f"a cropped photo of {PLACEHOLDER} person",
    f"a good photo of {PLACEHOLDER} person",
    f"a bright photo of {PLACEHOLDER} person",
    f"a photo of the face of {PLACEHOLDER} person",
    f"a head shot of {PLACEHOLDER} person",
    f"a clear photo of {PLACEHOLDER} person",
]
