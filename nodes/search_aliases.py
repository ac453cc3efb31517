"""The words users type into the node search, per node: what they call this kind of node in other packs too.

Newer hosts show a schema's `search_aliases` (ComfyUI PR #12010); older ones (0.3.64) have no such field, and an
unknown field would fail the schema. So the aliases go in only where the host's Schema takes them. Imports without
ComfyUI (no comfy_api), so CI tests it; nodes/v3.py applies it to every node's schema.
"""
from __future__ import annotations

import inspect
from typing import Any

# A face + prompt encoder is what other packs call IP-Adapter FaceID, InstantID, PuLID or PhotoMaker.
_IDENTITY = ("face", "identity", "instantid", "pulid", "ip-adapter face", "faceid", "photomaker", "face id")
SEARCH_ALIASES: dict[str, tuple[str, ...]] = {
    "FaceCLIPLoader": (*_IDENTITY, "faceclip", "load face encoder", "sdxl face"),
    "FaceCLIPTextEncodeSDXL": (*_IDENTITY, "faceclip", "face prompt", "face text encode", "sdxl face",
                               "identity conditioning"),
    "FaceT5Loader": (*_IDENTITY, "facet5", "flux face", "pulid flux", "load face encoder"),
    "FaceT5TextEncodeFlux": (*_IDENTITY, "facet5", "flux face", "pulid flux", "face prompt", "identity conditioning"),
    "FaceCLIPInsightFaceLoader": ("insightface", "antelopev2", "face analysis", "face model", "instantid", "pulid",
                                  "faceid"),
    "FaceCLIPDetectFace": ("face", "detect face", "face detection", "face crop", "align face", "insightface",
                           "reference face"),
    "FaceIDSimilarity": ("face", "identity", "face similarity", "id similarity", "id-sim", "arcface", "compare faces",
                         "identity score"),
    "IDEATrain": ("face", "identity", "train identity", "train face", "textual inversion", "face embedding",
                  "identity embedding", "id-ea"),
    "IDEALoader": ("face", "identity", "load identity", "textual inversion", "face embedding", "identity embedding",
                   "id-ea"),
    "IDEAApply": ("face", "identity", "apply identity", "identity strength", "face embedding", "instantid", "pulid",
                  "id-ea"),
    "FaceCLIPIdentityStrength": ("face", "identity", "identity strength", "face strength", "likeness", "id weight",
                                 "instantid", "pulid"),
    "FaceCLIPFaceRegions": ("face", "two people", "multiple people", "regional", "region mask", "face mask",
                            "attention mask", "instantid"),
}


def schema_takes(schema_class: type, field: str) -> bool:
    """Whether the host's io.Schema has this field (a dataclass: its constructor takes the field's name)."""
    return field in inspect.signature(schema_class).parameters


def with_search_aliases(schema_class: type, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` plus the node's search aliases where `schema_class` takes them; unchanged on hosts without them."""
    if not schema_takes(schema_class, "search_aliases"):
        return fields
    return {**fields, "search_aliases": list(SEARCH_ALIASES[fields["node_id"]])}
