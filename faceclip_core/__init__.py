"""FaceCLIP and ID-EA in pure PyTorch: models, loading, face analysis and training.

Importable without ComfyUI; `python -m faceclip_core --help` lists the command-line tools.
"""
