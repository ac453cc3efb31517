"""FaceCLIP-SDXL: a face + text encoder whose (N, 77, 2048) context and (N, 1280) pooled vector replace
SDXL's text encoders. Modules are named like the released `face_clip_encoder.pt`'s keys."""
