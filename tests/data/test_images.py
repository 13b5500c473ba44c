"""Every image mode and array dtype reaches a model as the 8-bit RGB image it is (bit depth rescaled by the
mode's range, transparency composited on white) or is refused naming the stimulus, its mode and the fix.
Files are written with Pillow in tmp_path; every expected value is a hand computation."""

import numpy as np
import pytest
import torch
from PIL import Image

from brainbench.errors import ImageError
from brainbench.data.stimuli import BACKGROUND, StimulusSet, to_rgb_image

X = np.arange(32)
RAMP_8 = np.tile(np.round(X * 255 / 31).astype(np.uint8), (32, 1))  # 32 x 32 horizontal ramp, 0 .. 255
RAMP_16 = np.tile(np.round(X * 65535 / 31).astype(np.uint16), (32, 1))  # the same ramp, 0 .. 65535
YY, XX = np.mgrid[:32, :32]
R2 = (YY - 16) ** 2 + (XX - 16) ** 2
ALPHA = np.where(R2 < 64, 255, np.where(R2 < 144, 100, 0)).astype(np.uint8)  # opaque disk, half-clear ring, clear
GRAY = 128


def rgb(image_or_array, **kwargs):
    return np.asarray(to_rgb_image(image_or_array, **kwargs))


def from_16_bit(v):
    """round(v * 255 / 65535) in integers (v * 255 / 65535 is never a half)."""
    return ((2 * v.astype(np.int64) * 255 + 65535) // (2 * 65535)).astype(np.uint8)


def on_white(colour, alpha):
    """round((c * a + 255 * (255 - a)) / 255) in integers, per channel: 8-bit colour over white (never a half)."""
    x = colour.astype(np.int64) * alpha + 255 * (255 - alpha.astype(np.int64))
    return ((2 * x + 255) // 510).astype(np.uint8)


def gray3(plane):
    return np.repeat(np.asarray(plane)[..., None], 3, axis=-1)


def files(tmp_path, **images):
    """Saves each PIL image as its name (with suffix) and returns the StimulusSet of the files."""
    for name, image in images.items():
        image.save(tmp_path / name.replace("_", "."))
    return StimulusSet.from_files([tmp_path / name.replace("_", ".") for name in images], identifier="files")


def test_a_16_bit_ramp_is_rescaled_not_clipped_from_files_and_arrays(tmp_path):
    with Image.open(_save(Image.fromarray(RAMP_16), tmp_path / "r16.png")) as opened:
        assert opened.mode == "I;16"  # Pillow 13 gives I;16 for a 16-bit gray PNG; older versions give I
    stimuli = files(tmp_path, r8_png=Image.fromarray(RAMP_8), r16_png=Image.fromarray(RAMP_16),
                    r16b_tif=Image.frombytes("I;16B", (32, 32), RAMP_16.astype(">u2").tobytes()))
    expected = gray3(from_16_bit(RAMP_16))
    assert expected[0, ::4, 0].tolist() == [0, 33, 66, 99, 132, 165, 197, 230]  # the 0, 33, 66, ...
    assert np.array_equal(expected, gray3(RAMP_8))  # the 16-bit ramp rescales to exactly the 8-bit one
    assert np.array_equal(np.asarray(stimuli.image("r8")), expected)
    with Image.open(tmp_path / "r16b.tif") as big_endian:
        assert big_endian.mode == "I;16B"
    for sid in ("r16", "r16b"):
        assert np.array_equal(np.asarray(stimuli.image(sid)), expected)
    arrays = StimulusSet.from_arrays([RAMP_16, RAMP_16[None], torch.from_numpy(RAMP_16.astype(np.int32)) / 65535])
    for sid in arrays.ids:  # (H, W) and (1, H, W) uint16, and a float tensor in [0, 1]
        assert np.array_equal(np.asarray(arrays.image(sid)), expected)
    # the cache key follows the image a model sees: the 8- and 16-bit ramps are one stimulus
    assert stimuli.subset(["r8"]).content_hash() == StimulusSet.from_arrays([RAMP_16], ["r8"]).content_hash()


def _save(image, path):
    image.save(path)
    return path


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N"])
def test_16_bit_modes_of_every_byte_order_rescale_by_65535(mode):
    dtype = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}[mode]
    image = Image.frombytes(mode, (32, 32), RAMP_16.astype(dtype).tobytes())
    assert np.array_equal(rgb(image), gray3(from_16_bit(RAMP_16)))


def test_mode_i_is_16_bit_from_formats_that_only_decode_16_bit_samples_to_it(tmp_path):
    """PGM/PPM with maxval > 255 opens as I (Pillow scales maxval to 65535); a 16-bit PNG opened as I in
    older Pillow versions. I from a 32-bit TIFF or from memory has no white and is refused."""
    values = np.array([[0, 500, 1000, 250, 999, 1]], dtype=">u2")  # maxval 1000
    (tmp_path / "ramp.pgm").write_bytes(b"P5\n6 1\n1000\n" + values.tobytes())
    Image.fromarray(np.array([[0, 70000, 5]], dtype=np.int32)).save(tmp_path / "deep.tif")
    stimuli = StimulusSet.from_files([tmp_path / "ramp.pgm", tmp_path / "deep.tif"], identifier="files")
    with Image.open(tmp_path / "ramp.pgm") as pgm:
        assert pgm.mode == "I"
    scaled = np.round(values.astype(np.int64) * 65535 / 1000).astype(np.int64)  # what Pillow reads: 0..65535
    assert np.array_equal(np.asarray(stimuli.image("ramp")), gray3(from_16_bit(scaled)))
    assert np.asarray(stimuli.image("ramp"))[0, :, 0].tolist() == [0, 128, 255, 64, 255, 0]
    with Image.open(_save(Image.fromarray(RAMP_16), tmp_path / "r16.png")) as png:
        old_pillow = png.convert("I")  # as older Pillow versions open it
        old_pillow.format = "PNG"
        assert np.array_equal(rgb(old_pillow), gray3(from_16_bit(RAMP_16)))
    message = image_error(stimuli, "deep")
    assert message.startswith(f"stimulus 'deep' of 'files' ({tmp_path / 'deep.tif'}): mode I (32-bit integers, "
                              "values 0..70000, from TIFF) has no defined white")
    assert "save it as an 8-bit (L) or 16-bit (I;16) PNG" in message
    with pytest.raises(ImageError, match=r"the image: mode I \(32-bit integers, values 0\.\.255, from memory\)"):
        to_rgb_image(Image.fromarray(np.array([[0, 255]], dtype=np.int32)))


def test_one_bit_gray_rgb_and_rgbx_are_exact(tmp_path):
    bits = (XX + YY) % 3 == 0
    stimuli = files(tmp_path, bits_png=Image.fromarray(bits), gray_png=Image.fromarray(RAMP_8),
                    colour_png=Image.fromarray(np.stack([RAMP_8, RAMP_8.T, 255 - RAMP_8], -1)))
    with Image.open(tmp_path / "bits.png") as one:
        assert one.mode == "1"
    assert np.array_equal(np.asarray(stimuli.image("bits")), gray3(np.where(bits, 255, 0)))
    assert np.array_equal(np.asarray(stimuli.image("gray")), gray3(RAMP_8))
    colour = np.stack([RAMP_8, RAMP_8.T, 255 - RAMP_8], -1)
    assert np.array_equal(np.asarray(stimuli.image("colour")), colour)
    rgbx = Image.frombytes("RGBX", (32, 32), np.concatenate([colour, np.full((32, 32, 1), 7, np.uint8)], -1).tobytes())
    assert np.array_equal(rgb(rgbx), colour)


def test_cmyk_ycbcr_hsv_and_lab_follow_their_formulas(tmp_path):
    c, m, y, k = (np.array([[0, 255, 0, 100, 200, 37]], np.uint8), np.array([[0, 0, 0, 50, 10, 222]], np.uint8),
                  np.array([[0, 0, 0, 0, 90, 128]], np.uint8), np.array([[0, 0, 255, 30, 60, 3]], np.uint8))
    cmyk = Image.frombytes("CMYK", (6, 1), np.stack([c, m, y, k], -1).tobytes())
    cmyk.save(tmp_path / "cmyk.tif")
    with Image.open(tmp_path / "cmyk.tif") as opened:
        assert opened.mode == "CMYK"
        got = rgb(opened).astype(np.int64)
    nk = 255 - k.astype(np.int64)  # naive CMYK: (255 - C)(255 - K) / 255, no ICC profile
    expected = np.stack([(2 * (255 - p.astype(np.int64)) * nk + 255) // 510 for p in (c, m, y)], -1)
    assert np.array_equal(got, expected)
    assert got[0, 3].tolist() == [137, 181, 225]

    ycc = np.array([[[128, 128, 128], [100, 200, 50], [200, 60, 180], [30, 128, 128]]], np.uint8)
    got = rgb(Image.frombytes("YCbCr", (4, 1), ycc.tobytes())).astype(float)
    yy, cb, cr = (ycc[..., i].astype(float) for i in range(3))  # JFIF / ITU-R BT.601 full range
    expected = np.stack([yy + 1.402 * (cr - 128), yy - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                         yy + 1.772 * (cb - 128)], -1)
    assert np.abs(got - np.clip(expected, 0, 255)).max() <= 1  # Pillow's fixed-point tables

    hsv = np.array([[[0, 255, 255], [85, 255, 255], [170, 255, 255], [0, 0, 128]]], np.uint8)  # H: 0, 120, 240 deg
    assert rgb(Image.frombytes("HSV", (4, 1), hsv.tobytes())).tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255],
                                                                           [128, 128, 128]]]

    lightness = np.array([0, 64, 128, 200, 255], np.uint8)  # L* = L / 255 * 100, a* = b* = 0 (neutral)
    lab = Image.frombytes("LAB", (5, 1), np.stack([lightness, 0 * lightness, 0 * lightness], -1).tobytes())
    lab.save(tmp_path / "lab.tif")
    with Image.open(tmp_path / "lab.tif") as opened:
        assert opened.mode == "LAB"
        got = rgb(opened).astype(float)
    lstar = lightness / 255 * 100  # CIE L* -> Y -> sRGB
    luminance = np.where(lstar > 8, ((lstar + 16) / 116) ** 3, lstar / 903.3)
    srgb = np.where(luminance > 0.0031308, 1.055 * luminance ** (1 / 2.4) - 0.055, 12.92 * luminance) * 255
    assert np.abs(got - gray3(srgb[None])).max() <= 1  # littlecms, D50 white


