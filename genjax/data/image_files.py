"""Image files decoded strictly: a file that does not hold all of its pixels is refused.

Pillow zero-fills what a file lacks in two cases: with `ImageFile.LOAD_TRUNCATED_IMAGES` set (a
process-wide switch other libraries turn on, e.g. TFDS's image utilities), any file cut short;
and always, a PNG whose compressed pixel stream ends cleanly before the last row. Files are
therefore decoded with the switch off, and a PNG's pixel data is measured against the size its
header declares.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from genjax.data.checks import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type: grey, RGB, palette, grey+alpha, RGBA
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


@contextlib.contextmanager
def strict_decoding() -> Iterator[None]:
    """Pillow raises on truncated files inside the block, whatever the process-wide setting."""
    from PIL import ImageFile

    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def png_shortfall(data: bytes) -> str | None:
    """Why the pixel data of a PNG file (its bytes) falls short of its header, or None when the
    IDAT chunks decompress to every row (filter bytes included; Adam7 passes when interlaced)."""
    pos, header, idat = len(PNG_SIGNATURE), b"", []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            header = data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            idat.append(data[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(header) < 13:
        return "it has no complete image header (IHDR)"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[:13])
    bits = depth * _PNG_CHANNELS.get(colour, 1)
    expected = 0
    for x0, y0, dx, dy in _ADAM7 if interlace else ((0, 0, 1, 1),):
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            expected += rows * (1 + -(-cols * bits // 8))
    try:  # at most `expected` bytes: a decompression bomb is not expanded
        got = len(zlib.decompressobj().decompress(b"".join(idat), expected))
    except zlib.error as e:
        return f"its compressed pixel data is corrupt ({e})"
    if got < expected:
        return f"its pixel data holds {got} of the {expected} bytes its {width}x{height} header declares"
    return None


def load_image(path: Path, image_size: tuple[int, int] | None, what: str, mode: str | None = None) -> np.ndarray:
    """uint8 [H, W, 1] (grey) or [H, W, 3] of a whole image file, resized to `image_size`; call
    inside `strict_decoding`. `mode` "L" or "RGB" converts every image to it; None keeps grey
    images grey. A file Pillow cannot read, or a PNG short of rows, is a DataError."""
    from PIL import Image

    data = path.read_bytes()
    if data.startswith(PNG_SIGNATURE) and (why := png_shortfall(data)):
        raise DataError(f"{what}: image file {path} is truncated: {why}; re-export the image or remove the file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            im = im.convert(mode or ("L" if im.mode in ("1", "L", "I;16", "I", "F") else "RGB"))
            if image_size is not None and im.size != (image_size[1], image_size[0]):
                im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, Image.DecompressionBombError) as e:
        raise DataError(f"{what}: cannot read image {path}: {e}; re-export the image or remove the file") from e
    return a[..., None] if a.ndim == 2 else a
