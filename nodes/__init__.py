"""Thin ComfyUI adapters over faceclip_core: widgets and types in, core calls, host types out.

*_nodes.py declare the nodes on ComfyUI's V3 schema (they import comfy_api, so only inside a host or with its
checkout on sys.path); *_logic.py and checks.py hold what the nodes do and import without ComfyUI. extension.py
registers the nodes. Nothing is imported here, so the logic modules stay importable without a host.
"""
