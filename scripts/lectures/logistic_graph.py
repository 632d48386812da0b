"""Lecture demo 6: the logistic-regression computational graph, each local derivative by hand and by autograd.

The graph: z = w * x + b, a = sigma(z), L = -(y log a + (1 - y) log(1 - a)). Every node's local derivative is
written by hand in NumPy (sigma'(z) = sigma(z)(1 - sigma(z)) among them), multiplied along the graph by the
chain rule, and checked against torch's autograd, node by node and then end to end.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from common import parser, save_plot
from matplotlib.figure import Figure

from scratch.layers import sigmoid
from torch_impl.parity import STEP_RTOL, diff

RTOL = STEP_RTOL[np.dtype(np.float64)]


# -- NumPy, derivatives by hand ---------------------------------------------------------------------------------
def forward(w, x, b, y):
    z = w * x + b
    a = sigmoid(z)
    loss = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    return z, a, loss


def local_derivatives(w, x, b, y) -> dict[str, np.ndarray]:
    _, a, _ = forward(w, x, b, y)
    return {
        "dL/da": -y / a + (1 - y) / (1 - a),
        "da/dz": a * (1 - a),  # sigma'(z) = sigma(z)(1 - sigma(z))
        "dz/dw": x,
        "dz/dx": w,
        "dz/db": np.ones_like(b),
    }


def chain_rule(local: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    dz = local["dL/da"] * local["da/dz"]  # = a - y
    return {"dL/dz": dz, "dL/dw": dz * local["dz/dw"], "dL/dx": dz * local["dz/dx"], "dL/db": dz * local["dz/db"]}


# -- torch, derivatives by autograd -----------------------------------------------------------------------------
def autograd_derivatives(w, x, b, y) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each node's local derivative with torch.autograd.grad, then every gradient of L from one backward()."""
    w, x, b = (torch.tensor(v, requires_grad=True) for v in (w, x, b))
    z = w * x + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, torch.tensor(y))
    (dl_da,) = torch.autograd.grad(loss, a, retain_graph=True)
    (da_dz,) = torch.autograd.grad(a, z, retain_graph=True)
    dz_dw, dz_dx, dz_db = torch.autograd.grad(z, (w, x, b), retain_graph=True)
    local = {"dL/da": dl_da, "da/dz": da_dz, "dz/dw": dz_dw, "dz/dx": dz_dx, "dz/db": dz_db}
    z.retain_grad()
    loss.backward()
    chained = {"dL/dz": z.grad, "dL/dw": w.grad, "dL/dx": x.grad, "dL/db": b.grad}
    return ({k: v.numpy() for k, v in local.items()}, {k: v.numpy() for k, v in chained.items()})


def autograd_sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    t_z = torch.tensor(z, requires_grad=True)
    torch.sigmoid(t_z).sum().backward()  # each output depends on its own input only, so this is sigma'(z)
    return t_z.grad.numpy()


def print_table(title: str, by_hand: dict, by_autograd: dict) -> bool:
    print(f"\n{title}\n{'':>6} {'by hand':>22} {'autograd':>22} {'max rel':>9}  result")
    ok = True
    for name, value in by_hand.items():
        row = diff(name, value, by_autograd[name], RTOL)
        ok &= row.ok
        print(f"{name:>6} {float(value):>22.16f} {float(by_autograd[name]):>22.16f} {row.max_rel:>9.1e}  "
              f"{'ok' if row.ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--w", type=float, default=-0.8, help="weight (default: -0.8)")
    p.add_argument("--x", type=float, default=1.5, help="input (default: 1.5)")
    p.add_argument("--b", type=float, default=0.3, help="bias (default: 0.3)")
    p.add_argument("--y", type=float, default=1.0, help="label in [0, 1] (default: 1.0)")
    args = p.parse_args(argv)
    w, x, b, y = (np.float64(v) for v in (args.w, args.x, args.b, args.y))

    z, a, loss = forward(w, x, b, y)
    print(f"w = {w}, x = {x}, b = {b}, y = {y}:  z = w * x + b = {z:.6f},  a = sigma(z) = {a:.6f},  L = {loss:.6f}")
    local = local_derivatives(w, x, b, y)
    t_local, t_chained = autograd_derivatives(w, x, b, y)
    ok = print_table("local derivatives, one per edge of the graph:", local, t_local)
    ok &= print_table("chain rule, dL/dz = dL/da * da/dz = a - y, then through z = w * x + b:", chain_rule(local),
                      t_chained)
    grid = np.linspace(-6, 6, 25)
    row = diff("sigma'(z)", sigmoid(grid) * (1 - sigmoid(grid)), autograd_sigmoid_derivative(grid), RTOL)
    ok &= row.ok
    print(f"\nsigma'(z) = sigma(z)(1 - sigma(z)) on {len(grid)} points of [-6, 6] against autograd: "
          f"max rel {row.max_rel:.1e} {'ok' if row.ok else 'FAIL'}")
    print(f"\nevery hand-written derivative matches autograd: {'yes' if ok else 'NO'}")

    if args.plot:
        fine = np.linspace(-6, 6, 200)
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot(fine, sigmoid(fine), label="sigma(z)")
        ax.plot(fine, sigmoid(fine) * (1 - sigmoid(fine)), label="sigma(z)(1 - sigma(z)), by hand")
        ax.plot(grid, autograd_sigmoid_derivative(grid), "o", label="sigma'(z), autograd")
        ax.axvline(z, color="grey", ls=":", label=f"z = {z:.2f} in the example")
        ax.set(xlabel="z", title="the sigmoid and its derivative")
        ax.legend()
        ax.grid(alpha=0.3)
        save_plot(fig, args.plot, "logistic_sigmoid.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
