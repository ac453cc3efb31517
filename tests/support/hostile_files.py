"""Small hostile or unusual input files for the refusal tests, built in memory in milliseconds."""
from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb_png(side: int = 10240) -> bytes:
    """A valid 1-bit greyscale PNG of side x side black pixels: ~13 KB that claims 105 megapixels."""
    row = b"\x00" + bytes((side + 7) // 8)  # filter byte + packed bits
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit, greyscale
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(row * side, 9))
            + _chunk(b"IEND", b""))