def test_a_transparent_disk_gives_one_composite_on_white_in_every_mode(tmp_path):
    """A gray disk (alpha 255) inside a half-clear ring (alpha 100) on a clear background, in RGBA, LA, P with
    palette alpha (tRNS), PA, premultiplied RGBa/La, and arrays: all give round(128 a/255 + 255 (1 - a/255))."""
    assert BACKGROUND == (255, 255, 255)
    expected = gray3(on_white(np.full((32, 32), GRAY), ALPHA))
    assert expected[16, 16].tolist() == [128] * 3 and expected[0, 0].tolist() == [255] * 3
    assert expected[16, 6].tolist() == [(2 * (GRAY * 100 + 255 * 155) + 255) // 510] * 3 == [205] * 3
    rgba = np.concatenate([gray3(np.full((32, 32), GRAY, np.uint8)), ALPHA[..., None]], -1)
    rgba[ALPHA == 0, :3] = [10, 200, 30]  # what a clear pixel hides must not show
    la = np.stack([np.where(ALPHA == 0, 0, GRAY), ALPHA], -1).astype(np.uint8)  # black under the clear background
    palette = Image.new("P", (32, 32))
    palette.putpalette([0, 0, 0, GRAY, GRAY, GRAY, GRAY, GRAY, GRAY])
    palette.frombytes(np.select([ALPHA == 255, ALPHA == 100], [1, 2], 0).astype(np.uint8).tobytes())
    palette_alpha = Image.frombytes("PA", (32, 32), np.stack([np.ones_like(ALPHA), ALPHA], -1).tobytes())
    palette_alpha.putpalette([0, 0, 0, GRAY, GRAY, GRAY])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    palette_alpha.save(tmp_path / "pa.tif")  # PNG cannot hold PA
    palette.save(tmp_path / "p.png", transparency=bytes([0, 255, 100]))  # tRNS: an alpha per palette entry
    stimuli = StimulusSet.from_files([tmp_path / n for n in ("rgba.png", "la.png", "pa.tif", "p.png")])
    for sid, mode in [("rgba", "RGBA"), ("la", "LA"), ("pa", "PA"), ("p", "P")]:
        with Image.open(stimuli.path(sid)) as opened:
            assert opened.mode == mode
        assert np.array_equal(np.asarray(stimuli.image(sid)), expected), sid
    rgba_palette = Image.new("P", (32, 32))  # a palette with alpha, as RGBA.convert("P") gives, in memory
    rgba_palette.putpalette([0, 0, 0, 0, GRAY, GRAY, GRAY, 255, GRAY, GRAY, GRAY, 100], "RGBA")
    rgba_palette.frombytes(palette.tobytes())
    assert np.array_equal(rgb(rgba_palette), expected)
    straight = ALPHA.astype(float) / 255
    arrays = [rgba, la, la.transpose(2, 0, 1), rgba.astype(np.uint16) * 257,
              np.concatenate([gray3(np.full((32, 32), GRAY / 255)), straight[..., None]], -1)]
    for array in arrays:  # uint8 (H, W, 4), (H, W, 2), (2, H, W); uint16; floats
        assert np.array_equal(rgb(array), expected)
    # premultiplied: colour already times alpha, so over white it is c_pm + 255 - a (within 1 of straight alpha)
    premultiplied = Image.fromarray(rgba).convert("RGBa")
    pm = np.asarray(premultiplied)
    assert np.array_equal(rgb(premultiplied), pm[..., :3] + (255 - pm[..., 3:]))
    la_pm = Image.frombytes("La", (32, 32), np.stack([pm[..., 0], pm[..., 3]], -1).tobytes())
    assert np.array_equal(rgb(la_pm), gray3(pm[..., 0] + (255 - pm[..., 3])))
    assert np.abs(rgb(premultiplied).astype(int) - expected).max() <= 1


def test_a_transparent_index_gray_level_or_colour_is_composited_on_white(tmp_path):
    """Binary transparency: a P image's transparency index, and PNG tRNS naming one gray level (L, I;16) or one
    colour (RGB): those pixels are white, the rest as they are."""
    disk = R2 < 100
    expected = gray3(np.where(disk, GRAY, 255))
    indexed = Image.new("P", (32, 32))
    indexed.putpalette([10, 200, 30, GRAY, GRAY, GRAY])
    indexed.frombytes(disk.astype(np.uint8).tobytes())
    indexed.save(tmp_path / "index.png", transparency=0)
    indexed.save(tmp_path / "index.gif", transparency=0)
    Image.fromarray(np.where(disk, GRAY, 7).astype(np.uint8)).save(tmp_path / "gray.png", transparency=7)
    Image.fromarray(np.where(disk, GRAY * 257, 7).astype(np.uint16)).save(tmp_path / "deep.png", transparency=7)
    colour = np.where(disk[..., None], GRAY, np.array([1, 2, 3])).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "colour.png", transparency=(1, 2, 3))
    stimuli = StimulusSet.from_files([tmp_path / n for n in ("index.png", "index.gif", "gray.png", "deep.png",
                                                             "colour.png")], ids=["png", "gif", "L", "I16", "RGB"])
    for sid, mode in [("png", "P"), ("gif", "P"), ("L", "L"), ("I16", "I;16"), ("RGB", "RGB")]:
        with Image.open(stimuli.path(sid)) as opened:
            assert opened.mode == mode and "transparency" in opened.info, sid
        assert np.array_equal(np.asarray(stimuli.image(sid)), expected), sid


