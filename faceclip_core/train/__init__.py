"""FaceCLIP training: data preparation to streaming shards, stage 1 (encoder alignment), stage 2 (SDXL UNet), export.

`python -m faceclip_core.train prepare|stage1|stage2 --help`. Needs the optional extra:
`pip install -r requirements-train.txt` (or `pip install comfyui-faceclip[train]`).
"""
