"""ComfyUI entry point of comfyui-faceclip.

Importing the pack only registers node classes: no model is loaded and nothing is downloaded here.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
