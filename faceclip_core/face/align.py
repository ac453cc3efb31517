"""5-point face alignment: the ArcFace template, the similarity transform onto it, and the warp.

Same geometry as insightface's `face_align.norm_crop`: the 112-px ArcFace template scaled by size/112,
a least-squares similarity transform (Umeyama 1991, what scikit-image's SimilarityTransform estimates),
and a bilinear warp with black outside the image (OpenCV's `warpAffine` convention: pixel centres on
integer coordinates).
"""
from __future__ import annotations

import numpy as np

# Eyes, nose tip, mouth corners (image left to right) of the ArcFace template on a 112x112 crop.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def template(size: int) -> np.ndarray:
    """The ArcFace template for a size x size crop, (5, 2) float64; size must be a multiple of 112."""
    if size % 112:
        raise ValueError(f"aligned crop size must be a multiple of 112, got {size}")
    return ARCFACE_TEMPLATE_112 * (size / 112)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of rotation, uniform scale and translation that best maps src points onto dst."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_centred, dst_centred = src - src_mean, dst - dst_mean
    covariance = dst_centred.T @ src_centred / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])  # a proper rotation, never a mirror
    rotation = u @ np.diag(reflection) @ vt
    scale = (singular * reflection).sum() / src_centred.var(axis=0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def warp_affine(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """image (H, W, C) warped by matrix (source -> output) into a size x size image of the same dtype."""
    forward = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)[:2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = (src_x - x0)[..., None], (src_y - y0)[..., None]
    height, width = image.shape[:2]

    def tap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside = ((x >= 0) & (x < width) & (y >= 0) & (y < height))[..., None]
        return np.where(inside, image[y.clip(0, height - 1), x.clip(0, width - 1)], 0).astype(np.float64)

    top = tap(x0, y0) * (1 - fx) + tap(x0 + 1, y0) * fx
    bottom = tap(x0, y0 + 1) * (1 - fx) + tap(x0 + 1, y0 + 1) * fx
    out = top * (1 - fy) + bottom * fy
    if np.issubdtype(image.dtype, np.integer):
        out = np.rint(out).clip(np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
    return out.astype(image.dtype)


def align_face(image: np.ndarray, kps: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The size x size aligned crop of the face with landmarks kps (5, 2), and the 2x3 matrix used."""
    matrix = similarity_transform(kps, template(size))
    return warp_affine(image, matrix, size), matrix