def test_array_dtypes_by_their_range():
    values = np.array([[0.0, 0.25, 0.5, 1 / 3, 0.999, 1.0]])
    hand = [[0, 64, 128, 85, 255, 255]]  # round(v * 255), halves up: 63.75 -> 64, 127.5 -> 128, 254.7 -> 255
    for dtype in (np.float16, np.float32, np.float64):
        got = rgb(values.astype(dtype))[..., 0]
        assert got.tolist() == np.floor(values.astype(dtype).astype(float) * 255 + 0.5).astype(int).tolist()
    assert rgb(values)[..., 0].tolist() == hand
    assert rgb(np.array([[True, False]]))[..., 0].tolist() == [[255, 0]]
    assert rgb(np.array([[0, 7, 255]], np.uint8))[..., 0].tolist() == [[0, 7, 255]]
    assert rgb(np.array([[0, 128, 32768, 65535]], np.uint16))[..., 0].tolist() == [[0, 0, 128, 255]]  # 127.5019 -> 128
    hwc = np.tile(np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25], [0.0, 0.0, 1.0]]), (2, 2, 1))  # (2, 6, 3)
    assert rgb(torch.from_numpy(hwc).permute(2, 0, 1))[0, :3].tolist() == [[0, 255, 128], [255, 0, 64], [0, 0, 255]]


