"""shared/media/image.py: every image a user drops in becomes an upright RGB picture, or a clear error."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.errors import CorruptMedia, TooLarge
from shared.media.image import decoded_bytes, open_rgb, thumbnail_jpeg

LIMIT = 100_000_000
RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


def opened(path: Path, *, max_pixels: int = LIMIT, min_side: int = 256) -> np.ndarray:
    image = open_rgb(path, max_pixels=max_pixels, min_side=min_side)
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def close_to(pixel: np.ndarray, expected: tuple[int, int, int], tolerance: int = 8) -> bool:
    return bool(np.all(np.abs(pixel - np.array(expected)) <= tolerance))


def two_colour_palette(size: tuple[int, int] = (16, 8)) -> Image.Image:
    """Left half palette index 0 (red), right half index 1 (blue)."""
    image = Image.new("P", size, 0)
    image.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    image.paste(1, (size[0] // 2, 0, size[0], size[1]))
    return image


# ---------------------------------------------------------------- colour modes


def test_rgb_stays_as_it_is(tmp_path: Path) -> None:
    pixels = opened(save(Image.new("RGB", (10, 10), (10, 200, 30)), tmp_path / "a.png"))
    assert close_to(pixels[5, 5], (10, 200, 30), 0)


def test_palette_without_transparency_keeps_its_colours(tmp_path: Path) -> None:
    pixels = opened(save(two_colour_palette(), tmp_path / "p.png"))
    assert close_to(pixels[4, 0], RED, 0)
    assert close_to(pixels[4, -1], BLUE, 0)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(tmp_path: Path, fmt: str) -> None:
    path = save(two_colour_palette(), tmp_path / f"p.{fmt.lower()}", format=fmt, transparency=0)
    pixels = opened(path)
    assert close_to(pixels[4, 0], WHITE, 0)
    assert close_to(pixels[4, -1], BLUE, 0)


def test_rgba_alpha_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (30, 10), (255, 0, 0, 0))  # fully transparent red
    image.paste((255, 0, 0, 255), (10, 0, 20, 10))  # opaque red
    image.paste((0, 0, 0, 128), (20, 0, 30, 10))  # half-transparent black
    pixels = opened(save(image, tmp_path / "rgba.png"))
    assert close_to(pixels[5, 5], WHITE, 0)
    assert close_to(pixels[5, 15], RED, 0)
    assert close_to(pixels[5, 25], (127, 127, 127), 2)


def test_la_alpha_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("LA", (20, 10), (0, 0))  # transparent black
    image.paste((0, 255), (10, 0, 20, 10))  # opaque black
    pixels = opened(save(image, tmp_path / "la.png"))
    assert close_to(pixels[5, 5], WHITE, 0)
    assert close_to(pixels[5, 15], (0, 0, 0), 0)


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    image = Image.new("CMYK", (32, 16), (0, 0, 0, 0))  # no ink: white
    image.paste((0, 0, 0, 255), (16, 0, 32, 16))  # full black ink
    path = save(image, tmp_path / "cmyk.jpg", quality=95)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    pixels = opened(path)
    assert close_to(pixels[8, 2], WHITE, 12)
    assert close_to(pixels[8, 29], (0, 0, 0), 12)


def test_cmyk_cyan_is_cyan(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (16, 16), (255, 0, 0, 0)), tmp_path / "cyan.jpg", quality=95)
    assert close_to(opened(path)[8, 8], (0, 255, 255), 12)


def test_16_bit_png_white_stays_white_and_black_stays_black(tmp_path: Path) -> None:
    values = np.zeros((8, 24), dtype=np.uint16)
    values[:, 8:16] = 32768
    values[:, 16:] = 65535
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    pixels = opened(path)
    assert close_to(pixels[4, 2], (0, 0, 0), 1)
    assert close_to(pixels[4, 12], (128, 128, 128), 2)
    assert close_to(pixels[4, 22], WHITE, 1)


def test_an_all_white_16_bit_png_stays_near_white(tmp_path: Path) -> None:
    path = save(Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)), tmp_path / "white16.png")
    assert close_to(opened(path)[4, 4], WHITE, 2)


def test_a_nearly_black_16_bit_png_stays_near_black(tmp_path: Path) -> None:
    path = save(Image.fromarray(np.full((8, 8), 255, dtype=np.uint16)), tmp_path / "dark16.png")
    assert close_to(opened(path)[4, 4], (0, 0, 0), 2)


def test_32_bit_integer_and_float_grayscale_are_converted(tmp_path: Path) -> None:
    ints = np.zeros((8, 16), dtype=np.int32)
    ints[:, 8:] = 200
    int_path = save(Image.fromarray(ints), tmp_path / "i.tif")
    float_path = save(Image.fromarray(ints.astype(np.float32)), tmp_path / "f.tif")
    for path, mode in ((int_path, "I"), (float_path, "F")):
        with Image.open(path) as check:
            assert check.mode == mode
        pixels = opened(path)
        assert close_to(pixels[4, 2], (0, 0, 0), 0)
        assert close_to(pixels[4, 12], (200, 200, 200), 0)


def test_grayscale_and_bilevel_become_gray_rgb(tmp_path: Path) -> None:
    gray = opened(save(Image.new("L", (8, 8), 90), tmp_path / "l.png"))
    assert close_to(gray[4, 4], (90, 90, 90), 0)
    bilevel = Image.new("1", (16, 8), 0)
    bilevel.paste(1, (8, 0, 16, 8))
    pixels = opened(save(bilevel, tmp_path / "one.png"))
    assert close_to(pixels[4, 2], (0, 0, 0), 0)
    assert close_to(pixels[4, 12], WHITE, 0)


# ---------------------------------------------------------------- orientation and size


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (60, 30), BLUE)
    image.paste(RED, (0, 0, 30, 30))  # red on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to view
    path = save(image, tmp_path / "turned.jpg", exif=exif, quality=95)
    upright = open_rgb(path, max_pixels=LIMIT, min_side=256)
    assert upright.size == (30, 60)
    pixels = np.asarray(upright).astype(int)
    assert close_to(pixels[5, 15], RED, 30)  # what was on the left is now on top
    assert close_to(pixels[55, 15], BLUE, 30)


def test_a_jpeg_without_orientation_keeps_its_size(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (60, 30), BLUE), tmp_path / "plain.jpg")
    assert open_rgb(path, max_pixels=LIMIT, min_side=256).size == (60, 30)


def test_a_large_jpeg_is_decoded_reduced_but_not_below_the_thumbnail(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4000, 3000), (20, 120, 220)), tmp_path / "big.jpg")
    image = open_rgb(path, max_pixels=LIMIT, min_side=256)
    assert 256 <= min(image.size) <= 375  # 1/8 scale in the decoder: 500x375
    assert image.size[0] / image.size[1] == pytest.approx(4 / 3, rel=0.02)


def test_over_max_pixels_is_too_large_naming_the_setting(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (200, 100)), tmp_path / "wide.png")
    with pytest.raises(TooLarge, match="MMINDEX_IMAGE__MAX_PIXELS") as raised:
        open_rgb(path, max_pixels=19_999, min_side=256)
    assert "200x100" in str(raised.value)
    assert open_rgb(path, max_pixels=20_000, min_side=256).size == (200, 100)


# ---------------------------------------------------------------- memory


PEAK = """
import sys
from pathlib import Path
from shared.media.image import open_rgb

