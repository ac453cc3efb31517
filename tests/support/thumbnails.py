"""Template thumbnails from the browser test's screenshots: example_workflows/NAME.jpg for each NAME.png.

    FACECLIP_SCREENSHOTS=/tmp/shots ... pytest tests/host/test_host_browser.py   # the screenshots
    python tests/support/thumbnails.py /tmp/shots                                  # the thumbnails
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
MAX_WIDTH = 1600  # wide enough to read the widgets when opened; the template card shows it far smaller
QUALITY = 80


def to_thumbnail(screenshot: Path, target: Path) -> Path:
    image = Image.open(screenshot).convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)), Image.LANCZOS)
    image.save(target, "JPEG", quality=QUALITY, optimize=True)
    return target


def write_thumbnails(screenshots: Path, folder: Path = ROOT / "example_workflows") -> list[Path]:
    return [to_thumbnail(shot, folder / f"{shot.stem}.jpg") for shot in sorted(screenshots.glob("*.png"))
            if (folder / f"{shot.stem}.json").is_file()]


if __name__ == "__main__":
    for path in write_thumbnails(Path(sys.argv[1])):
        print(path.relative_to(ROOT), f"{path.stat().st_size // 1024} KB")