def test_float_images_outside_0_1_are_refused_so_no_image_is_read_on_another_scale_than_its_neighbours():
    """The old per-image guess (max <= 1: scale by 255, else take as 0-255) read a 0-255 image whose values are
    all <= 1 255x brighter than its neighbours; now floats mean [0, 1] and anything else is refused with the fix."""
    dark = np.full((4, 4, 3), 80.0)
    stimuli = StimulusSet.from_arrays([dark / 255, dark, dark - 100, np.full((4, 4), 0.5, np.float32)],
                                      ids=["unit", "0-255", "negative", "f32"], identifier="set")
    assert np.asarray(stimuli.image("unit")).tolist() == np.full((4, 4, 3), 80).tolist()
    assert np.asarray(stimuli.image("f32"))[0, 0].tolist() == [128] * 3  # 127.5 -> 128
    assert image_error(stimuli, "0-255") == (
        "stimulus '0-255' of 'set': a float64 image array must hold values in [0, 1] (1 = white); this one holds "
        "80..80. Divide a 0..255 image by 255 (or pass it as uint8), or rescale other ranges to [0, 1] the same "
        "way for every stimulus (np.clip(image, 0, 1) for values just outside it from rounding)")
    assert "this one holds -20..-20" in image_error(stimuli, "negative")


