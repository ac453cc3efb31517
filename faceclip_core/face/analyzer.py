"""FaceAnalyzer: a pack's detector and recogniser, and the detect -> pick -> align -> embed pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import NoFaceError, UsageError
from .align import align_face
from .faces import AnalyzedImage, Face
from .images import as_image_list
from .models import load_face_models
from .packs import BUILTIN_PACK, DEFAULT_PACK, pack_dir, require_models_dir
from .pick import DEFAULT_PICK, parse_pick, pick_face
from .engines import ONNXRUNTIME, model_opener, resolve_runtime, torch_device
from .runtime import resolve_providers

if TYPE_CHECKING:
    import torch

CROP_SIZE = 448  # FaceCLIP's face input: the ArcFace template x4
# When nothing is found, the image is shrunk inside the detector's input and tried again: faces that
# fill most of the picture are larger than the detector's biggest anchors.
RETRY_FILLS = (1.0, 0.75, 0.5)


class FaceAnalyzer:
    """Detects, aligns and embeds faces with the built-in detector or an insightface model pack.

    models_dir: the folder holding `insightface/models/<pack>/` (ComfyUI's models folder); not needed for "yunet".
    pack: "yunet", the built-in detector (torch, weights in the package; no recogniser, so no embeddings), the
        default without models_dir; "antelopev2" (the default with models_dir) or "buffalo_l", or any folder of
        an SCRFD detector and an ArcFace recogniser.
    providers: "auto", "cpu", "cuda" or a list of onnxruntime provider names (see runtime.py); with torch (the
        built-in detector, or a pack on the torch runtime) "auto" is CUDA when torch has it, and `device` (a
        torch device) overrides it.
    runtime: for a pack, "auto", "torch" or "onnxruntime" (see engines.py: auto is torch unless the device is the
        CPU and onnxruntime is installed). The built-in detector always runs in torch.
    det_size: the detector's input side for models exported without a fixed size.
    Raises ModelPackError for a missing, empty or unreadable pack.
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        pack: str | None = None,
        providers: str | Sequence[str] = "auto",
        det_size: int = 640,
        crop_size: int = CROP_SIZE,
        runtime: str = "auto",
        device: str | torch.device | None = None,
    ) -> None:
        if det_size < 64 or det_size % 32:
            raise UsageError(f"det_size must be a multiple of 32 and at least 64, got {det_size}.")
        self.pack = pack or (DEFAULT_PACK if models_dir is not None else BUILTIN_PACK)
        self.crop_size = crop_size
        if self.pack == BUILTIN_PACK:
            from .yunet_detector import YuNetDetector

            self.pack_dir, self.runtime, self.providers, self.recognizer = None, "torch", None, None
            self.detector = YuNetDetector(torch_device(providers, device), det_size=det_size)
            return
        self.pack_dir = pack_dir(require_models_dir(models_dir, self.pack), self.pack)
        self.runtime = resolve_runtime(runtime, providers, device)
        self.providers = resolve_providers(providers) if self.runtime == ONNXRUNTIME else None
        open_model = model_opener(self.runtime, self.providers or providers, device)
        self.detector, self.recognizer = load_face_models(self.pack_dir, self.pack, open_model, det_size)

    @property
    def has_recognizer(self) -> bool:
        return self.recognizer is not None

    def detect(self, image: Any) -> list[Face]:
        """Every face in one image (any accepted input, see images.py), left to right; [] when none."""
        images = as_image_list(image)
        if len(images) != 1:
            raise UsageError(f"detect() takes one image, got a batch of {len(images)}: use analyze() for batches.")
        return self._faces(images[0])

    def analyze(self, images: Any, pick: str = DEFAULT_PICK, require_face: bool = True) -> list[AnalyzedImage]:
        """Faces of every image of a batch and the one `pick` chooses in each.

        With require_face, an image without a face raises NoFaceError naming its batch index; without it,
        that image's AnalyzedImage has no faces and picked_index None (e.g. to score generated images).
        """
        parse_pick(pick)  # a malformed policy fails before any model runs
        results = []
        for index, rgb in enumerate(batch := as_image_list(images)):
            faces = self._faces(rgb)
            if not faces and require_face:
                raise no_face_error(f"image {index} of the batch of {len(batch)} ({rgb.shape[1]}x{rgb.shape[0]} px)")
            results.append(AnalyzedImage(faces, pick_face(faces, pick) if faces else None))
        return results

    def _faces(self, rgb: np.ndarray) -> list[Face]:
        for fill in RETRY_FILLS:
            found = self.detector.detect(rgb, fill)
            if len(found.scores):
                break
        else:
            return []
        embeddings = self.recognizer.embed(rgb, found.kps) if self.recognizer else [None] * len(found.scores)
        faces = [
            Face(
                bbox=box.astype(np.float32),
                kps=kps.astype(np.float32),
                score=float(score),
                crop=align_face(rgb, kps, self.crop_size)[0],
                embedding=None if embedding is None else embedding.astype(np.float32),
            )
            for box, kps, score, embedding in zip(found.boxes, found.kps, found.scores, embeddings)
        ]
        return sorted(faces, key=lambda face: face.bbox[0] + face.bbox[2])


def no_face_error(where: str) -> NoFaceError:
    """The NoFaceError for an image described by `where`, with what to try."""
    return NoFaceError(
        f"No face found in {where}. Try a photo where one face is clearly visible and roughly frontal, at least "
        "about 32 px tall; crop closer if the face is tiny in a large picture; make sure the image is upright."
    )
