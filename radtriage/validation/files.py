"""File completeness: a volume file must hold every voxel its header promises, in a complete compressed stream.

SimpleITK zero-fills the missing part of a truncated NIfTI without a word, so the voxel payload is checked
against the header first: NIfTI with nibabel (data shape, dtype and ``vox_offset`` against the file size, or the
length of the decompressed ``.nii.gz`` stream, read to its end so a cut or corrupt stream is caught); NRRD and
MetaImage by their own text headers (inline raw data only; a detached data file is left to the reader).
Complex voxels are refused here too (no task reads them and SimpleITK cannot cast them).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from radtriage.errors import InputError

CHUNK = 1 << 22
RESAVE_HINT = "re-export or re-copy the file (it was probably cut off during a transfer)"

NRRD_TYPES: dict[str, int] = {
    **dict.fromkeys(("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
                     "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t",
                     "float"), 4),
    **dict.fromkeys(("longlong", "long long", "long long int", "signed long long", "signed long long int",
                     "int64", "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64",
                     "uint64_t", "double"), 8),
}
META_TYPES: dict[str, int] = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4, "MET_LONG": 4,
    "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8,
}


def _stream_length(path: Path, opener: str, skip: int = 0) -> int:
    """Bytes in a gzip (``opener='gzip'``) or zlib stream starting at ``skip``; raises InputError if incomplete."""
    total = 0
    try:
        if opener == "gzip":
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    total += len(chunk)
            return total
        decomp = zlib.decompressobj(zlib.MAX_WBITS | 32)
        with open(path, "rb") as fh:
            fh.seek(skip)
            while chunk := fh.read(CHUNK):
                total += len(decomp.decompress(chunk))
        total += len(decomp.flush())
        if not decomp.eof:
            raise EOFError("stream ended before the end-of-stream marker")
        return total
    except EOFError as exc:
        raise InputError(path, f"unreadable or corrupt file: truncated, the compressed stream ends early ({exc}); "
                               f"{RESAVE_HINT}") from exc
    except (OSError, zlib.error) as exc:
        raise InputError(path, f"unreadable or corrupt file: corrupt compressed stream ({exc}); {RESAVE_HINT}") from exc


def _short(expected: int, got: int) -> str:
    return f"{got} of {expected} bytes ({100.0 * got / max(expected, 1):.0f} %)"


def check_nifti_file(path: str | Path) -> None:
    """Refuse a NIfTI whose payload is shorter than its header says, whose stream is cut or corrupt, or complex."""
    import nibabel as nib

    path = Path(path)
    try:
        header = nib.load(str(path)).header
        shape = tuple(int(n) for n in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
        offset = int(header.get_data_offset())
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many types for damaged headers
        raise InputError(path, f"unreadable or corrupt NIfTI header: {exc}") from exc
    if dtype.kind == "c":
        raise InputError(path, f"complex-valued voxels ({dtype}): no task reads complex data; give the magnitude "
                               "(or the phase, for cmb_detect) as a real-valued volume")
    # a single-file NIfTI's voxels start after the header and its extension flag even when vox_offset says less
    # (nibabel reads from there): a cut file must be measured from that point
    if path.name.lower().endswith((".nii", ".nii.gz")):
        offset = max(offset, int(getattr(header, "sizeof_hdr", 348)) + 4)
    payload = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    expected = offset + payload
    compressed = path.name.lower().endswith(".gz")
    size = _stream_length(path, "gzip") if compressed else path.stat().st_size
    if size <= max(offset, 352) and payload > 0:  # 348-byte header + 4-byte extension flag
        raise InputError(path, f"unreadable or corrupt NIfTI file: header only, the file has {size} bytes and no "
                               f"voxel data (the header describes {'x'.join(map(str, shape))} {dtype} voxels); "
                               f"{RESAVE_HINT}")
    if size < expected:
        raise InputError(path, f"unreadable or corrupt NIfTI file: truncated, the header describes "
                               f"{'x'.join(map(str, shape))} {dtype} voxels but the file holds "
                               f"{_short(payload, size - offset)} of them; {RESAVE_HINT}")


def _text_header(path: Path, limit: int = 1 << 16) -> tuple[str, int]:
    """The text header of an NRRD (up to the blank line) and the offset of the data after it."""
    with open(path, "rb") as fh:
        head = fh.read(limit)
    end = head.find(b"\n\n")
    if end < 0:
        return head.decode("latin-1"), -1
    return head[:end].decode("latin-1"), end + 2


def _fields(text: str, sep: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, found, value = line.partition(sep)
        if found and not line.startswith("#"):
            out[key.strip().lower()] = value.strip()
    return out


def check_nrrd_file(path: str | Path) -> None:
    """Refuse an NRRD with inline raw or gzip data shorter than its header's sizes x type."""
    path = Path(path)
    text, start = _text_header(path)
    fields = _fields(text, ":")
    if start < 0 or "data file" in fields or "datafile" in fields or "sizes" not in fields:
        return  # detached data or an unusual header: left to the reader
    itemsize = NRRD_TYPES.get(fields.get("type", "").lower())
    encoding = fields.get("encoding", "raw").lower()
    try:
        count = int(np.prod([int(v) for v in fields["sizes"].split()], dtype=np.int64))
    except ValueError:
        return
    if itemsize is None:
        return
    expected = count * itemsize
    if encoding == "raw":
        got = path.stat().st_size - start
    elif encoding in ("gzip", "gz"):
        got = _stream_length(path, "zlib", start)
    else:
        return
    if got < expected:
        raise InputError(path, f"unreadable or corrupt NRRD file: truncated, the header describes {fields['sizes']} "
                               f"voxels of type {fields.get('type')} but the file holds {_short(expected, got)}; "
                               f"{RESAVE_HINT}")


def check_metaimage_file(path: str | Path) -> None:
    """Refuse a .mha with local raw or zlib data shorter than DimSize x ElementType x channels."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    marker = head.find(b"ElementDataFile")
    if marker < 0:
        return
    line_end = head.find(b"\n", marker)
    if line_end < 0:
        return
    fields = _fields(head[:line_end].decode("latin-1"), "=")
    if fields.get("elementdatafile", "").upper() != "LOCAL":
        return  # .mhd with a separate data file: left to the reader
    itemsize = META_TYPES.get(fields.get("elementtype", "").upper())
    try:
        count = int(np.prod([int(v) for v in fields.get("dimsize", "").split()], dtype=np.int64))
        channels = int(fields.get("elementnumberofchannels", "1"))
    except ValueError:
        return
    if itemsize is None or count == 0:
        return
    expected = count * channels * itemsize
    start = line_end + 1
    if fields.get("compresseddata", "false").lower() == "true":
        got = _stream_length(path, "zlib", start)
    else:
        got = path.stat().st_size - start
    if got < expected:
        raise InputError(path, f"unreadable or corrupt MetaImage file: truncated, the header describes "
                               f"{fields.get('dimsize')} voxels of {fields.get('elementtype')} but the file holds "
                               f"{_short(expected, got)}; {RESAVE_HINT}")


def check_volume_file(path: str | Path, fmt: str) -> None:
    """Completeness check for a volume file of format ``fmt`` ('nifti', 'nrrd' or 'metaimage')."""
    checks = {"nifti": check_nifti_file, "nrrd": check_nrrd_file, "metaimage": check_metaimage_file}
    check = checks.get(fmt)
    if check is not None:
        check(path)
