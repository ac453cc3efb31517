"""FaceT5: the FaceCLIP release's face + text encoder for FLUX.1-dev (T5-XXL fused with face tokens, CLIP-L pooled)."""
