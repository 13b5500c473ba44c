"""Reading parts of a remote file by HTTP Range requests (a server on 127.0.0.1): bytes equal to the file's
at any offset, h5py reading one row of a served HDF5 for a fraction of its size, sources in fetch's order,
and clear errors for a server without ranges or no source at all."""

import urllib.error

import h5py
import numpy as np
import pytest
from helpers.http_server import serve

from brainbench.data.downloads import RemoteFile
from brainbench.errors import DownloadError
from brainbench.data.remote_file import RangeReader, open_remote, row_ranges

FILE = RemoteFile("data.bin", "https://publisher.invalid/big/data.bin", unverified="test file")


@pytest.fixture
def served(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (tmp_path / "files" / "big").mkdir(parents=True)
    (tmp_path / "files" / "big" / "data.bin").write_bytes(data)
    with serve(tmp_path / "files") as server:
        yield server, data


def test_reads_at_any_offset_equal_the_file(served):
    server, data = served
    reader = RangeReader(f"{server.url}/big/data.bin", block=4096, cached_blocks=4)
    assert reader.size == len(data) and reader.seekable() and reader.readable()
    rng = np.random.default_rng(1)
    for _ in range(50):  # within a block, across blocks, larger than a block, past the end
        start, length = int(rng.integers(0, len(data))), int(rng.choice([1, 100, 5000, 20_000]))
        reader.seek(start)
        assert reader.read(length) == data[start:start + length]
        assert reader.tell() == min(start + length, len(data))
    reader.seek(-10, 2)
    assert reader.read() == data[-10:] and reader.read(5) == b""
    with pytest.raises(ValueError, match="negative seek"):
        reader.seek(-1)


def test_small_reads_reuse_cached_blocks(served):
    server, data = served
    reader = RangeReader(f"{server.url}/big/data.bin", block=4096)
    before = reader.requests
    for offset in range(0, 4000, 100):  # 40 small reads in one block: one request
        reader.seek(offset)
        assert reader.read(100) == data[offset:offset + 100]
    assert reader.requests - before == 1
    reader.seek(100_000)
    assert reader.read(50_000) == data[100_000:150_000]  # a large read is one request for exactly its bytes
    assert reader.requests - before == 2 and server.requests[-1][1] == "bytes=100000-149999"


def test_h5py_reads_one_row_of_a_served_file_for_a_fraction_of_it(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (200, 64, 64, 3), dtype=np.uint8)
    (tmp_path / "files").mkdir()
    with h5py.File(tmp_path / "files" / "stimuli.hdf5", "w") as f:
        f.create_dataset("imgBrick", data=pixels)
    size = (tmp_path / "files" / "stimuli.hdf5").stat().st_size
    with serve(tmp_path / "files") as server:
        reader = RangeReader(f"{server.url}/stimuli.hdf5")
        with h5py.File(reader, "r") as f:
            assert f["imgBrick"].shape == pixels.shape
            np.testing.assert_array_equal(f["imgBrick"][137], pixels[137])
    assert reader.bytes_fetched < size / 10


def test_a_server_without_ranges_is_a_clear_error(served):
    server, _ = served
    server.ranges = False
    with pytest.raises(DownloadError, match="does not honour HTTP Range requests"):
        RangeReader(f"{server.url}/big/data.bin")


def test_a_missing_file_is_asked_for_once(served):
    server, _ = served
    with pytest.raises(urllib.error.HTTPError, match="404"):
        RangeReader(f"{server.url}/big/absent.bin")
    assert [path for path, _ in server.requests] == ["/big/absent.bin"]  # a 404 is an answer, not a hiccup


def test_sources_in_fetch_order(served, tmp_path, monkeypatch):
    server, data = served
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BRAINBENCH_OFFLINE", "1")
    monkeypatch.setenv("BRAINBENCH_MIRROR", f"{tmp_path / 'empty'};{server.url}")
    with open_remote(FILE, "big") as f:  # the directory mirror lacks it; the URL mirror is read by ranges
        assert isinstance(f, RangeReader) and f.read(10) == data[:10]
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "files"))
    with open_remote(FILE, "big") as f:  # a directory mirror's copy opens as a local file
        assert not isinstance(f, RangeReader) and f.read(10) == data[:10]
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(DownloadError, match="forbids downloading from the publisher") as error:
        open_remote(FILE, "big")
    assert "empty/big/data.bin (no such file)" in str(error.value)


def test_rows_stored_raw_are_found_by_byte_range_and_read_from_many_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rows = np.random.default_rng(3).integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    (tmp_path / "files").mkdir()
    with h5py.File(tmp_path / "files" / "s.hdf5", "w") as f:
        f.create_dataset("contiguous", data=rows)
        f.create_dataset("row_chunks", data=rows.astype(">u2"), chunks=(1, 16, 16, 3))  # big-endian: dtype kept
        f.create_dataset("gzip", data=rows, chunks=(1, 16, 16, 3), compression="gzip")
        f.create_dataset("block_chunks", data=rows, chunks=(4, 16, 16, 3))
    with serve(tmp_path / "files") as server:
        reader = RangeReader(f"{server.url}/s.hdf5")
        with h5py.File(reader, "r") as f:
            assert row_ranges(f["gzip"]) is None and row_ranges(f["block_chunks"]) is None  # read through h5py
            for name in ("contiguous", "row_chunks"):
                dataset = f[name]
                where = row_ranges(dataset)
                ranges = [where(n) for n in range(len(rows))]

                def row(first_last, dataset=dataset):
                    return np.frombuffer(reader.read_range(*first_last), dataset.dtype).reshape(dataset.shape[1:])

                with ThreadPoolExecutor(8) as pool:
                    got = np.stack(list(pool.map(row, ranges)))
                np.testing.assert_array_equal(got, rows)
        before = reader.requests
        with pytest.raises(ValueError, match="outside"):
            reader.read_range(0, reader.size)
        assert reader.requests == before
