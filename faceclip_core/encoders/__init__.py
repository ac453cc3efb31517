"""The face + text encoders of the FaceCLIP release, one package each, and the parts they share.

- `sdxl/`: FaceCLIP-SDXL, whose context replaces SDXL's two CLIP text encoders.
- `t5/`: FaceT5, whose context replaces FLUX.1-dev's T5 hidden states (pooled: CLIP-L's).
- shared: `base` (the encoder protocol: face index, encode(), mean of faces, where encode() computes and the
  cached face work: the no-face output and, through `face_cache`, the features of the last few crops),
  `fusion_blocks` (the fusers' layer loop, bi-attention and text layers), `attention` (attention building blocks and the layer-set seam), `face_vit` (the face recogniser ViT), `face_input`
  (face crops in), `tokenizer` (CLIP BPE), `precision` (running a region in a set dtype, for the official
  code's 16-bit precision regions), `casting` (layers that store one dtype and compute in another), `kind`
  (which encoder a file holds).

`sdxl/` and `t5/` import from here and from `faceclip_core.files`, never from each other.
"""
