"""Dataset files: the mirror, the real HTTP download path (a server on 127.0.0.1 serving the real
files in ../shared/data), resume, checksums, locking, damaged archives, and the data CLI."""

import hashlib
import json
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import brainbench

from brainbench.cli.commands import main
from brainbench.data.downloads import RemoteFile, dataset_dir, fetch, unpack
from brainbench.errors import ChecksumError, DataFileError, DownloadError
from brainbench.data.files import atomic_dir
from helpers.http_server import serve
from helpers.paths import SHARED_DATA

SHARED = SHARED_DATA
NAME = "responses_raw_210325.npy"  # 2 MB: large enough to be sent in several chunks
SOURCE = SHARED / "cowley2023_v4" / NAME
needs_shared = pytest.mark.skipif(not SOURCE.exists(), reason="../shared/data is not beside this checkout")


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_HOME", str(tmp_path / "home"))


def _file(url="https://example.invalid/responses.npy"):
    return RemoteFile(NAME, url, sha256=hashlib.sha256(SOURCE.read_bytes()).hexdigest())


@pytest.fixture
def server():
    with serve(SHARED) as srv:
        yield srv


@needs_shared
def test_mirror_directory_copy_is_verified_and_reused(monkeypatch):
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(SHARED))
    path = fetch(_file(), "cowley2023_v4", progress=False)
    assert path == dataset_dir("cowley2023_v4") / NAME and path.read_bytes() == SOURCE.read_bytes()
    mtime = path.stat().st_mtime_ns
    assert fetch(_file(), "cowley2023_v4", progress=False).stat().st_mtime_ns == mtime  # not fetched twice
    assert not list(path.parent.glob("*.part"))


@needs_shared
def test_http_download_resumes_an_interrupted_transfer(monkeypatch, server):
    monkeypatch.setenv("BRAINBENCH_MIRROR", server.url)
    server.cut = 700_000  # the first transfer stops part-way
    with pytest.raises(DownloadError, match="stopped at 700000 of"):
        fetch(_file(), "cowley2023_v4", progress=False)
    dest = dataset_dir("cowley2023_v4") / NAME
    assert not dest.exists() and dest.with_name(f"{NAME}.part").stat().st_size == 700_000
    path = fetch(_file(), "cowley2023_v4", progress=False)
    assert path.read_bytes() == SOURCE.read_bytes()
    assert server.requests == [(f"/cowley2023_v4/{NAME}", None), (f"/cowley2023_v4/{NAME}", "bytes=700000-")]


@needs_shared
def test_publisher_url_is_used_when_online(monkeypatch, server):
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    monkeypatch.delenv("BRAINBENCH_MIRROR", raising=False)
    path = fetch(_file(f"{server.url}/cowley2023_v4/{NAME}"), "somewhere", progress=False)
    assert path.read_bytes() == SOURCE.read_bytes()
    assert server.requests == [(f"/cowley2023_v4/{NAME}", None)]


@needs_shared
def test_two_fetches_at_once_download_once(monkeypatch, server):
    monkeypatch.setenv("BRAINBENCH_MIRROR", server.url)
    errors = []

    def run():
        try:
            fetch(_file(), "cowley2023_v4", progress=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(server.requests) == 1


@needs_shared
def test_checksum_mismatch_removes_the_file_and_names_both_hashes(monkeypatch, tmp_path):
    mirror = tmp_path / "mirror" / "cowley2023_v4"
    mirror.mkdir(parents=True)
    (mirror / NAME).write_bytes(SOURCE.read_bytes()[:-1] + b"\0")
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(tmp_path / "mirror"))
    damaged = hashlib.sha256((mirror / NAME).read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as info:
        fetch(_file(), "cowley2023_v4", progress=False)
    assert _file().sha256 in str(info.value) and damaged in str(info.value) and "removed" in str(info.value)
    folder = dataset_dir("cowley2023_v4")
    assert not (folder / NAME).exists() and not list(folder.glob("*.part"))


@needs_shared
def test_unreachable_publisher_without_mirror_says_what_to_download_and_where(monkeypatch):
    monkeypatch.delenv("BRAINBENCH_MIRROR", raising=False)
    url = "http://127.0.0.1:9/cowley/responses.npy"  # the discard port: nothing listens
    with pytest.raises(DownloadError) as info:
        fetch(_file(url), "cowley2023_v4", progress=False)
    message = str(info.value)
    assert "BRAINBENCH_OFFLINE forbids" in message and url in message
    assert str(dataset_dir("cowley2023_v4") / NAME) in message and "BRAINBENCH_MIRROR" in message
    monkeypatch.delenv("BRAINBENCH_OFFLINE")
    with pytest.raises(DownloadError, match="URLError"):
        fetch(_file(url), "cowley2023_v4", progress=False)


def test_damaged_zip_is_a_clear_error_and_leaves_nothing(tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("image0001.jpg", b"x" * 5000)
    raw = bytearray(archive.read_bytes())
    raw[60:70] = b"\xff" * 10  # inside the member's data: its CRC no longer matches
    archive.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="not a readable zip archive"):
        unpack(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.zip"]


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "folder"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("the block fails")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"] and (target / "old.txt").is_file()
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # nothing appears before the block succeeds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]


@needs_shared
def test_data_cli_fetch_verify_path_rm(monkeypatch):
    monkeypatch.setenv("BRAINBENCH_MIRROR", str(SHARED))
    runner = CliRunner()
    fetched = runner.invoke(main, ["data", "fetch", "cowley2023_190923", "-q"])
    assert fetched.exit_code == 0, fetched.output
    folder = Path(runner.invoke(main, ["data", "path", "cowley2023_190923"]).output.strip())
    assert (folder / "images_190923.zip").exists()
    listed = runner.invoke(main, ["data", "list", "--json"])
    row = next(r for r in json.loads(listed.output) if r["name"] == "cowley2023_190923")
    assert row["present"] == row["files"] == 2
    assert runner.invoke(main, ["data", "verify", "cowley2023_190923"]).exit_code == 0
    (folder / "responses_avg_190923.npy").write_bytes(b"damaged")
    damaged = runner.invoke(main, ["data", "verify", "cowley2023_190923", "--json"])
    assert damaged.exit_code == 1 and '"damaged"' in damaged.output
    runner.invoke(main, ["data", "fetch", "cowley2023_190923", "-q"])  # repairs the damaged file
    brainbench.get_dataset("cowley2023_190923").stimulus_set()  # unpacks the images
    removed = runner.invoke(main, ["data", "rm", "cowley2023_190923", "-y"])
    assert removed.exit_code == 0, removed.output
    assert not [p for p in folder.iterdir() if "190923" in p.name]  # files, stamps, locks, unpacked images
