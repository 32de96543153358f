"""An independent numpy transformer encoder that counts its own operations.

Used by the workload tests as the ground truth for MAC counts: it knows nothing of
``dse.workloads``.  Every matmul goes through :meth:`OpCounter.matmul`, which adds
``m * k * n`` for the 2-D product it actually executes; softmax and layernorm are
written as explicit sweeps over their input, each sweep adding one operation per
element it touches.  Operations the Timeloop problems do not model (bias adds,
residual adds, GELU, the 1/sqrt(d) scaling) are counted under ``unmodelled:*`` tags.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import erf, sqrt

import numpy as np


@dataclass
class OpCounter:
    """Operation counts by tag (one instance per forward pass; no global state)."""

    counts: Counter = field(default_factory=Counter)

    def matmul(self, tag: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for 2-D operands, counting ``m * k * n`` multiply-accumulates."""
        assert a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0], (a.shape, b.shape)
        m, k = a.shape
        n = b.shape[1]
        self.counts[tag] += m * k * n
        return a @ b

    def sweep(self, tag: str, arr: np.ndarray) -> None:
        """Count one element operation per element of ``arr``."""
        self.counts[tag] += int(arr.size)


@dataclass(frozen=True)
class BlockWeights:
    """Random weights of one encoder block."""

    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln1_gamma: np.ndarray
    ln1_beta: np.ndarray
    ln2_gamma: np.ndarray
    ln2_beta: np.ndarray


def random_block(rng: np.random.Generator, emb: int, ff: int) -> BlockWeights:
    """Weights with entries ~ N(0, 1/fan_in)."""
    def mat(rows: int, cols: int) -> np.ndarray:
        return rng.standard_normal((rows, cols)) / np.sqrt(rows)

    return BlockWeights(
        wq=mat(emb, emb), wk=mat(emb, emb), wv=mat(emb, emb), wo=mat(emb, emb),
        w1=mat(emb, ff), b1=rng.standard_normal(ff) * 0.1,
        w2=mat(ff, emb), b2=rng.standard_normal(emb) * 0.1,
        ln1_gamma=1 + 0.1 * rng.standard_normal(emb), ln1_beta=0.1 * rng.standard_normal(emb),
        ln2_gamma=1 + 0.1 * rng.standard_normal(emb), ln2_beta=0.1 * rng.standard_normal(emb),
    )


def softmax_rows(x: np.ndarray, c: OpCounter, max_subtraction: bool = False) -> np.ndarray:
    """Row-wise softmax as explicit sweeps: [max], exp + running sum, divide."""
    if max_subtraction:
        c.sweep("softmax", x)                      # sweep: row maximum
        x = x - x.max(axis=1, keepdims=True)
    c.sweep("softmax", x)                          # sweep: exp and running sum
    e = np.exp(x)
    s = e.sum(axis=1, keepdims=True)
    c.sweep("softmax", e)                          # sweep: divide by the sum
    return e / s


def layernorm_rows(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, c: OpCounter,
                   eps: float = 1e-5) -> np.ndarray:
    """Row-wise layernorm as explicit sweeps: mean, variance, normalize + scale/shift."""
    c.sweep("layernorm", x)                        # sweep: mean
    mean = x.sum(axis=1, keepdims=True) / x.shape[1]
    c.sweep("layernorm", x)                        # sweep: variance
    var = ((x - mean) ** 2).sum(axis=1, keepdims=True) / x.shape[1]
    c.sweep("layernorm", x)                        # sweep: normalize, scale, shift
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu(x: np.ndarray, c: OpCounter) -> np.ndarray:
    """Exact (erf) GELU."""
    c.sweep("unmodelled:gelu", x)
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))


