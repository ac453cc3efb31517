"""Fetching the official FaceCLIP files from Hugging Face, only when a user asks for it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from .atomic import check_target
from ..errors import FaceCLIPError

OFFICIAL_REPO = "ByteDance/FaceCLIP"
# what the repo holds -> (path in the repo, size shown to users before they start 3-5 GB downloads)
OFFICIAL_FILES = {
    "face_clip_encoder.pt": ("model/face_clip_encoder.pt", "3.15 GB"),
    "unet.pt": ("model/unet.pt", "5.1 GB"),
}

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


def _progress_tqdm(progress: Progress, raised: list[BaseException]):
    """A tqdm class that reports to `progress` instead of printing a bar; what `progress` raises goes in `raised`."""
    from tqdm.auto import tqdm

    class ReportingTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # nothing on the console: the caller shows progress
            super().__init__(*args, **kwargs)
            self.done = 0  # a disabled tqdm does not count

        def update(self, n=1):
            self.done += n or 0
            try:
                progress(self.done, int(self.total or 0))
            except BaseException as exc:
                raised.append(exc)
                raise

    return ReportingTqdm


def _said(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def download_official(
    name: str, dest_dir: str | os.PathLike, progress: Progress | None = None, endpoint: str | None = None,
    save_as: str | None = None,
) -> Path:
    """Download the official file `name` (a key of OFFICIAL_FILES) to dest_dir/(save_as or name); returns that path.

    The file is fetched into a staging folder beside the destination and moved in place only once
    complete and of the size the hub states, so an interrupted download never leaves a half file under
    the final name; the staging folder is removed whatever happens. Offline (HF_HUB_OFFLINE=1, or the hub
    unreachable) it fails at once, before any retry. What `progress` raises (a host's Cancel: an Exception in
    ComfyUI 0.3.64, a BaseException in 0.38.x) ends the download as it is, never reported as a failed download.
    """
    if name not in OFFICIAL_FILES:
        raise FaceCLIPError(f"unknown official file {name!r}; choose one of {sorted(OFFICIAL_FILES)}")
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    repo_path, _ = OFFICIAL_FILES[name]
    dest_dir = Path(dest_dir)
    target = check_target(dest_dir / (save_as or name))

    def failed(cause: str) -> FaceCLIPError:
        return FaceCLIPError(
            f"Could not download {repo_path} from https://huggingface.co/{OFFICIAL_REPO} ({cause}). "
            f"Check the connection, or download it in a browser and put it in {dest_dir} as {save_as or name}."
        )

    if _offline():
        raise failed("HF_HUB_OFFLINE is set: downloads are switched off; unset it to download")
    try:  # one request without retries: an unreachable hub is reported now, not after half a minute of retries
        expected = get_hf_file_metadata(hf_hub_url(OFFICIAL_REPO, repo_path, endpoint=endpoint), endpoint=endpoint).size
    except Exception as exc:  # network, auth, missing file: all end the same way for the user
        raise failed(_said(exc)) from exc
    staging = dest_dir / ".faceclip-download"
    raised: list[BaseException] = []
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fetched = Path(hf_hub_download(
            OFFICIAL_REPO, repo_path, local_dir=staging, endpoint=endpoint,
            tqdm_class=_progress_tqdm(progress, raised) if progress else None,
        ))
        if expected is not None and fetched.stat().st_size != expected:
            raise failed(f"the file has {fetched.stat().st_size:,} bytes, the hub says {expected:,}; it was cut short")
        os.replace(fetched, target)
    except FaceCLIPError:
        raise
    except Exception as exc:  # network, auth, disk: all end the same way for the user
        if exc in raised:
            raise
        raise failed(_said(exc)) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
