"""ComfyUI entry point of comfyui-faceclip.

Importing the pack only registers its V3 extension, the models/faceclip folder, the web folder and a route for
the templates' thumbnails: no model is loaded and nothing is downloaded here. An older ComfyUI gets one log line saying to update, not a traceback.
"""
import logging
import os
import sys

if __package__:
    # the nodes import the core as `faceclip_core`; appended, so the pack's folder names never shadow others'
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.append(_here)

    from .nodes.host import host_version_problem

    try:
        from comfyui_version import __version__ as _host_version
    except ImportError:  # hosts older than the version file
        _host_version = None
    _problem = host_version_problem(_host_version)
    if _problem:
        logging.error(_problem)
        NODE_CLASS_MAPPINGS: dict = {}  # nothing to register, and the host adds no complaint of its own
        __all__ = ["NODE_CLASS_MAPPINGS"]
    else:
        from .nodes.extension import comfy_entrypoint
        from .nodes.encoder_logic import register_model_folder
        from .nodes.thumbnails import register_thumbnail_route

        register_model_folder()
        register_thumbnail_route(os.path.basename(_here))  # newer hosts serve only the templates' .json
        WEB_DIRECTORY = "./web"  # the frontend extension that keeps ID-EA Train's seed fixed
        __all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
# else: imported as a lone file, as pytest does with a checkout whose folder name is no Python
# identifier (e.g. comfyui-faceclip); ComfyUI always imports the pack as a package.
