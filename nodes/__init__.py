"""Thin ComfyUI adapters over faceclip_core: widgets and types in, core calls, host types out."""

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
