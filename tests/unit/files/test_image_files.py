"""The one image reader: every photo mode read right, and a decompression bomb refused from its header."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from faceclip_core.errors import UsageError
from faceclip_core.files.images import MAX_IMAGE_PIXELS, read_image
from hostile_files import decompression_bomb_png


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kwargs.pop("format", "PNG"), **kwargs)
    return buffer.getvalue()


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257 * 64, 32896, 65535]], dtype=np.uint16).repeat(2, 0)
    path = tmp_path / "grey16.png"
    Image.fromarray(levels).save(path)
    rgb = read_image(path)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, :, 0].tolist() == [0, 64, 128, 255] and (rgb[..., 0] == rgb[..., 2]).all()


def test_rgba_grey_palette_and_cmyk_come_out_rgb():
    colour = (200, 30, 90)
    rgba = Image.new("RGBA", (8, 8), colour + (0,))
    assert read_image(_png(rgba))[0, 0].tolist() == list(colour)  # alpha dropped, colour kept
    assert read_image(_png(Image.new("L", (8, 8), 77)))[0, 0].tolist() == [77, 77, 77]
    palette = Image.new("RGB", (8, 8), colour).convert("P", palette=Image.Palette.ADAPTIVE)
    assert read_image(_png(palette))[0, 0].tolist() == list(colour)
    cmyk = read_image(_png(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), format="JPEG"))
    assert cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1] < 40 and cmyk[0, 0, 2] < 40  # pure red in CMYK


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (6, 4), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    rgb = read_image(_png(image, format="JPEG", exif=exif.tobytes(), quality=100))
    assert rgb.shape == (6, 4, 3)
    assert rgb[0, -1].mean() > 200  # the top-left corner is now top-right


def test_an_animation_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = _png(frames[0], format="GIF", save_all=True, append_images=frames[1:])
    red = read_image(data)
    assert red[0, 0, 0] > 200 and red[0, 0, 2] < 50


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = decompression_bomb_png()
    assert len(bomb) < 20_000
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    with pytest.raises(UsageError, match=rf"bomb.png is 10240x10240 px, 105 megapixels, more than the {MAX_IMAGE_PIXELS // 10**6} "
                                         "megapixels this pack decodes .*decompression bomb"):
        read_image(path)
    with pytest.raises(UsageError, match="Image given as bytes is 400 megapixels, more than the 100 megapixels"):
        read_image(decompression_bomb_png(20000))  # past PIL's own limit too: the same message


def test_unreadable_and_truncated_files_name_the_file(tmp_path):
    for name, data in (("text.png", b"not an image"), ("cut.png", _png(Image.new("RGB", (64, 64), 9))[:60])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UsageError, match=f"Cannot read image .*{name}"):
            read_image(tmp_path / name)
    with pytest.raises(UsageError, match="Cannot read image"):
        read_image(tmp_path)
