"""Dataset files: declared with URL and checksum, fetched from a mirror or the publisher.

``fetch(file, folder)`` puts ``file`` at ``<data home>/datasets/<folder>/<file.name>``:

1. a file already there that verifies is used as is (its hash is remembered beside it, keyed by
   size and modification time, so a large file is hashed once);
2. otherwise, under a lock (two processes never fetch the same file at once), each source is
   tried in turn: every ``BRAINBENCH_MIRROR`` entry (a directory, or a URL prefix; the file is
   at ``<mirror>/<folder>/<name>``), then the publisher's URL unless ``BRAINBENCH_OFFLINE`` is set;
3. bytes go to ``<name>.part`` (an interrupted HTTP download resumes from it with a Range
   request), are verified (sha256, or the sha1 a publisher gives), and only then moved into
   place, so a partial file is never mistaken for a complete one.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ChecksumError, DownloadError
from .home import OFFLINE_ENV, data_home, offline
from ..progress import byte_progress

__all__ = ["MIRROR_ENV", "RemoteFile", "accept_terms", "dataset_dir", "fetch", "file_hash", "mirrors", "remove",
           "sources", "terms_accepted", "unpack", "unpacked", "unreachable", "verify"]

MIRROR_ENV = "BRAINBENCH_MIRROR"
CHUNK = 1 << 20
TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: where the publisher serves it and the hash it must have."""

    name: str  # path under the dataset's folder (in the data home and in a mirror)
    url: str  # the publisher's URL: http(s):// or file://
    sha256: str | None = None
    sha1: str | None = None  # where the publisher gives only sha1 (Brain-Score's stores)
    size: int | None = None  # bytes, for listings before download
    unverified: str | None = None  # why there is no checksum (the publisher gives none): only completeness is checked

    def __post_init__(self) -> None:
        if not (self.sha256 or self.sha1 or self.unverified):
            raise ValueError(f"dataset file {self.name!r} declares no checksum (sha256 or sha1) and no reason for none")

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "sha1" if self.sha1 else "none"

    @property
    def digest(self) -> str:
        return (self.sha256 or self.sha1 or "").lower()


def dataset_dir(folder: str) -> Path:
    """``<data home>/datasets/<folder>``."""
    return data_home() / "datasets" / folder


def _terms_stamp(folder: str) -> Path:
    return dataset_dir(folder) / ".terms-accepted"


def terms_accepted(folder: str) -> bool:
    """Whether the terms of use of the dataset in ``folder`` were accepted on this machine."""
    return _terms_stamp(folder).is_file()


