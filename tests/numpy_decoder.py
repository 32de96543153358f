"""An independent numpy GPT-2 (pre-LN, causal) with a KV cache that counts its own work.

Ground truth for the decoder workloads: it knows nothing of ``dse``.  Every matmul goes
through :class:`numpy_encoder.OpCounter` (``m * k * n`` per executed 2-D product),
softmax and layernorm are explicit sweeps (one operation per element per sweep), and
the :class:`KVCache` counts the elements it stores (appends) and loads (every read of
``cache[:n]`` by an attention matmul).  Sequences and heads are processed one at a time.

Causal prefill, two ways:

* ``dense``: the full ``P x P`` scores are computed, the upper half is set to ``-inf``
  (discarded) before the softmax; the softmax and ``scores @ V`` run over full rows;
* ``tiled``: query rows are processed in tiles of ``tile``; a tile attends only to the
  keys up to its last row (the diagonal tile is computed fully and masked inside).

A decode step feeds one token per sequence: its K and V are appended to the cache
first, then the whole cache is read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from numpy_encoder import BlockWeights, OpCounter, gelu, layernorm_rows, random_block, softmax_rows


@dataclass
class KVCache:
    """K and V of every (block, sequence, head), grown one token at a time; counts elements."""

    blocks: int
    batch: int
    heads: int
    dh: int
    max_len: int
    stored: int = 0
    loaded: int = 0
    k: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)
    length: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        shape = (self.blocks, self.batch, self.heads, self.max_len, self.dh)
        self.k = np.zeros(shape)
        self.v = np.zeros(shape)
        self.length = np.zeros((self.blocks, self.batch), dtype=int)

    def append(self, blk: int, b: int, k: np.ndarray, v: np.ndarray) -> None:
        """Append ``k``/``v`` of shape (tokens, heads*dh) for sequence ``b`` of block ``blk``."""
        n0 = self.length[blk, b]
        t = k.shape[0]
        for h in range(self.heads):
            cols = slice(h * self.dh, (h + 1) * self.dh)
            self.k[blk, b, h, n0:n0 + t] = k[:, cols]
            self.v[blk, b, h, n0:n0 + t] = v[:, cols]
        self.stored += k.size + v.size
        self.length[blk, b] = n0 + t

    def keys(self, blk: int, b: int, h: int, n: int) -> np.ndarray:
        self.loaded += n * self.dh
        return self.k[blk, b, h, :n]

    def values(self, blk: int, b: int, h: int, n: int) -> np.ndarray:
        self.loaded += n * self.dh
        return self.v[blk, b, h, :n]


def _attention_rows(q: np.ndarray, cache: KVCache, blk: int, b: int, h: int, first_row: int, keys: int,
                    c: OpCounter) -> np.ndarray:
    """Rows ``first_row..`` (absolute positions) of one head's causal attention over ``keys`` keys."""
    kk = cache.keys(blk, b, h, keys)
    s = c.matmul("KTQ", q, kk.T) / np.sqrt(cache.dh)
    rows = first_row + np.arange(q.shape[0])[:, None]
    s = np.where(np.arange(keys)[None, :] <= rows, s, -np.inf)  # causal mask (discarded scores)
    p = softmax_rows(s, c)
    return c.matmul("VScores", p, cache.values(blk, b, h, keys))


