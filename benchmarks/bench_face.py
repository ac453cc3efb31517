"""Face analysis speed: detect + align (448) + embed on a 1024x1024 photo, CPU, milliseconds per image.

    python benchmarks/bench_face.py                          # the test pack (tiny RetinaFace, stand-in recogniser)
    python benchmarks/bench_face.py --models-dir DIR --pack antelopev2   # a real pack: SCRFD-10G + glintr100

The test pack needs requirements-test.txt. Its detector and recogniser are far smaller than the real
ones, so its number measures this package's own overhead (resize, decode, NMS, warps) more than the models.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

from faceclip_core.face import FaceAnalyzer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", help="folder holding insightface/models/<pack> (default: build the test pack)")
    parser.add_argument("--pack", default="antelopev2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnxruntime"))
    args = parser.parse_args()

    import assets  # tests/support/assets.py: the photos, and the test pack when no models dir is given

    photo = assets.resized(assets.astronaut(), 2.0)  # 1024 x 1024, one face
    with tempfile.TemporaryDirectory() as scratch:
        models_dir = args.models_dir or assets.build_face_pack(Path(scratch)).parents[2]
        analyzer = FaceAnalyzer(models_dir, pack=args.pack, providers="cpu", runtime=args.runtime)
        analyzer.detect(photo)  # warm-up: onnxruntime allocates on the first run
        timings = []
        for _ in range(args.runs):
            start = time.perf_counter()
            [face] = analyzer.detect(photo)
            timings.append((time.perf_counter() - start) * 1000)
    print(
        f"face analysis (detect + 448 align + embed), {photo.shape[1]}x{photo.shape[0]}, CPU, {analyzer.runtime}, pack "
        f"{'test' if not args.models_dir else args.pack}: median {statistics.median(timings):.1f} ms per image, "
        f"best {min(timings):.1f} ms ({args.runs} runs)"
    )


if __name__ == "__main__":
    main()
