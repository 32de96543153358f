"""Decoder (GPT-style) inference workloads: causal prefill and KV-cached decode steps.

Generating ``G`` tokens from a prompt of ``P`` tokens at batch ``B`` is one **prefill**
(all ``P`` prompt tokens at once; its last position yields generated token 1) and
``G - 1`` **decode steps**: step ``i`` feeds generated token ``i`` and attends over the
context ``P + i`` (the ``P + i - 1`` cached keys/values plus its own, appended first).
The last generated token is never fed back, so the longest context is ``P + G - 1``.

Decode step at context ``c`` (per block; ``dh = embedding // heads``):

=========  ==========  ==========  =====  ==========  ============
layer      E           D           L      G           per block
=========  ==========  ==========  =====  ==========  ============
KQV        emb         3 * emb     B      1           1
KTQ        dh          c           1      B           heads
VScores    c           dh          1      B           heads
Out        emb         emb         B      1           1
FF1        emb         ff          B      1           1
FF2        ff          emb         B      1           1
softmax    c           2 (sweeps)  B      -           heads
layernorm  emb         3 (sweeps)  B      -           2
=========  ==========  ==========  =====  ==========  ============

The weight-bearing matmuls are GEMMs with ``L = B`` (GEMVs at batch 1).  KTQ's
"Weights" operand is the K cache of one head (``dh x c`` per sequence), VScores' is the
V cache; the batch is in ``G`` because every sequence has its own cache.  The K and V
of the new token are 2/3 of KQV's outputs: they are written once (stored) and read by
every later step (loaded).

**Causal prefill** (:class:`CausalMode`): ``DENSE`` computes the full ``P x P`` scores
and discards the masked upper half (what a dense accelerator running the encoder
kernels does: the same problems as an encoder at ``seq_len = P``); ``TILED`` skips
whole tiles above the diagonal: queries are cut into tiles of ``tile`` rows, and query
tile ``i`` (rows ``[i*tile, min((i+1)*tile, P))``) computes scores against the keys
``[0, min((i+1)*tile, P))`` only — the diagonal tile is computed in full and masked
inside.  KTQ, VScores and softmax then become one problem per query tile.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from dse.errors import DseError
from dse.spec.types import Workload
from dse.workloads.catalog import TransformerModel, get_model
from dse.workloads.layers import (LAYER_NAMES, LAYERNORM_SWEEPS, SOFTMAX_SWEEPS, LayerCounts, _matmul, _pointwise,
                                  make_layer, multiplicity_per_block)

#: Default query-tile height of the tiled causal prefill.
DEFAULT_CAUSAL_TILE: int = 64
#: Layers whose shape depends on the context length (the attention of one head).
CONTEXT_LAYERS: tuple[str, ...] = ("KTQ", "VScores", "softmax")
#: Layers whose "Weights" operand is the K or V cache.
KV_LAYERS: tuple[str, ...] = ("KTQ", "VScores")


class Phase(Enum):
    """A phase of generation."""

    PREFILL = "prefill"
    DECODE = "decode"


class CausalMode(Enum):
    """How causal prefill treats the masked (upper) half of the attention scores."""

    DENSE = "dense"  # computed and discarded
    TILED = "tiled"  # tiles entirely above the diagonal are skipped

    @classmethod
    def parse(cls, text: "str | CausalMode", where: str = "--causal") -> "CausalMode":
        """``"dense"`` / ``"tiled"`` (case-insensitive) or a :class:`CausalMode`."""
        if isinstance(text, CausalMode):
            return text
        for mode in cls:
            if str(text).strip().lower() == mode.value:
                return mode
        raise DseError(f"unknown causal mode {text!r}", where,
                       "dense (masked half computed and discarded) or tiled (tiles above the diagonal skipped)")


@dataclass(frozen=True)
class DecoderLayer(LayerCounts):
    """One layer problem of a prefill or a decode step, with how often it runs per block.

    ``context`` is the number of keys the layer's attention covers (prefill dense: ``P``;
    tiled prefill: the keys of this query tile; decode: the cache length including the
    new token).  ``part`` names a query tile of the tiled prefill (``""`` otherwise).
    """

    model: TransformerModel
    phase: Phase
    layer: str
    context: int
    batch: int
    workload: Workload
    multiplicity_per_block: int
    part: str = ""

    @property
    def shape_key(self) -> tuple:
        """Identifies the problem: layers with equal keys share a mapping."""
        wl = self.workload
        return (self.layer, tuple(sorted(wl.bounds.items())))

    @property
    def kv_loaded_words(self) -> int:
        """K/V cache words this layer reads in the whole model, each once (0 unless KTQ/VScores)."""
        if self.layer not in KV_LAYERS:
            return 0
        b = self.workload.bounds
        return b["E"] * b["D"] * b["G"] * self.instances_per_model

    @property
    def kv_stored_words(self) -> int:
        """K/V cache words this layer writes in the whole model (KQV: the K and V thirds of its outputs)."""
        if self.layer != "KQV":
            return 0
        b = self.workload.bounds
        return 2 * (b["D"] // 3) * b["L"] * b["N"] * self.instances_per_model


def check_generation(model: str | TransformerModel, prompt: int, generate: int, batch: int) -> TransformerModel:
    """Validate a generation request; return the model.

    Refuses, naming the argument and the limit: a model not marked ``decoder`` in the
    catalog, non-positive ``prompt`` / ``generate`` / ``batch`` and a longest context
    ``prompt + generate - 1`` beyond the model's ``max_positions``.
    """
    m = get_model(model)
    for arg, value in (("--prompt", prompt), ("--generate", generate), ("--batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DseError(f"must be a positive number of tokens/sequences, got {value!r}", arg, "an integer >= 1")
    if not m.decoder:
        from dse.workloads.catalog import load_catalog

        decoders = [k for k, v in load_catalog().items() if v.decoder]
        raise DseError(f"model {m.name!r} is not a decoder (it has no causal attention to generate with)",
                       "--model with --generate", "a decoder model: " + ", ".join(decoders))
    longest = prompt + generate - 1
    if m.max_positions is not None and longest > m.max_positions:
        raise DseError(f"the last decode step would attend over prompt + generate - 1 = {longest} tokens, beyond "
                       f"{m.name}'s {m.max_positions} positions", "--prompt/--generate",
                       f"prompt + generate <= {m.max_positions + 1} (e.g. --prompt {prompt} --generate "
                       f"{max(1, m.max_positions + 1 - prompt)})" if prompt <= m.max_positions else
                       f"--prompt <= {m.max_positions}")
    return m


def decode_contexts(prompt: int, generate: int) -> range:
    """Context length (cache incl. the new token) of every decode step: ``P+1 .. P+G-1``."""
    return range(prompt + 1, prompt + generate)


def _layer(m: TransformerModel, phase: Phase, name: str, ctx: int, batch: int, wl: Workload,
           part: str = "") -> DecoderLayer:
    return DecoderLayer(m, phase, name, ctx, batch, wl, multiplicity_per_block(m, name), part)


def query_tiles(prompt: int, tile: int) -> list[tuple[int, int]]:
    """``(rows, keys)`` of every query tile of a tiled causal prefill, in order."""
    out = []
    for start in range(0, prompt, tile):
        stop = min(start + tile, prompt)
        out.append((stop - start, stop))
    return out


def prefill_layers(model: str | TransformerModel, prompt: int, batch: int = 1,
                   causal: CausalMode | str = CausalMode.DENSE, tile: int = DEFAULT_CAUSAL_TILE) -> list[DecoderLayer]:
    """All layer problems of one block's prefill of ``prompt`` tokens, in execution order.

    ``DENSE``: the encoder problems at ``seq_len = prompt`` (full scores, the masked half
    discarded).  ``TILED``: KTQ, VScores and softmax as one problem per query tile of
    ``tile`` rows against the keys up to the end of that tile (see the module docstring).
    """
    m = get_model(model)
    mode = CausalMode.parse(causal)
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise DseError(f"must be a positive integer, got {tile!r}", "--causal-tile", "an integer >= 1")
    out: list[DecoderLayer] = []
    for name in LAYER_NAMES:
        if mode is CausalMode.TILED and name in CONTEXT_LAYERS:
            for i, (rows, keys) in enumerate(query_tiles(prompt, tile)):
                part = f"q{i * tile}:{i * tile + rows}"
                if name == "KTQ":
                    wl = _matmul(name, e=m.head_dim, d=keys, l=rows, n=1, g=batch)
                elif name == "VScores":
                    wl = _matmul(name, e=keys, d=m.head_dim, l=rows, n=1, g=batch)
                else:
                    wl = _pointwise(name, e=keys, sweeps=SOFTMAX_SWEEPS, l=rows, n=batch)
                out.append(_layer(m, Phase.PREFILL, name, keys, batch, wl, part))
        else:
            lp = make_layer(m, name, prompt, batch)
            out.append(_layer(m, Phase.PREFILL, name, prompt, batch, lp.workload))
    return out


def decode_layers(model: str | TransformerModel, context: int, batch: int = 1) -> list[DecoderLayer]:
    """All layer problems of one block's decode step at ``context`` (cache incl. the new token)."""
    m = get_model(model)
    for arg, value in (("context", context), ("--batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DseError(f"must be a positive integer, got {value!r}", arg, "an integer >= 1")
    emb, dh, ff, c, b = m.embedding, m.head_dim, m.ff_dim, context, batch
    shapes = {
        "KQV": _matmul("KQV", e=emb, d=3 * emb, l=b, n=1, g=1),
        "KTQ": _matmul("KTQ", e=dh, d=c, l=1, n=1, g=b),
        "VScores": _matmul("VScores", e=c, d=dh, l=1, n=1, g=b),
        "Out": _matmul("Out", e=emb, d=emb, l=b, n=1, g=1),
        "FF1": _matmul("FF1", e=emb, d=ff, l=b, n=1, g=1),
        "FF2": _matmul("FF2", e=ff, d=emb, l=b, n=1, g=1),
        "softmax": _pointwise("softmax", e=c, sweeps=SOFTMAX_SWEEPS, l=b, n=1),
        "layernorm": _pointwise("layernorm", e=emb, sweeps=LAYERNORM_SWEEPS, l=b, n=1),
    }
    return [_layer(m, Phase.DECODE, name, c, b, shapes[name]) for name in LAYER_NAMES]


def kv_words_per_token(model: str | TransformerModel) -> int:
    """K and V words one token adds to the cache of one sequence: 2 x blocks x heads x head_dim."""
    m = get_model(model)
    return 2 * m.blocks * m.heads * m.head_dim


def words_to_bytes(words: int, word_bits: int) -> float:
    """Bytes of ``words`` words of ``word_bits`` bits (an int when whole)."""
    bits = words * word_bits
    return bits // 8 if bits % 8 == 0 else bits / 8
