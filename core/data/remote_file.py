"""Reading parts of a large remote file without downloading it: HTTP Range requests behind a file object.

``open_remote(file, folder)`` gives a seekable, read-only binary file object for a declared
:class:`~brainbench.data.downloads.RemoteFile`, from the first source that has it, in the order
:func:`~brainbench.data.downloads.fetch` uses: the data home's copy, each ``BRAINBENCH_MIRROR`` entry
(a directory, or a URL prefix read by Range requests), then the publisher's URL. h5py opens such
an object like a path, so a few images come out of NSD's 37 GB stimulus HDF5 for what they weigh.

Small reads (HDF5 metadata) are served from cached blocks of ``block`` bytes; a read of a block
or more is one request for exactly its bytes. Rows of an HDF5 dataset stored raw (no filters)
lie at byte ranges that :func:`row_ranges` finds, so many rows can be read at once, by
:meth:`RangeReader.read_range` from several threads, without going through h5py for each.
"""

from __future__ import annotations

import io
import math
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from .downloads import TIMEOUT_S, RemoteFile, dataset_dir, sources, unreachable, verify
from ..errors import DownloadError

__all__ = ["RangeReader", "open_remote", "row_ranges"]

BLOCK = 1 << 16
CACHED_BLOCKS = 256
ATTEMPTS = 3


class RangeReader(io.RawIOBase):
    """A read-only, seekable view of ``url`` that fetches the bytes asked for with HTTP Range requests.

    ``requests`` and ``bytes_fetched`` count the traffic. The file-object methods are for one thread;
    :meth:`read_range` may be called from many at once."""

    def __init__(self, url: str, *, block: int = BLOCK, cached_blocks: int = CACHED_BLOCKS):
        super().__init__()
        self.url, self.block, self.cached_blocks = url, block, cached_blocks
        self.requests = self.bytes_fetched = 0
        self._count = threading.Lock()
        self._position = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.size = self._get(0, 0, probe=True)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        start, end = self._position, min(self._position + len(view), self.size)
        if end <= start:
            return 0
        if end - start >= self.block:
            data = self._get(start, end - 1)
        else:
            first, last = start // self.block, (end - 1) // self.block
            data = b"".join(self._cached(i) for i in range(first, last + 1))[start - first * self.block:]
        n = end - start
        view[:n] = data[:n]
        self._position = end
        return n

    def read_range(self, first: int, last: int) -> bytes:
        """Bytes ``first..last`` (inclusive) in one request, past the block cache and the file position."""
        if not 0 <= first <= last < self.size:
            raise ValueError(f"bytes {first}-{last} are outside {self.url} ({self.size} bytes)")
        return self._get(first, last)

    def _cached(self, index: int) -> bytes:
        if index in self._blocks:
            self._blocks.move_to_end(index)
            return self._blocks[index]
        start = index * self.block
        data = self._get(start, min(start + self.block, self.size) - 1)
        self._blocks[index] = data
        if len(self._blocks) > self.cached_blocks:
            self._blocks.popitem(last=False)
        return data

    def _get(self, first: int, last: int, *, probe: bool = False):
        """Bytes ``first..last`` (inclusive); with ``probe``, the file's size from the Content-Range header."""
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={first}-{last}"})
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    if response.status != 206:
                        raise DownloadError(f"{self.url} does not honour HTTP Range requests (status "
                                            f"{response.status}), so parts of it cannot be read; download the "
                                            "whole file instead")
                    total = response.headers.get("Content-Range", "").rpartition("/")[2]
                    data = response.read()
                break
            except urllib.error.HTTPError:  # the server's answer (404, 403, ...): asking again will not change it
                raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        with self._count:
            self.requests += 1
            self.bytes_fetched += len(data)
        if probe:
            if not total.isdigit():
                raise DownloadError(f"{self.url} gave no file size in its Content-Range header, so parts of it "
                                    "cannot be read; download the whole file instead")
            return int(total)
        if len(data) != last - first + 1:
            raise DownloadError(f"{self.url} returned {len(data)} bytes for bytes {first}-{last}; the transfer was "
                                "cut short, try again")
        return data


def open_remote(file: RemoteFile, folder: str) -> BinaryIO:
    """A read-only binary file object for ``file`` from its first available source (module docstring)."""
    local = dataset_dir(folder) / file.name
    if verify(file, local):
        return open(local, "rb")
    tried = []
    for source in sources(file, folder):
        scheme = urlparse(source).scheme
        if scheme not in ("http", "https"):
            path = Path(urlparse(source).path) if scheme == "file" else Path(source)
            if path.is_file():
                return open(path, "rb")
            tried.append(f"{source} (no such file)")
            continue
        try:
            return RangeReader(source)
        except (OSError, DownloadError) as exc:  # URLError and HTTPError are OSErrors
            tried.append(f"{source} ({type(exc).__name__}: {exc})")
    raise DownloadError(unreachable(file, folder, local, tried))


def row_ranges(dataset: Any) -> Callable[[int], tuple[int, int]] | None:
    """Where row ``n`` of an h5py ``dataset`` lies in its file: ``n -> (first, last)`` byte, inclusive.

    Defined when the rows are stored raw (no filters such as compression), either contiguously (row n at
    offset + n * row_bytes) or chunked one row per chunk (the chunk index, read once per row); ``None``
    otherwise, and the rows must be read through h5py. Row bytes are C-ordered ``dataset.dtype`` values.
    """
    if dataset.id.get_create_plist().get_nfilters() or dataset.shape[0] == 0:
        return None
    row = dataset.dtype.itemsize * math.prod(dataset.shape[1:])
    if dataset.chunks is None:
        offset = dataset.id.get_offset()
        if offset is None:  # never written: no bytes in the file
            return None
        return lambda n: (offset + n * row, offset + (n + 1) * row - 1)
    if tuple(dataset.chunks) != (1, *dataset.shape[1:]):
        return None
    rest = (0,) * (len(dataset.shape) - 1)

    def where(n: int) -> tuple[int, int]:
        info = dataset.id.get_chunk_info_by_coord((n, *rest))
        if info.byte_offset is None:
            raise ValueError(f"row {n} of {dataset.name} was never written")
        return info.byte_offset, info.byte_offset + info.size - 1

    return where
