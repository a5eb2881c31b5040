"""aecimg.pillow: the .aec format for Pillow.  Importing the module registers it::

    import aecimg.pillow
    from PIL import Image
    im = Image.open("photo.aec")            # recognised by its signature, whatever the file's name
    im.save("copy.aec", quality=60)         # or im.save(f, format="AEC", quality=60)

Modes L, LA, RGB and RGBA are stored as they are; 1 is saved as L, P as RGB (RGBA with transparency), PA
and RGBa as RGBA, La as LA, and RGBX, CMYK, YCbCr, LAB and HSV as RGB.  Other modes (I, F, I;16) are
refused: they need a scaling only the caller can choose.  The ICC profile is read into
``im.info["icc_profile"]`` when the file is opened, and saved from the ``icc_profile`` argument or else
from ``im.info``.  Save arguments: ``quality`` (0..100, default 75), ``effort`` (0..9, default the
tools' level), ``refine`` (iterations of latent refinement), ``model`` (a model file; default the tools'),
``format_version`` (the container form, 1 or 2; default 2, the compact one).
A damaged file raises aecimg.AecimgError with the library's message (at open when the container is
broken, at load when the latent payload is).
"""

import io
import warnings

import numpy as np
from PIL import Image, ImageFile

import aecimg

FORMAT = "AEC"
SIGNATURE = b"\x8aAEC\r\n\x1a\n"
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_SAVE_AS = {"1": "L", "PA": "RGBA", "RGBa": "RGBA", "La": "LA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB",
            "LAB": "RGB", "HSV": "RGB"}


def _accept(prefix):
    return prefix[:8] == SIGNATURE


class AecImageFile(ImageFile.ImageFile):
    """A .aec file opened by Pillow; decoded on load()."""

    format = FORMAT
    format_description = "aec learned image codec"

    def _open(self):
        data = self.fp.read()
        if not data.startswith(SIGNATURE):
            raise SyntaxError("not an aec file")
        header = aecimg.info(data)  # validates the whole container: a damaged one raises here
        self._aec_data = data
        self._size = (header["width"], header["height"])
        mode = _MODES[header["channels"]]
        # Pillow 10.1 made `mode` a read-only property over `_mode`; 9.x keeps a plain attribute.
        if isinstance(getattr(type(self), "mode", None), property):
            self._mode = mode
        else:
            self.mode = mode
        icc = aecimg.read_icc(data)
        if icc:
            self.info["icc_profile"] = icc
        self.tile = []

    def load(self):
        if getattr(self, "_aec_data", None) is not None:
            pixels = aecimg.decode(self._aec_data)
            self._aec_data = None
            # The decoded pixels are read back by Pillow's raw decoder, as its WebP plugin does.
            if self.fp and self._exclusive_fp:
                self.fp.close()
            self.fp = io.BytesIO(pixels.tobytes())
            self.tile = [("raw", (0, 0) + self.size, 0, (self.mode, 0, 1))]
        return super().load()


def storable_image(im):
    """im converted to the mode it is saved as: L, LA, RGB or RGBA (see the module's documentation);
    OSError for a mode that needs a scaling first (I, F, I;16)."""
    mode = im.mode
    if mode == "P":
        mode = "RGBA" if "transparency" in im.info else "RGB"
    mode = _SAVE_AS.get(mode, mode)
    if mode not in _MODES.values():
        raise OSError("cannot write mode %s as AEC (convert it to L, LA, RGB or RGBA first)" % im.mode)
    if im.mode == mode:
        return im
    with warnings.catch_warnings():
        # Pillow advises converting a palette with per-entry transparency to RGBA, which is what this does.
        warnings.filterwarnings("ignore", "Palette images with Transparency", UserWarning)
        return im.convert(mode)


def _save(im, fp, filename):
    params = im.encoderinfo
    src = storable_image(im)
    icc = params.get("icc_profile", im.info.get("icc_profile"))
    data = aecimg.encode(np.asarray(src), quality=params.get("quality", aecimg.QUALITY_DEFAULT),
                         effort=params.get("effort"), model=params.get("model"), icc=icc or None,
                         refine=params.get("refine", 0), format_version=params.get("format_version"))
    fp.write(data)


Image.register_open(FORMAT, AecImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".aec")
Image.register_mime(FORMAT, "image/x-aec")
