"""Run every example of examples/ and the bug zoo over many seeds: false alarms, and bugs named where expected.

    python scripts/examples_sweep.py                 # 20 seeds, float64 and float32
    python scripts/examples_sweep.py --seeds 3 --json runs/sweep.json

For each example and dtype, every check of its correct code must pass at the table's one-step tolerance (1e-12 in
float64, 1e-5 in float32, against autograd), and its planted bug must be named first at the expected tensor. The
zoo's bugs must be caught, named as expected and hidden where they should hide. Exits 1 on any miss.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from scratch.io import save_json
from torch_impl import zoo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"examples.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep_example(module, seeds: int) -> dict:
    """Per dtype: reports that failed on correct code (false alarms), worst normwise error over the tolerance, and
    planted bugs named elsewhere than expected."""
    result = {}
    for dtype in (np.float64, np.float32):
        alarms, misnamed, margin = [], [], 0.0
        for seed in range(seeds):
            for name, report in module.run(dtype, seed).items():
                if not report.ok:
                    alarms.append(f"{name} seed {seed}: {report.first_failure.name}")
                margin = max([margin] + [row.max_rel / report.rtol for row in report.rows if row.note == ""])
            planted = module.run(dtype, seed, planted=True)[module.PLANTED["check"]].first_failure
            if planted is None or planted.name != module.PLANTED["expected"]:
                misnamed.append(f"seed {seed}: {planted.name if planted else 'not caught'}")
        result[np.dtype(dtype).name] = {"false_alarms": alarms, "worst_error_over_tolerance": margin,
                                        "misnamed": misnamed}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 .. N-1 (default: 20)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file (default: none)")
    args = parser.parse_args(argv)
    results, ok = {}, True
    for path in sorted(EXAMPLES.glob("*.py")):
        module = load(path)
        results[path.stem] = sweep_example(module, args.seeds)
        for dtype, r in results[path.stem].items():
            ok &= not r["false_alarms"] and not r["misnamed"]
            print(f"{path.stem:<20} {dtype:<8} false alarms {len(r['false_alarms'])}/{args.seeds} seeds, worst error "
                  f"{r['worst_error_over_tolerance']:.2g} x tolerance, planted bug named as expected "
                  f"{args.seeds - len(r['misnamed'])}/{args.seeds}  {'; '.join(r['false_alarms'] + r['misnamed'])}")
    misses = [f"{r['name']} seed {seed}" for seed in range(args.seeds) for r in zoo.run_zoo(seed) if not r["as_expected"]]
    results["zoo"] = {"bugs": len(zoo.BUGS), "seeds": args.seeds, "misses": misses}
    ok &= not misses
    print(f"zoo: {len(zoo.BUGS)} bugs x {args.seeds} seeds, {len(misses)} missed or misnamed {'; '.join(misses)}")
    if args.json:
        save_json(args.json, results)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
