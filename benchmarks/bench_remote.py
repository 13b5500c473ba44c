"""Images out of a remote stimulus HDF5 (NSD's layout) into PNGs: brainbench against h5py over fsspec's HTTP file.

NSD keeps its 73,000 images in one 37 GB HDF5 (``imgBrick``, 425 x 425 x 3 uint8 each), and a subject's
images lie scattered through it. brainbench finds each wanted image's bytes and reads them with one
HTTP Range request each, eight in flight (``brainbench.data.remote_file``); the usual way to read a remote
HDF5 is h5py over fsspec's HTTP file, which reads through fsspec's read-ahead cache one row at a time.
Both write the same PNGs from a local server that waits ``DELAY`` seconds before each answer, as S3's
first byte does.
"""

import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from http_server import serve  # noqa: E402
from timing import best_of, report  # noqa: E402

DELAY = 0.02  # seconds before each answer
N_IMAGES, EVERY = 300, 3  # the file's images; a subject's are every third one


def transferred(server, path):
    """(requests, bytes) the server answered for ``path`` since its log was last cleared (HEAD: 0 bytes)."""
    ranges = [r for p, r in server.requests if p == path]
    return len(ranges), sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges if r))


def main():
    from PIL import Image

    from brainbench.plugins.datasets.nsd.importer import _write_from_hdf5
    from brainbench.data.remote_file import RangeReader

    try:
        import fsspec
        fsspec.filesystem("http")
    except ImportError as exc:
        print(f"skipped: the reference needs fsspec's HTTP file system ({exc}); pip install 'fsspec[http]'")
        return
    wanted = list(range(0, N_IMAGES, EVERY))
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        (root / "bucket").mkdir()
        pixels = np.random.default_rng(0).integers(0, 256, (N_IMAGES, 425, 425, 3), dtype=np.uint8)
        with h5py.File(root / "bucket" / "nsd_stimuli.hdf5", "w") as f:
            f.create_dataset("imgBrick", data=pixels)
        with serve(root / "bucket") as server:
            server.delay = DELAY
            url = f"{server.url}/nsd_stimuli.hdf5"

            def ours():
                out = Path(tempfile.mkdtemp(dir=root))
                _write_from_hdf5(RangeReader(url), wanted, out, progress=False)
                return out

            def reference():
                out = Path(tempfile.mkdtemp(dir=root))
                with fsspec.open(url, "rb") as handle, h5py.File(handle, "r") as f:
                    bricks = f["imgBrick"]
                    for n in wanted:
                        Image.fromarray(bricks[n]).save(out / f"nsd{n:05d}.png")
                return out

            server.requests.clear()
            ours_s, ours_dir = best_of(ours, repeats=1)
            ours_traffic = transferred(server, "/nsd_stimuli.hdf5")
            server.requests.clear()
            ref_s, ref_dir = best_of(reference, repeats=1)
            ref_traffic = transferred(server, "/nsd_stimuli.hdf5")
        for n in (wanted[0], wanted[-1]):  # the same images
            name = f"nsd{n:05d}.png"
            assert np.array_equal(np.asarray(Image.open(ours_dir / name)), np.asarray(Image.open(ref_dir / name)))
    report(f"{len(wanted)} of {N_IMAGES} NSD-sized images from a served HDF5 ({DELAY * 1000:.0f} ms a round trip)",
           ours_s, ref_s, "h5py over fsspec HTTP")
    for label, (count, size) in (("brainbench", ours_traffic), ("h5py over fsspec", ref_traffic)):
        print(f"  {label}: {count} requests, {size / 1e6:.1f} MB read for {len(wanted) * 425 * 425 * 3 / 1e6:.1f} MB "
              "of images", flush=True)


if __name__ == "__main__":
    main()
