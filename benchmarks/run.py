"""Run every benchmark in this folder; each prints our time, the reference's time and the ratio."""

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}: {module.__doc__.strip().splitlines()[0]}", flush=True)
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