def high_water_mark():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

before = high_water_mark()
image = open_rgb(Path(sys.argv[1]), max_pixels=100_000_000, min_side=256, max_decoded_bytes=512 * 1024**2)
print(image.mode, image.size[0], image.size[1], high_water_mark() - before)
"""


def decode_peak(path: Path) -> tuple[str, tuple[int, int], int]:
    """Mode and size of the decoded image, and how far decoding it raised a fresh process's peak memory."""
    result = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, check=True)
    mode, width, height, grown = result.stdout.split()
    return mode, (int(width), int(height)), int(grown)


@pytest.mark.parametrize(
    ("name", "values", "mode"),
    [
        ("float.tif", np.full((4000, 4000), 1000.0, dtype=np.float32), "F"),
        ("deep.png", np.tile(np.arange(4000, dtype=np.uint16) * 16, (4000, 1)), "I;16"),
    ],
)
def test_high_bit_depth_images_decode_without_a_float64_copy(
    tmp_path: Path, name: str, values: np.ndarray, mode: str
) -> None:
    """16 Mpx: the old conversion (float64 copies of the whole image) peaked at 491 MB (float) and 323 MB
    (16-bit); strip by strip it takes 157 and 115 MB, about the image, its 8-bit plane and the RGB result."""
    path = tmp_path / name
    Image.fromarray(values).save(path, **({"compression": "tiff_deflate"} if name.endswith(".tif") else {}))
    with Image.open(path) as check:
        assert check.mode == mode
    decoded, size, grown = decode_peak(path)
    assert (decoded, size) == ("RGB", (4000, 4000))
    budget = decoded_bytes(mode, size)
    assert grown < 1.5 * budget + 40 * 1024**2, f"decoding peaked {grown / 1024**2:.0f} MB above the start"