def test_mode_f_files_follow_the_float_rule(tmp_path):
    ramp = RAMP_8.astype(np.float32) / 255
    Image.fromarray(ramp).save(tmp_path / "unit.tif")
    Image.fromarray(ramp * 255).save(tmp_path / "bytes.tif")
    stimuli = StimulusSet.from_files([tmp_path / "unit.tif", tmp_path / "bytes.tif"], identifier="files")
    with Image.open(tmp_path / "unit.tif") as opened:
        assert opened.mode == "F"
    assert np.array_equal(np.asarray(stimuli.image("unit")), gray3(RAMP_8))
    assert image_error(stimuli, "bytes") == (
        f"stimulus 'bytes' of 'files' ({tmp_path / 'bytes.tif'}): a mode F image must hold values in [0, 1] "
        "(1 = white); this one holds 0..255. Divide a 0..255 image by 255 (or pass it as uint8), or rescale other "
        "ranges to [0, 1] the same way for every stimulus (np.clip(image, 0, 1) for values just outside it from "
        "rounding)")


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint32, np.uint64])
def test_integer_arrays_other_than_uint8_and_uint16_are_refused_with_the_cast_to_make(dtype):
    stimuli = StimulusSet.from_arrays([np.array([[0, 100], [20, 3]], dtype=dtype)], ["a/01"], identifier="set")
    assert image_error(stimuli, "a/01") == (
        f"stimulus 'a/01' of 'set': the image array is {np.dtype(dtype)} (values 0..100), which has no defined "
        "white; pass uint8 (0..255) or uint16 (0..65535) - e.g. array.astype(np.uint8) if its values are 0..255 - "
        "or floats in [0, 1]")


def test_arrays_that_are_no_image_are_refused_naming_the_stimulus():
    stimuli = StimulusSet.from_arrays(
        [np.ones((4, 4), complex), np.zeros((0, 4)), np.zeros((6, 8, 5)), np.full((2, 2), np.inf),
         torch.ones(2, 2, requires_grad=True)], ids=["complex", "empty", "five", "inf", "grad"], identifier="set")
    assert image_error(stimuli, "complex") == "stimulus 'complex' of 'set': an image array must hold numbers; got dtype complex128"
    assert image_error(stimuli, "empty").endswith("got shape (0, 4)")
    assert "C = 1 (gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA); got shape (6, 8, 5)" in image_error(stimuli, "five")
    assert "the float64 image array holds 4 NaN or infinite values" in image_error(stimuli, "inf")
    assert image_error(stimuli, "grad").startswith("stimulus 'grad' of 'set': cannot be read as an array (")
    assert image_error(stimuli, "grad").endswith("(tensor.detach().cpu().float())")


