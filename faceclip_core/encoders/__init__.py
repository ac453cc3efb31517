"""The face + text encoders of the FaceCLIP release, one package each, and the parts they share.

- `sdxl/`: FaceCLIP-SDXL, whose context replaces SDXL's two CLIP text encoders.
- shared: `attention` (attention building blocks and the layer-set seam), `face_vit` (the face
  recogniser ViT), `tokenizer` (CLIP BPE), `precision` (running a region in a set dtype, for the official
  code's 16-bit precision regions).
"""
