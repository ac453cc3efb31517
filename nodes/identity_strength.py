"""Identity strength: conditioning moved from the no-face path toward the face path, and beyond.

    c(s) = s * c_face + (1 - s) * c_no_face      for the context and the pooled output

s = 0 is the no-face conditioning (the official negative's form: the same prompt without a face), s = 1 the face
conditioning as encoded, s > 1 extrapolates past it. For s in [0, 1] this is what the host's
ConditioningAverage computes, in the same order of operations (conditioning_to = face, conditioning_from = no face, conditioning_to_strength = s);
the host caps that at 1, hence this node. When in the sampling the identity acts is left to the host's
ConditioningSetTimestepRange and ConditioningCombine (the faceclip_identity_strength template).
Imports without ComfyUI, so CI tests it.
"""
from __future__ import annotations

import torch

from faceclip_core.errors import UsageError

from .checks import require_conditioning

STRENGTH_RANGE = (0.0, 1.5)
NODE = "FaceCLIP Identity Strength"


def _blend(no_face: torch.Tensor, face: torch.Tensor, strength: float, what: str) -> torch.Tensor:
    if no_face.shape[1:] != face.shape[1:] or no_face.shape[0] not in (1, face.shape[0]):
        raise UsageError(f"{NODE}: the {what} of the face conditioning is {tuple(face.shape)} and of the no-face one "
                         f"{tuple(no_face.shape)}: encode both with the same encoder and prompt(s), one with the face "
                         "and one without.")
    no_face = no_face.to(face)
    return face * strength + no_face * (1.0 - strength)


def identity_strength(face: list, no_face: list, strength: float) -> list:
    """Each entry of `face` blended with the matching entry of `no_face` (or its only one) by the formula above;
    the face entry's other keys (SDXL sizes, guidance, masks) are kept."""
    require_conditioning(face, NODE, "face_conditioning")
    require_conditioning(no_face, NODE, "no_face_conditioning")
    if len(no_face) not in (1, len(face)):
        raise UsageError(f"{NODE}: the no-face conditioning has {len(no_face)} entries for the face conditioning's "
                         f"{len(face)}: connect the no-face Text Encode directly, not a combined conditioning.")
    out = []
    for i, (context, keys) in enumerate(face):
        base_context, base_keys = no_face[i if len(no_face) > 1 else 0]
        keys = dict(keys)
        keys_pooled, base_pooled = keys.get("pooled_output"), base_keys.get("pooled_output")
        if (keys_pooled is None) != (base_pooled is None):
            raise UsageError(f"{NODE}: only one of the two conditionings has a pooled output: encode both with the "
                             "same FaceCLIP or FaceT5 Text Encode node type.")
        if keys_pooled is not None:
            keys["pooled_output"] = _blend(base_pooled, keys_pooled, strength, "pooled output")
        out.append([_blend(base_context, context, strength, "context"), keys])
    return out