def block_forward(x: np.ndarray, w: BlockWeights, blk: int, heads: int, cache: KVCache, c: OpCounter,
                  causal: str = "dense", tile: int = 64) -> np.ndarray:
    """One pre-LN block on ``x`` of shape (batch, tokens, emb): the new tokens of every sequence.

    The new tokens' K/V are appended to ``cache`` before attention reads it.
    """
    batch, t, emb = x.shape
    dh = emb // heads
    out = np.empty_like(x)
    for b in range(batch):
        xb = x[b]
        a_in = layernorm_rows(xb, w.ln1_gamma, w.ln1_beta, c)
        q = c.matmul("KQV", a_in, w.wq)
        k = c.matmul("KQV", a_in, w.wk)
        v = c.matmul("KQV", a_in, w.wv)
        start = cache.length[blk, b]
        cache.append(blk, b, k, v)
        n = start + t
        ctx = np.empty((t, emb))
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            if t == 1 or causal == "dense":
                ctx[:, cols] = _attention_rows(q[:, cols], cache, blk, b, h, start, n, c)
            else:
                for r0 in range(0, t, tile):
                    r1 = min(r0 + tile, t)
                    ctx[r0:r1, cols] = _attention_rows(q[r0:r1, cols], cache, blk, b, h, start + r0, start + r1, c)
        h1 = xb + c.matmul("Out", ctx, w.wo)
        f = gelu(c.matmul("FF1", layernorm_rows(h1, w.ln2_gamma, w.ln2_beta, c), w.w1) + w.b1, c)
        out[b] = h1 + c.matmul("FF2", f, w.w2) + w.b2
    return out


def reference_logits(x: np.ndarray, blocks: list[BlockWeights], heads: int) -> np.ndarray:
    """The same causal model without a cache or counting (full recompute), to validate :func:`generate`."""
    batch, t, emb = x.shape
    dh = emb // heads

    def ln(a, g, bt):
        mu = a.mean(-1, keepdims=True)
        return (a - mu) / np.sqrt(a.var(-1, keepdims=True) + 1e-5) * g + bt

    mask = np.tril(np.ones((t, t), dtype=bool))
    for w in blocks:
        a = ln(x, w.ln1_gamma, w.ln1_beta)
        q, k, v = ((a @ m).reshape(batch, t, heads, dh).transpose(0, 2, 1, 3) for m in (w.wq, w.wk, w.wv))
        s = np.where(mask, np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(dh), -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        ctx = np.einsum("bhqk,bhkd->bhqd", p, v).transpose(0, 2, 1, 3).reshape(batch, t, emb)
        h1 = x + ctx @ w.wo
        f = ln(h1, w.ln2_gamma, w.ln2_beta) @ w.w1 + w.b1
        f = 0.5 * f * (1 + np.frompyfunc(__import__("math").erf, 1, 1)(f / np.sqrt(2)).astype(float))
        x = h1 + f @ w.w2 + w.b2
    return x


@dataclass
class StepCount:
    """What one phase step executed (all blocks, all sequences)."""

    macs: dict
    pointwise: int
    kv_stored: int
    kv_loaded: int


def generate(emb: int, heads: int, ff: int, n_blocks: int, prompt: int, new_tokens: int, batch: int,
             causal: str = "dense", tile: int = 64, seed: int = 0):
    """Prefill ``prompt`` random embeddings, then ``new_tokens - 1`` decode steps (token embeddings drawn at
    random: what is generated does not change the work).  Returns per-step counts (prefill first), the
    final hidden states of every fed token (batch, prompt + new_tokens - 1, emb), the fed inputs and the
    block weights."""
    rng = np.random.default_rng(seed)
    blocks = [random_block(rng, emb, ff) for _ in range(n_blocks)]
    cache = KVCache(n_blocks, batch, heads, emb // heads, prompt + new_tokens)
    fed = rng.standard_normal((batch, prompt + new_tokens - 1, emb))
    steps: list[StepCount] = []
    outs = []
    pos = 0
    for t in [prompt] + [1] * (new_tokens - 1):
        c = OpCounter()
        s0, l0 = cache.stored, cache.loaded
        x = fed[:, pos:pos + t]
        for i, w in enumerate(blocks):
            x = block_forward(x, w, i, heads, cache, c, causal, tile)
        outs.append(x)
        pos += t
        macs = {k: v for k, v in c.counts.items() if k in ("KQV", "KTQ", "VScores", "Out", "FF1", "FF2")}
        pointwise = sum(v for k, v in c.counts.items() if k in ("softmax", "layernorm"))
        steps.append(StepCount(macs, pointwise, cache.stored - s0, cache.loaded - l0))
    return steps, np.concatenate(outs, axis=1), fed, blocks