def accept_terms(folder: str) -> None:
    """Record that the terms of use of the dataset in ``folder`` are accepted (once per data home)."""
    import datetime as dt

    _terms_stamp(folder).parent.mkdir(parents=True, exist_ok=True)
    _terms_stamp(folder).write_text(dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def mirrors() -> list[str]:
    """``BRAINBENCH_MIRROR`` entries, separated by ``;``: directories or URL prefixes, tried in order."""
    return [m.strip() for m in os.environ.get(MIRROR_ENV, "").split(";") if m.strip()]


def file_hash(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _stamp_key(file: RemoteFile, path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns} {file.algorithm}:{file.digest}"


def verify(file: RemoteFile, path: Path) -> bool:
    """Whether ``path`` exists and has ``file``'s hash (remembered by size and mtime once checked)."""
    if not path.is_file():
        return False
    stamp = _stamp(path)
    if stamp.is_file() and stamp.read_text() == _stamp_key(file, path):
        return True
    if file.unverified:  # complete transfers only are moved into place; a declared size must match
        return file.size is None or path.stat().st_size == file.size
    if file_hash(path, file.algorithm) != file.digest:
        return False
    stamp.write_text(_stamp_key(file, path))
    return True


def remove(file: RemoteFile, folder: str) -> list[Path]:
    """Delete ``file`` from the data home with what belongs to it (hash stamp, lock, partial download, and
    the folder :func:`unpack` made of an archive); returns what was removed."""
    path = dataset_dir(folder) / file.name
    related = [path, _stamp(path), path.with_name(f".{path.name}.lock"), path.with_name(f"{path.name}.part"),
               unpacked(path)]
    removed = [p for p in related if p.exists()]
    for p in removed:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return removed


def fetch(file: RemoteFile, folder: str, *, progress: bool = True) -> Path:
    """The verified local copy of ``file`` (see the module docstring for the order of sources)."""
    from filelock import FileLock

    dest = dataset_dir(folder) / file.name
    if verify(file, dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest.with_name(f".{dest.name}.lock"))):
        if verify(file, dest):  # another process fetched it while we waited
            return dest
        dest.unlink(missing_ok=True)
        _stamp(dest).unlink(missing_ok=True)
        tried, mismatch = [], None
        for source in sources(file, folder):
            try:
                _download(source, file, dest, progress=progress)
                return dest
            except ChecksumError as exc:  # a damaged copy: try the next source, report it if none works
                mismatch = exc
                tried.append(f"{source} (wrong checksum)")
            except (OSError, http.client.HTTPException) as exc:  # URLError and HTTPError are OSErrors
                tried.append(f"{source} ({type(exc).__name__}: {exc})")
    if mismatch is not None:
        raise ChecksumError(f"{mismatch} (tried {'; '.join(tried)})")
    raise DownloadError(unreachable(file, folder, dest, tried))


def sources(file: RemoteFile, folder: str) -> Iterator[str]:
    """Where ``file`` may be had, in the order tried: each mirror (directory or URL prefix), then the publisher."""
    for mirror in mirrors():
        if "://" in mirror:
            yield f"{mirror.rstrip('/')}/{folder}/{file.name}"
        else:
            yield str(Path(mirror).expanduser() / folder / file.name)
    if not offline() or urlparse(file.url).scheme == "file":
        yield file.url


def unreachable(file: RemoteFile, folder: str, dest: Path, tried: Sequence[str]) -> str:
    """The error for a file no source gave: what was tried, and where to put a copy fetched by hand."""
    attempts = "; ".join(tried) if tried else "no source (no mirror is set)"
    blocked = f" {OFFLINE_ENV} forbids downloading from the publisher." if offline() else ""
    return (f"could not fetch {file.name!r} of dataset folder {folder!r}: tried {attempts}.{blocked} "
            f"Download {file.url} on a connected machine and put it at {dest}, or point {MIRROR_ENV} at a "
            f"directory (or URL prefix) holding {folder}/{file.name}")


def _download(source: str, file: RemoteFile, dest: Path, *, progress: bool) -> None:
    """Copy ``source`` to ``dest`` through ``<dest>.part``, resuming an HTTP transfer; verify, then move into place."""
    part = dest.with_name(f"{dest.name}.part")
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        _http(source, part, progress=progress, label=file.name)
    else:
        path = Path(urlparse(source).path) if scheme == "file" else Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no file at {path}")
        shutil.copyfile(path, part)
    actual = file.digest if file.unverified else file_hash(part, file.algorithm)
    if actual != file.digest:
        part.unlink()
        raise ChecksumError(f"{file.name} from {source} has {file.algorithm} {actual}, but {file.digest} was expected; "
                            f"the file was removed. The source holds a different or damaged file: replace it, or "
                            f"fetch from the publisher ({file.url})")
    os.replace(part, dest)
    _stamp(dest).write_text(_stamp_key(file, dest))


def _http(url: str, part: Path, *, progress: bool, label: str) -> None:
    """GET ``url`` into ``part``, continuing from its current size with a Range request when the server allows."""
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # the part is already complete
            return
        raise
    with response:
        resumed = done and response.status == 206
        if not resumed:
            done = 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length else None
        with open(part, "ab" if resumed else "wb") as out, \
                byte_progress(total, description=label, done=done, enabled=progress) as advance:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                advance(len(block))
    if total is not None and part.stat().st_size < total:  # the connection dropped: keep the part to resume from
        raise DownloadError(f"the transfer from {url} stopped at {part.stat().st_size} of {total} bytes; "
                            "fetch again to resume")


def unpacked(archive: Path) -> Path:
    """The folder :func:`unpack` extracts ``archive`` to: its path without the suffix."""
    return archive.with_suffix("")


def unpack(archive: Path) -> Path:
    """Extract the zip ``archive`` into :func:`unpacked` once (into a temporary folder, then renamed);
    a damaged archive is a :class:`DataFileError` that says how to fetch it again."""
    import zipfile

    from ..errors import DataFileError
    from .files import atomic_dir

    dest = unpacked(archive)
    if dest.is_dir():
        return dest
    try:
        with atomic_dir(dest) as tmp, zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise zipfile.BadZipFile(f"member {bad} fails its CRC check")
            z.extractall(tmp)
    except zipfile.BadZipFile as exc:
        raise DataFileError(f"{archive} is not a readable zip archive ({exc}); delete it (brainbench data rm) "
                            "and fetch it again") from None
    return dest