def encoder_block(x: np.ndarray, w: BlockWeights, heads: int, c: OpCounter,
                  pre_ln: bool = False, max_subtraction: bool = False) -> np.ndarray:
    """One block on ``x`` of shape (batch, seq, emb); BERT post-LN, or GPT-2 pre-LN if ``pre_ln``.

    Sequences of the batch and heads are processed one at a time, so every matmul
    the counter sees is exactly one that executes.
    """
    batch, seq, emb = x.shape
    dh = emb // heads
    out = np.empty_like(x)
    for b in range(batch):
        xb = x[b]
        a_in = layernorm_rows(xb, w.ln1_gamma, w.ln1_beta, c) if pre_ln else xb
        q = c.matmul("KQV", a_in, w.wq)
        k = c.matmul("KQV", a_in, w.wk)
        v = c.matmul("KQV", a_in, w.wv)
        ctx = np.empty((seq, emb))
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            scores = c.matmul("KTQ", q[:, cols], k[:, cols].T)     # (seq, seq), reduction over dh
            c.sweep("unmodelled:scale", scores)
            p = softmax_rows(scores / np.sqrt(dh), c, max_subtraction)
            ctx[:, cols] = c.matmul("VScores", p, v[:, cols])      # (seq, dh), reduction over seq
        attn = c.matmul("Out", ctx, w.wo)
        c.sweep("unmodelled:residual", attn)
        if pre_ln:
            h1 = xb + attn
            f_in = layernorm_rows(h1, w.ln2_gamma, w.ln2_beta, c)
        else:
            h1 = layernorm_rows(xb + attn, w.ln1_gamma, w.ln1_beta, c)
            f_in = h1
        f = c.matmul("FF1", f_in, w.w1)
        c.sweep("unmodelled:bias", f)
        f = gelu(f + w.b1, c)
        f2 = c.matmul("FF2", f, w.w2)
        c.sweep("unmodelled:bias", f2)
        c.sweep("unmodelled:residual", f2)
        out[b] = h1 + f2 + w.b2 if pre_ln else layernorm_rows(h1 + f2 + w.b2, w.ln2_gamma, w.ln2_beta, c)
    return out


def encoder_block_reference(x: np.ndarray, w: BlockWeights, heads: int, pre_ln: bool = False) -> np.ndarray:
    """The same block written with batched numpy ops (no counting), to validate :func:`encoder_block`."""
    batch, seq, emb = x.shape
    dh = emb // heads

    def ln(t: np.ndarray, g: np.ndarray, bta: np.ndarray) -> np.ndarray:
        mu = t.mean(axis=-1, keepdims=True)
        return (t - mu) / np.sqrt(t.var(axis=-1, keepdims=True) + 1e-5) * g + bta

    def split(t: np.ndarray) -> np.ndarray:  # (batch, seq, emb) -> (batch, heads, seq, dh)
        return t.reshape(batch, seq, heads, dh).transpose(0, 2, 1, 3)

    a_in = ln(x, w.ln1_gamma, w.ln1_beta) if pre_ln else x
    q, k, v = (split(a_in @ m) for m in (w.wq, w.wk, w.wv))
    s = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(dh)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    p = s / s.sum(axis=-1, keepdims=True)
    ctx = np.einsum("bhqk,bhkd->bhqd", p, v).transpose(0, 2, 1, 3).reshape(batch, seq, emb)
    attn = ctx @ w.wo
    if pre_ln:
        h1 = x + attn
        f_in = ln(h1, w.ln2_gamma, w.ln2_beta)
    else:
        h1 = ln(x + attn, w.ln1_gamma, w.ln1_beta)
        f_in = h1
    f = f_in @ w.w1 + w.b1
    f = 0.5 * f * (1 + np.frompyfunc(erf, 1, 1)(f / np.sqrt(2)).astype(float))
    f2 = f @ w.w2 + w.b2
    return h1 + f2 if pre_ln else ln(h1 + f2, w.ln2_gamma, w.ln2_beta)


def encoder(x: np.ndarray, blocks: list[BlockWeights], heads: int, c: OpCounter, pre_ln: bool = False) -> np.ndarray:
    """A stack of blocks."""
    for w in blocks:
        x = encoder_block(x, w, heads, c, pre_ln=pre_ln)
    return x