def test_a_mode_pillow_adds_later_is_refused_not_guessed(monkeypatch):
    image = Image.new("L", (2, 2))
    monkeypatch.setattr(Image.Image, "mode", property(lambda self: "I;16S"))
    with pytest.raises(ImageError, match=r"^stimulus 'x': mode I;16S is not an image mode brainbench reads \(it "
                                         r"reads RGB, RGBX, L, 1, CMYK, .*, I, F\); save the image as RGB"):
        to_rgb_image(image, source="stimulus 'x'")


def image_error(stimuli, stimulus_id):
    with pytest.raises(ImageError) as info:
        stimuli.image(stimulus_id)
    return str(info.value)


@pytest.fixture
def nsd_home(tmp_path, monkeypatch):
    import brainbench

    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    brainbench.get_dataset("nsd")._subject.cache_clear()


def test_nsd_pngs_and_hdf5_images_go_through_the_same_conversion(tmp_path, nsd_home):
    """NSD's shared PNGs (once .convert("RGB"), which drops alpha) and nsd_stimuli.hdf5 rows (once cast to uint8,
    which turned floats in [0, 1] black) are written as the image to_rgb_image reads; other dtypes are refused."""
    import h5py
    from helpers.nsd_layout import write_nsd

    import brainbench
    from brainbench.plugins.datasets import nsd

    root = write_nsd(tmp_path / "copy", subjects=[1])
    shared = sorted((root / nsd.SHARED_PNGS).glob("*_nsd00001.png"))[0]  # nsdId 0
    Image.fromarray(np.stack([np.full((32, 32), GRAY, np.uint8), ALPHA], -1), "LA").save(shared)
    nsd.import_nsd(root, subjects=[1], progress=False)
    image = np.asarray(brainbench.get_dataset("nsd").stimulus_set().image(nsd.stimulus_id(0)))
    assert np.array_equal(image, gray3(on_white(np.full((32, 32), GRAY), ALPHA)))

    out = tmp_path / "pngs"
    out.mkdir()
    unit = np.random.default_rng(0).random((3, 4, 5, 3))
    with h5py.File(tmp_path / "float.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=unit)
    with h5py.File(tmp_path / "wide.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=np.round(unit * 65535).astype(np.uint16))
    with h5py.File(tmp_path / "int.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=np.round(unit * 255).astype(np.int64))
    nsd.importer._write_from_hdf5(tmp_path / "float.hdf5", [0, 2], out, progress=False)
    for n in (0, 2):
        with Image.open(out / f"{nsd.stimulus_id(n)}.png") as png:
            assert np.array_equal(np.asarray(png), np.floor(unit[n] * 255 + 0.5).astype(np.uint8))
    nsd.importer._write_from_hdf5(tmp_path / "wide.hdf5", [1], out, progress=False)
    with Image.open(out / f"{nsd.stimulus_id(1)}.png") as png:
        assert np.array_equal(np.asarray(png), from_16_bit(np.round(unit[1] * 65535)))
    (out / f"{nsd.stimulus_id(1)}.png").unlink()
    with pytest.raises(ImageError, match=rf"^NSD image 1 of {nsd.STIMULI_HDF5}: the image array is int64 \(values "):
        nsd.importer._write_from_hdf5(tmp_path / "int.hdf5", [1], out, progress=False)
    assert not (out / f"{nsd.stimulus_id(1)}.png").exists()


def test_a_float_just_outside_0_1_is_refused_showing_the_digits_that_put_it_there():
    over = StimulusSet.from_arrays([np.full((4, 4), 1.0000001, np.float32), np.full((4, 4), -1e-9)],
                                   ids=["over", "under"], identifier="set")
    assert "this one holds 1.0000001..1.0000001" in image_error(over, "over")  # was "holds 1..1"
    assert "np.clip(image, 0, 1)" in image_error(over, "over")
    assert "this one holds -1e-09..-1e-09" in image_error(over, "under")
