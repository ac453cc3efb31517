"""ComfyUI entry point of comfyui-faceclip.

Importing the pack only registers node classes: no model is loaded and nothing is downloaded here.
"""
if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
# else: imported as a lone file, as pytest does with a checkout whose folder name is no Python
# identifier (e.g. comfyui-faceclip); ComfyUI always imports the pack as a package.