def test_a_16_bit_strip_keeps_its_values(tmp_path: Path) -> None:
    """Strips of a tall image are converted in order: each row keeps its own scaled value."""
    rows = np.repeat(np.arange(1500, dtype=np.uint16)[:, None] * 43, 1000, axis=1)  # 1.5 Mpx: two strips
    pixels = opened(save(Image.fromarray(rows), tmp_path / "tall.png"))
    expected = np.rint(np.arange(1500) * 43 * 255 / 65535).astype(int)
    assert np.array_equal(pixels[:, 500, 0], expected)
    assert np.array_equal(pixels[:, 999, 2], expected)


def test_over_the_decoded_byte_budget_is_too_large_naming_the_setting(tmp_path: Path) -> None:
    """2 Mpx of float32: the values (4 bytes a pixel), their 8-bit plane (1) and the RGB result (4): 17.2 MiB."""
    path = save(Image.fromarray(np.zeros((1000, 2000), dtype=np.float32)), tmp_path / "wide.tif")
    with pytest.raises(TooLarge, match="MMINDEX_IMAGE__MAX_DECODED_BYTES") as raised:
        open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=17 * 1024**2)
    message = str(raised.value)
    assert "2000x1000" in message and "17 MiB" in message and "\n" not in message
    assert open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=18 * 1024**2).size == (2000, 1000)


def transparent_palette(size: tuple[int, int]) -> Image.Image:
    image = Image.fromarray((np.arange(size[0] * size[1]) % 200).astype(np.uint8).reshape(size[1], size[0]), "L")
    return image.convert("P")


def turned_rgb(size: tuple[int, int]) -> tuple[Image.Image, Image.Exif]:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to view: exif_transpose makes a turned copy of the pixels
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels), exif


def test_a_transparent_palette_image_over_its_converted_size_is_too_large_naming_the_setting(tmp_path: Path) -> None:
    """1 Mpx: the palette (1 byte a pixel), its RGBA copy (4) and the RGB result (4) take 8.6 MiB at once."""
    path = save(transparent_palette((1000, 1000)), tmp_path / "clear.png", transparency=3)
    with pytest.raises(TooLarge, match="MMINDEX_IMAGE__MAX_DECODED_BYTES") as raised:
        open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=8 * 1024**2)
    assert "1000x1000 P image needs 9 MiB" in str(raised.value)
    assert open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=9 * 1024**2).size == (1000, 1000)


def test_an_opaque_palette_image_is_converted_without_an_rgba_copy(tmp_path: Path) -> None:
    path = save(transparent_palette((1000, 1000)), tmp_path / "opaque.png")
    assert open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=5 * 1024**2).size == (1000, 1000)


def test_an_exif_turned_image_over_its_turned_size_is_too_large_naming_the_setting(tmp_path: Path) -> None:
    """1 Mpx RGB whose EXIF says to turn it: the pixels and their turned copy take 7.6 MiB at once."""
    image, exif = turned_rgb((1000, 800))
    path = save(image, tmp_path / "turned.png", exif=exif)
    with pytest.raises(TooLarge, match="MMINDEX_IMAGE__MAX_DECODED_BYTES") as raised:
        open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=6 * 1024**2)
    assert "1000x800 RGB image needs 6 MiB" in str(raised.value)
    assert open_rgb(path, max_pixels=LIMIT, min_side=256, max_decoded_bytes=7 * 1024**2).size == (800, 1000)


