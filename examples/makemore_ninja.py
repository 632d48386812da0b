"""Every intermediate differentiated by hand, embedding and batch norm included: makemore's "backprop ninja" style.

    python examples/makemore_ninja.py

The forward is torch code run without autograd and returns each intermediate; the backward computes d<name> for
every one of them. One check_grads call compares all of them with autograd, intermediates in backward order first.
The planted bug divides by n instead of n - 1 in the variance's backward (the forward uses Bessel's correction);
the report names bndiff2 and the constant factor (n - 1) / n.
"""

from __future__ import annotations

import numpy as np
import torch

from torch_impl.parity import Report, check_grads

VOCAB, BLOCK, EMBED, HIDDEN, BATCH = 27, 3, 10, 64, 32


def forward(C, W1, b1, bngain, bnbias, W2, b2, Xb, Yb):
    n = Xb.shape[0]
    emb = C[Xb]  # (n, BLOCK, EMBED)
    embcat = emb.view(n, -1)  # (n, BLOCK * EMBED)
    hprebn = embcat @ W1 + b1  # (n, HIDDEN)
    bnmeani = hprebn.sum(0, keepdim=True) / n
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = bndiff2.sum(0, keepdim=True) / (n - 1)  # Bessel's correction
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2  # (n, VOCAB)
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum**-1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[torch.arange(n), Yb].mean()
    return {"emb": emb, "embcat": embcat, "hprebn": hprebn, "bnmeani": bnmeani, "bndiff": bndiff,
            "bndiff2": bndiff2, "bnvar": bnvar, "bnvar_inv": bnvar_inv, "bnraw": bnraw, "hpreact": hpreact, "h": h,
            "logits": logits, "logit_maxes": logit_maxes, "norm_logits": norm_logits, "counts": counts,
            "counts_sum": counts_sum, "counts_sum_inv": counts_sum_inv, "probs": probs, "logprobs": logprobs,
            "loss": loss}


def backward(t, C, W1, bngain, W2, Xb, Yb, bessel: bool = True) -> dict:
    """d<name> for every intermediate `t[name]` and parameter, by hand."""
    n = Xb.shape[0]
    d = {}
    d["dlogprobs"] = torch.zeros_like(t["logprobs"])
    d["dlogprobs"][torch.arange(n), Yb] = -1.0 / n
    d["dprobs"] = d["dlogprobs"] / t["probs"]
    d["dcounts_sum_inv"] = (t["counts"] * d["dprobs"]).sum(1, keepdim=True)
    d["dcounts_sum"] = -t["counts_sum"] ** -2 * d["dcounts_sum_inv"]
    d["dcounts"] = t["counts_sum_inv"] * d["dprobs"] + d["dcounts_sum"]  # both uses of counts
    d["dnorm_logits"] = t["counts"] * d["dcounts"]
    d["dlogit_maxes"] = -d["dnorm_logits"].sum(1, keepdim=True)
    maxes = torch.nn.functional.one_hot(t["logits"].max(1).indices, t["logits"].shape[1]).to(t["logits"].dtype)
    d["dlogits"] = d["dnorm_logits"] + maxes * d["dlogit_maxes"]
    d["dh"] = d["dlogits"] @ W2.T
    d["dW2"], d["db2"] = t["h"].T @ d["dlogits"], d["dlogits"].sum(0)
    d["dhpreact"] = (1 - t["h"] ** 2) * d["dh"]
    d["dbngain"] = (t["bnraw"] * d["dhpreact"]).sum(0, keepdim=True)
    d["dbnbias"] = d["dhpreact"].sum(0, keepdim=True)
    d["dbnraw"] = bngain * d["dhpreact"]
    d["dbnvar_inv"] = (t["bndiff"] * d["dbnraw"]).sum(0, keepdim=True)
    d["dbnvar"] = -0.5 * (t["bnvar"] + 1e-5) ** -1.5 * d["dbnvar_inv"]
    d["dbndiff2"] = torch.ones_like(t["bndiff2"]) / (n - 1 if bessel else n) * d["dbnvar"]
    d["dbndiff"] = t["bnvar_inv"] * d["dbnraw"] + 2 * t["bndiff"] * d["dbndiff2"]
    d["dbnmeani"] = -d["dbndiff"].sum(0, keepdim=True)
    d["dhprebn"] = d["dbndiff"] + torch.ones_like(t["hprebn"]) / n * d["dbnmeani"]
    d["dembcat"] = d["dhprebn"] @ W1.T
    d["dW1"], d["db1"] = t["embcat"].T @ d["dhprebn"], d["dhprebn"].sum(0)
    d["demb"] = d["dembcat"].view(t["emb"].shape)
    d["dC"] = torch.zeros_like(C).index_add_(0, Xb.view(-1), d["demb"].view(-1, C.shape[1]))
    return d


# The check: the function body is the glue a user writes (counted by the tests, at most 5 statements).


def check(params: dict, Xb, Yb, bessel: bool = True) -> Report:
    arrays = {**params, "Xb": Xb, "Yb": Yb}
    grads = backward(forward(**arrays), params["C"], params["W1"], params["bngain"], params["W2"], Xb, Yb, bessel)
    return check_grads(forward, arrays, grads)


PLANTED = {"check": "backprop", "bug": "variance backward divides by n where the forward used n - 1",
           "expected": "bndiff2"}


def run(dtype=np.float64, seed: int = 0, planted: bool = False) -> dict[str, Report]:
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32

    def randn(*shape, scale=1.0):
        return torch.randn(shape, generator=g, dtype=dt) * scale

    # small random values rather than the usual zeros or ones, so that a wrong backward cannot hide
    params = {"C": randn(VOCAB, EMBED), "W1": randn(BLOCK * EMBED, HIDDEN, scale=0.3), "b1": randn(HIDDEN, scale=0.1),
              "bngain": 1 + randn(1, HIDDEN, scale=0.1), "bnbias": randn(1, HIDDEN, scale=0.1),
              "W2": randn(HIDDEN, VOCAB, scale=0.1), "b2": randn(VOCAB, scale=0.1)}
    Xb = torch.randint(0, VOCAB, (BATCH, BLOCK), generator=g)
    Yb = torch.randint(0, VOCAB, (BATCH,), generator=g)
    return {"backprop": check(params, Xb, Yb, bessel=not planted)}


if __name__ == "__main__":
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype)}:\n{run(dtype)['backprop']}")
    print(f"\nplanted: {PLANTED['bug']}\n{run(planted=True)[PLANTED['check']]}")
