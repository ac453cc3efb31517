"""Where insightface model packs live and which files they hold.

ComfyUI users keep them as `<models>/insightface/models/<pack>/*.onnx`. Unzipping the official archive
next to itself gives `<pack>/<pack>/*.onnx`, so that layout is accepted too.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelPackError, UsageError

DEFAULT_PACK = "antelopev2"  # the insightface pack used when a models folder is given without a pack
BUILTIN_PACK = "yunet"  # the detector that ships with the package (yunet_detector.py): no folder, no download

# The files each known pack ships (detector and recogniser first: the only two face analysis loads).
PACK_FILES: dict[str, tuple[str, ...]] = {
    "antelopev2": ("scrfd_10g_bnkps.onnx", "glintr100.onnx", "1k3d68.onnx", "2d106det.onnx", "genderage.onnx"),
    "buffalo_l": ("det_10g.onnx", "w600k_r50.onnx", "1k3d68.onnx", "2d106det.onnx", "genderage.onnx"),
}

_WHERE_TO_GET = {
    "antelopev2": "antelopev2.zip, the archive the InstantID and PuLID node packs ask for",
    "buffalo_l": "buffalo_l.zip from insightface's GitHub release v0.7",
}


def pack_dir(models_dir: str | Path, pack: str = DEFAULT_PACK) -> Path:
    """The folder holding `pack`'s .onnx files under `models_dir` (the folder that holds `insightface/`).

    Raises ModelPackError naming the folder searched, the files expected and where to get them.
    """
    expected = Path(models_dir) / "insightface" / "models" / pack
    for candidate in (expected, expected / pack):
        if candidate.is_dir() and any(candidate.glob("*.onnx")):
            return candidate
    raise ModelPackError(_missing_pack_message(expected, pack))


def require_models_dir(models_dir: str | Path | None, pack: str) -> str | Path:
    """models_dir, or UsageError when an insightface pack is asked for without the folder that holds it."""
    if models_dir is None:
        raise UsageError(
            f"Face model pack '{pack}' is an insightface pack: give the models folder that holds "
            f"insightface/models/{pack}/ (e.g. ComfyUI/models; --models-dir on the command line), or use the "
            f"built-in detector '{BUILTIN_PACK}', which needs no download."
        )
    return models_dir


def _missing_pack_message(expected: Path, pack: str) -> str:
    state = "is empty (no .onnx files)" if expected.is_dir() else "does not exist"
    files = ", ".join(PACK_FILES.get(pack, ("a detector .onnx", "a recogniser .onnx")))
    source = _WHERE_TO_GET.get(pack, f"{pack}.zip (an insightface model pack)")
    return (
        f"Face model pack '{pack}' not found: {expected} {state}. Expected there: {files}. "
        f"Get {source} and unzip it so the .onnx files sit directly in {expected}. (Detection and alignment "
        f"alone need no pack: the built-in detector '{BUILTIN_PACK}' ships with the node pack.)"
    )
