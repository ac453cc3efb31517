"""ComfyUI entry point of comfyui-faceclip.

Importing the pack only registers node classes and the models/faceclip folder: no model is loaded and
nothing is downloaded here.
"""
import os
import sys

if __package__:
    # the nodes import the core as `faceclip_core`; appended, so the pack's folder names never shadow others'
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.append(_here)

    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from .nodes.faceclip_nodes import register_model_folder

    register_model_folder()
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
# else: imported as a lone file, as pytest does with a checkout whose folder name is no Python
# identifier (e.g. comfyui-faceclip); ComfyUI always imports the pack as a package.