@pytest.mark.parametrize("kind", ["transparent palette", "opaque palette", "turned", "gray with alpha"])
def test_the_decoded_byte_estimate_is_not_below_the_real_peak(tmp_path: Path, kind: str) -> None:
    """4 Mpx: decoding, turning and converting raise a fresh process's peak by no more than the estimate (and
    a few MiB of the decoders' own buffers), which is what the budget refuses by."""
    size = (2000, 2000)
    path = tmp_path / "image.png"
    if kind == "turned":
        image, exif = turned_rgb(size)
        image.save(path, exif=exif)
    elif kind == "gray with alpha":
        turned_rgb(size)[0].convert("LA").save(path)
    else:
        transparent_palette(size).save(path, **({"transparency": 3} if kind == "transparent palette" else {}))
    with Image.open(path) as check:
        mode = check.mode
    estimate = decoded_bytes(mode, size, transparent=kind == "transparent palette", turned=kind == "turned")
    _, _, grown = decode_peak(path)
    assert grown <= estimate + 4 * 1024**2, f"{grown / 1024**2:.0f} MiB peak over {estimate / 1024**2:.0f} estimated"


# ---------------------------------------------------------------- Pillow's own limit

OWN_LIMIT = """
import sys
from pathlib import Path

from PIL import Image

default = Image.MAX_IMAGE_PIXELS
from shared.errors import TooLarge
from shared.media.image import open_rgb

print(Image.MAX_IMAGE_PIXELS == default)  # importing the module changes nothing
try:
    open_rgb(Path(sys.argv[1]), max_pixels=10**9, min_side=256, max_decoded_bytes=1024**2)
except TooLarge as error:
    print(error)
print(Image.MAX_IMAGE_PIXELS)
"""


def test_an_image_over_pillow_s_own_limit_is_judged_by_mmindex_s_limits_alone(tmp_path: Path) -> None:
    """200 Mpx, over twice Pillow's default limit (where Pillow refuses to open an image): in a fresh process,
    importing shared.media.image leaves Pillow's limit alone, and `open_rgb` turns it off to apply the settings."""
    path = save(Image.new("1", (20_000, 10_000)), tmp_path / "huge.png")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", OWN_LIMIT, str(path)], capture_output=True, text=True, check=True
    )
    kept, error, limit = result.stdout.splitlines()
    assert kept == "True"
    assert "MMINDEX_IMAGE__MAX_DECODED_BYTES" in error and "20000x10000" in error
    assert limit == "None"


# ---------------------------------------------------------------- broken files


def test_a_truncated_jpeg_is_corrupt(tmp_path: Path) -> None:
    rng = random.Random(3)
    noise = Image.frombytes("RGB", (256, 256), rng.randbytes(256 * 256 * 3))
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=90)
    data = out.getvalue()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMedia):
        open_rgb(path, max_pixels=LIMIT, min_side=256)


@pytest.mark.parametrize(
    "content",
    [random.Random(5).randbytes(4096), b"hello, this is not an image\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["random", "text", "png-header-only"],
)
def test_garbage_is_corrupt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.jpg"
    path.write_bytes(content)
    with pytest.raises(CorruptMedia):
        open_rgb(path, max_pixels=LIMIT, min_side=256)


# ---------------------------------------------------------------- thumbnails


def decode(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return image


@pytest.mark.parametrize(("size", "expected"), [((600, 400), (384, 256)), ((400, 1000), (256, 640))])
def test_thumbnail_shorter_side_is_the_requested_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert decode(thumbnail_jpeg(Image.new("RGB", size, RED), 256)).size == expected


def test_thumbnail_never_upscales() -> None:
    assert decode(thumbnail_jpeg(Image.new("RGB", (120, 90), RED), 256)).size == (120, 90)


def test_thumbnail_keeps_the_picture() -> None:
    image = Image.new("RGB", (600, 400), BLUE)
    image.paste(RED, (0, 0, 300, 400))
    pixels = np.asarray(decode(thumbnail_jpeg(image, 256))).astype(int)
    assert close_to(pixels[128, 20], RED, 30)
    assert close_to(pixels[128, 360], BLUE, 30)
