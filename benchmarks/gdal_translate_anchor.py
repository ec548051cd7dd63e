"""ogr2ogr driven through the current GDAL inside pyogrio's wheel (ctypes on GDALVectorTranslate).

Usage: python gdal_translate_anchor.py SRC DST [ogr2ogr options...]
Debian's ogr2ogr is GDAL 3.6, 1.4-4x slower than current GDAL: it would flatter whoever beats it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

import pyogrio


def main() -> int:
    src, dst, *args = sys.argv[1:]
    libdir = os.path.join(os.path.dirname(pyogrio.__file__), os.pardir, "pyogrio.libs")
    lib = ctypes.CDLL(sorted(glob.glob(os.path.join(libdir, "libgdal*.so*")))[0])
    lib.GDALAllRegister()
    lib.GDALOpenEx.restype = ctypes.c_void_p
    lib.GDALOpenEx.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.GDALVectorTranslateOptionsNew.restype = ctypes.c_void_p
    lib.GDALVectorTranslateOptionsNew.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p]
    lib.GDALVectorTranslate.restype = ctypes.c_void_p
    lib.GDALVectorTranslate.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_int)]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    hsrc = lib.GDALOpenEx(src.encode(), 0x04, None, None, None)
    if not hsrc:
        print(f"cannot open {src}", file=sys.stderr)
        return 2
    argv = (ctypes.c_char_p * (len(args) + 1))(*[a.encode() for a in args], None)
    opts = lib.GDALVectorTranslateOptionsNew(argv, None)
    err = ctypes.c_int(0)
    srcs = (ctypes.c_void_p * 1)(hsrc)
    out = lib.GDALVectorTranslate(dst.encode(), None, 1, srcs, opts, ctypes.byref(err))
    if not out:
        return 2
    lib.GDALClose(out)
    lib.GDALClose(hsrc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
