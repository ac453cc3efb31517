"""FaceCLIP, FaceT5 and ID-EA in pure PyTorch: models, loading, face analysis and training.

Importable without ComfyUI; `python -m faceclip_core --help` lists the command-line tools.

Layout (each package's docstring says what it owns): `errors` (every user-facing error) and `architecture`
(checked, JSON-able model configs) here; `files/` (files on disk, whatever model they belong to), `cli/` (the
command line), `encoders/` (FaceCLIP-SDXL in `sdxl/`, FaceT5 in `t5/`, and what both share), `face/` (face
detection, alignment, recognition), `idea/` (ID-EA) and `train/` (FaceCLIP training).
"""
import importlib.abc
import sys

# modules that moved in the layout step, old path -> new: a saved run config (validate.analyzer = "MODULE:FACTORY")
# or a script may still name the old one, and is told where it went instead of only "No module named ..."
MOVED_MODULES = {
    f"{__name__}.{old}": f"{__name__}.{new}" for old, new in {
        "atomic": "files.atomic", "names": "files.names", "state_files": "files.state", "image_files": "files.images",
        "download": "files.download", "face_input": "encoders.face_input", "cli_options": "cli.options",
        "encode_cli": "cli.encode", "convert_cli": "cli.convert", "compare_t5_cli": "cli.compare_t5",
        "download_cli": "cli.download", "face.detect_cli": "cli.detect", "encoders.placement": "encoders.base",
        "train.checkpoints": "train.training_state", "idea.checkpointing": "idea.gradient_checkpointing",
    }.items()
}


class _MovedModules(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path, so it only answers for names no file provides."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            raise ModuleNotFoundError(f"{fullname} is now {MOVED_MODULES[fullname]}: import that instead", name=fullname)
        return None


sys.meta_path.append(_MovedModules())
