"""Install brainbench with the torch stack resolved the way this machine needs it.

Where pip's find-links hold a local torch wheel for this interpreter (a CPU build
that lies on disk), torch is pinned to exactly that build and torchvision, timm,
open_clip and lpips are installed in the same pip call, so pip picks the
torchvision release that matches it. Elsewhere torch installs normally.

    python tools/install.py                  # pip install -e .
    python tools/install.py --extras test    # pip install -e .[test]
    python tools/install.py --target dist/brainbench-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

TORCH_STACK = ("torchvision", "timm", "open_clip_torch", "lpips")
_WHEEL = re.compile(r"^torch-(?P<version>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


def find_links() -> list[Path]:
    """Directories in pip's find-links (its configuration and PIP_FIND_LINKS)."""
    values = [os.environ.get("PIP_FIND_LINKS", "")]
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith("find-links"):
            values.append(value.strip().strip("'\""))
    dirs = []
    for value in values:
        for item in value.split():
            path = Path(item.removeprefix("file://"))
            if path.is_dir():
                dirs.append(path)
    return dirs


def local_torch_version(dirs: list[Path]) -> str | None:
    """The newest torch wheel in ``dirs`` that this interpreter can install, if any."""
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    machine = sysconfig.get_platform().split("-")[-1]
    found = []
    for d in dirs:
        for wheel in d.glob("torch-*.whl"):
            m = _WHEEL.match(wheel.name)
            if m and m["py"] == py and machine in m["plat"]:
                found.append(m["version"])
    if not found:
        return None
    return max(found, key=lambda v: tuple(int(x) for x in re.findall(r"\d+", v.split("+")[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="", help="comma-separated extras, e.g. test")
    parser.add_argument("--target", default=None, help="what to install (default: this repo, editable)")
    parser.add_argument("--dry-run", action="store_true", help="print the pip command only")
    args = parser.parse_args(argv)

    repo = Path(__file__).resolve().parent.parent
    target = args.target or str(repo)
    spec = f"{target}[{args.extras}]" if args.extras else target
    cmd = [sys.executable, "-m", "pip", "install"]
    version = local_torch_version(find_links())
    if version:
        cmd += [f"torch=={version}", *TORCH_STACK]
        print(f"install: using the local torch build {version} from pip's find-links", flush=True)
    else:
        print("install: no local torch wheel in pip's find-links; torch installs from the index", flush=True)
    cmd += ["-e", spec] if args.target is None else [spec]
    print("install:", " ".join(cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
