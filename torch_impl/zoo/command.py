"""`mlp-parity zoo`: run every case of the bug zoo and show which tensor the checker names."""

from __future__ import annotations

import argparse
import json

from .cases import BUGS


def run_zoo(seed: int = 0) -> list[dict]:
    """Check every bug: caught, named as expected, and (where it has a blind spot) missed under the hiding inputs."""
    results = []
    for bug in BUGS:
        report = bug.check(True, seed)
        first = report.first_failure.name if report.first_failure else None
        hidden = bug.check(False, seed).ok if bug.hidden_by else None
        results.append({
            "name": bug.name,
            "mistake": bug.mistake,
            "expected": bug.expected,
            "first_failure": first,
            "caught_by": bug.caught_by,
            "caught": not report.ok,
            "hidden_by": bug.hidden_by,
            "hidden": hidden,
            "as_expected": not report.ok and first == bug.expected and hidden is not False,
        })
    return results


def add_zoo_parser(subparsers) -> None:
    p = subparsers.add_parser("zoo", help="run the checker on a zoo of deliberately wrong backward passes",
                              description="Run the parity checker on each deliberately wrong NumPy backward pass "
                              "and show which tensor it names first and what input exposes the mistake. Exits 1 "
                              "when a bug goes uncaught, is named wrongly, or is caught where it should hide.")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default: 0)")
    p.add_argument("--show", choices=[bug.name for bug in BUGS], default=None, metavar="BUG",
                   help="print the checker's full table for one bug, named as in the table (default: none)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=zoo_command)


def zoo_command(args: argparse.Namespace) -> int:
    results = run_zoo(args.seed)
    ok = all(r["as_expected"] for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "seed": args.seed, "bugs": results}, indent=2))
        return 0 if ok else 1
    header = ("bug", "named first", "caught by", "caught", "hidden by (passes there)", "mistake")
    rows = [header] + [(
        r["name"],
        r["first_failure"] or "-",
        r["caught_by"],
        ("yes" if r["caught"] else "NO") + ("" if r["first_failure"] in (None, r["expected"])
                                            else f" (expected {r['expected']})"),
        "-" if r["hidden_by"] is None else f"{r['hidden_by']}: {'yes' if r['hidden'] else 'NO, caught there too'}",
        r["mistake"],
    ) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    if args.show:
        bug = next(b for b in BUGS if b.name == args.show)
        print(f"\n{bug.name}, caught by {bug.caught_by}:\n{bug.check(True, args.seed)}")
        if bug.hidden_by:
            print(f"\n{bug.name}, with {bug.hidden_by}:\n{bug.check(False, args.seed)}")
    caught = sum(r["as_expected"] for r in results)
    print(f"\n{caught} of {len(results)} bugs caught and named as expected: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1
