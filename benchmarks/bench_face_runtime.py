"""Torch vs onnxruntime for the insightface packs' models: speed and equality, to choose the default runtime; and the
built-in detector's time per photo.

    python benchmarks/bench_face_runtime.py              # test pack pipeline + full-size IResNet-100 and SCRFD-like
    python benchmarks/bench_face_runtime.py --quick      # the test pack only
    python benchmarks/bench_face_runtime.py --models-dir DIR --pack antelopev2   # a real pack's pipeline too

Full-size stand-ins (random weights, exported with torch.onnx.export like the real files): IResNet-100 is
glintr100's architecture (65 M parameters, one 112x112 face); ScrfdLike at SCRFD-10G-like widths on a 640x640
canvas. The pipeline rows time FaceAnalyzer.detect (detect + 448 align + embed) on a 1024x1024 photo; the built-in
detector's row the same call with no pack (YuNet: a pass over the photo, then its refinement views of each face).
Needs requirements-test.txt (onnxruntime, onnx). Prints the machine load, as other processes skew CPU timings.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

from faceclip_core.face import FaceAnalyzer  # noqa: E402
from faceclip_core.face.onnx_file import parse_model  # noqa: E402
from faceclip_core.face.runtime import CPU  # noqa: E402
from faceclip_core.face.torch_session import TorchOnnxSession  # noqa: E402
from faceclip_core.face.yunet_detector import REFINE_FILLS  # noqa: E402


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"


def compare_pipeline(models_dir: Path, pack: str, runs: int) -> None:
    import assets

    photo = assets.resized(assets.astronaut(), 2.0)
    analyzers = {name: FaceAnalyzer(models_dir, pack=pack, providers="cpu", runtime=name) for name in ("torch", "onnxruntime")}
    faces = {name: analyzer.detect(photo) for name, analyzer in analyzers.items()}
    for name, analyzer in analyzers.items():
        median, best = timed(lambda: analyzer.detect(photo), runs)
        print(f"  pipeline {name:<11} median {median:7.1f} ms, best {best:7.1f} ms per image")
    a, b = faces["torch"], faces["onnxruntime"]
    assert len(a) == len(b)
    box = max(float(np.abs(x.bbox - y.bbox).max()) for x, y in zip(a, b))
    kps = max(float(np.abs(x.kps - y.kps).max()) for x, y in zip(a, b))
    score = max(abs(x.score - y.score) for x, y in zip(a, b))
    line = f"  equality: boxes {box:.1e} px, landmarks {kps:.1e} px, scores {score:.1e}"
    if a and a[0].embedding is not None:
        cosine = min(float(x.embedding @ y.embedding) for x, y in zip(a, b))
        line += f", embedding cosine {cosine:.7f}"
    print(line)


def builtin_detector(runs: int) -> None:
    import assets

    photo = assets.resized(assets.astronaut(), 2.0)
    analyzer = FaceAnalyzer(providers="cpu")
    median, best = timed(lambda: analyzer.detect(photo), runs)
    print(f"  pipeline yunet       median {median:7.1f} ms, best {best:7.1f} ms per image (1 pass over the photo + "
          f"{2 * len(REFINE_FILLS)} views of each face's crop)")


def compare_model(label: str, data: bytes, feed: np.ndarray, runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.onnx"
        path.write_bytes(data)
        sessions = {"torch": TorchOnnxSession(parse_model(data)), "onnxruntime": _onnxruntime_session(path)}
        name = sessions["onnxruntime"].get_inputs()[0].name
        outputs = {}
        for runtime, session in sessions.items():
            outputs[runtime] = session.run(None, {name: feed})
            median, best = timed(lambda: session.run(None, {name: feed}), runs)
            print(f"  {label} {runtime:<11} median {median:7.1f} ms, best {best:7.1f} ms")
        diff = max(float(np.abs(x - y).max()) for x, y in zip(outputs["torch"], outputs["onnxruntime"]))
        print(f"  {label} max |torch - onnxruntime| = {diff:.1e}")


def _onnxruntime_session(path: Path):
    """As face analysis opens one (no spinning threads), with as many threads as torch has."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=[CPU])


def full_size_models(runs: int) -> None:
    import face_architectures as arch

    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    recogniser = arch.randomise_batch_norms(arch.IResNet(arch.IRESNET100))
    data = arch.export_onnx(recogniser, torch.randn(1, 3, 112, 112), "input.1", ["embedding"], 11,
                            {"input.1": {0: "N"}, "embedding": {0: "N"}})
    del recogniser
    compare_model("IResNet-100, 1 face      ", data, np.random.default_rng(0).standard_normal((1, 3, 112, 112), np.float32), runs)
    detector = arch.randomise_batch_norms(arch.ScrfdLike(widths=(56, 88, 88, 224), blocks=(3, 4, 2, 3), neck=56))
    data = arch.export_onnx(detector, torch.randn(1, 3, 640, 640), "input.1", arch.scrfd_output_names(), 11,
                            {"input.1": {2: "H", 3: "W"}})
    compare_model("SCRFD-like 640x640       ", data, np.random.default_rng(1).standard_normal((1, 3, 640, 640), np.float32), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", help="a folder holding insightface/models/<pack> (a real pack)")
    parser.add_argument("--pack", default="antelopev2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="the test pack only, no full-size models")
    parser.add_argument("--threads", type=int, help="torch threads, and onnxruntime's for the full-size models "
                        "(default: torch's own choice; on a busy machine 1 keeps threads from waiting on each other)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import assets

    print(f"CPU, {load()}")
    with tempfile.TemporaryDirectory() as scratch:
        print("test pack (tiny RetinaFace as SCRFD + stand-in recogniser), 1024x1024 photo:")
        compare_pipeline(assets.build_face_pack(Path(scratch)).parents[2], "antelopev2", args.runs)
    print("built-in detector (YuNet, torch), 1024x1024 photo:")
    builtin_detector(args.runs)
    if args.models_dir:
        print(f"pack {args.pack} from {args.models_dir}:")
        compare_pipeline(Path(args.models_dir), args.pack, args.runs)
    if not args.quick:
        print("full-size architectures, random weights:")
        full_size_models(args.runs)
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
