"""The transformer model catalog (``workloads/models.yaml``).

A :class:`TransformerModel` is the handful of hyper-parameters that fix the shape of
every layer of a transformer block.  The catalog file is re-read on every call (it is
tiny); nothing is cached in module state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dse.errors import DseError
from dse.paths import data_dir
from dse.spec.yaml_io import safe_load_fast

#: Repository folder holding ``models.yaml`` and ``layers/*.yaml``.
WORKLOADS_DIR: Path = data_dir("workloads")
#: Default catalog file.
DEFAULT_CATALOG: Path = WORKLOADS_DIR / "models.yaml"

_INT_FIELDS = ("embedding", "heads", "ff_dim", "blocks")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class TransformerModel:
    """Shape hyper-parameters of a transformer (all blocks identical).

    ``embedding`` is the model width, ``heads`` the attention heads per block,
    ``ff_dim`` the inner width of the feed-forward network, ``blocks`` the number of
    transformer blocks and ``source`` the paper the numbers come from.
    Construction validates the values and raises :class:`DseError` naming the field.
    """

    name: str
    embedding: int
    heads: int
    ff_dim: int
    blocks: int
    source: str = ""
    decoder: bool = False
    max_positions: int | None = None

    def __post_init__(self) -> None:
        for fname in _INT_FIELDS:
            value = getattr(self, fname)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DseError(
                    f"{fname} of model {self.name!r} must be a positive integer, got {value!r}",
                    where=f"model {self.name}: {fname}",
                    accepted="an integer >= 1",
                )
        if self.embedding % self.heads:
            raise DseError(
                f"embedding ({self.embedding}) of model {self.name!r} is not divisible by heads ({self.heads})",
                where=f"model {self.name}: heads",
                accepted="a number of heads dividing the embedding: "
                + ", ".join(map(str, _divisors(self.embedding))),
            )
        mp = self.max_positions
        if mp is not None and (isinstance(mp, bool) or not isinstance(mp, int) or mp < 1):
            raise DseError(f"max_positions of model {self.name!r} must be a positive integer, got {mp!r}",
                           where=f"model {self.name}: max_positions", accepted="an integer >= 1 (or absent)")
        if not isinstance(self.decoder, bool):
            raise DseError(f"decoder of model {self.name!r} must be true or false, got {self.decoder!r}",
                           where=f"model {self.name}: decoder", accepted="true or false")

    @property
    def head_dim(self) -> int:
        """Width of one attention head (``embedding // heads``)."""
        return self.embedding // self.heads


@dataclass(frozen=True)
class _Entry:
    key: str
    aliases: tuple[str, ...]
    model: TransformerModel


def _load_entries(path: Path) -> list[_Entry]:
    """Read and validate a catalog file; every error names the file and key path."""
    where = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = safe_load_fast(fh.read())
    except FileNotFoundError:
        raise DseError("model catalog not found", where=where, accepted="an existing YAML file") from None
    except yaml.YAMLError as err:
        raise DseError(f"model catalog is not valid YAML ({err})", where=where) from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not models:
        raise DseError("missing or empty 'models' mapping", where=f"{where}: models",
                       accepted="a mapping from model name to {embedding, heads, ff_dim, blocks, source}")
    entries: list[_Entry] = []
    seen: dict[str, str] = {}
    for key, body in models.items():
        kpath = f"{where}: models.{key}"
        if not isinstance(body, dict):
            raise DseError("model entry must be a mapping", where=kpath,
                           accepted="keys embedding, heads, ff_dim, blocks, source, aliases")
        unknown = sorted(set(body) - {*_INT_FIELDS, "source", "aliases", "decoder", "max_positions"})
        if unknown:
            raise DseError(f"unknown key(s) {', '.join(map(str, unknown))}", where=kpath,
                           accepted="embedding, heads, ff_dim, blocks, source, aliases, decoder, max_positions")
        values: dict[str, Any] = {}
        for fname in _INT_FIELDS:
            value = body.get(fname)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DseError(f"{fname} must be a positive integer, got {value!r}", where=f"{kpath}.{fname}",
                               accepted="an integer >= 1")
            values[fname] = value
        aliases = body.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise DseError("aliases must be a list of names", where=f"{kpath}.aliases", accepted="[name, ...]")
        decoder = body.get("decoder", False)
        if not isinstance(decoder, bool):
            raise DseError(f"decoder must be true or false, got {decoder!r}", where=f"{kpath}.decoder",
                           accepted="true or false")
        max_positions = body.get("max_positions")
        if max_positions is not None and (isinstance(max_positions, bool) or not isinstance(max_positions, int)
                                          or max_positions < 1):
            raise DseError(f"max_positions must be a positive integer, got {max_positions!r}",
                           where=f"{kpath}.max_positions", accepted="an integer >= 1 (or absent)")
        try:
            model = TransformerModel(name=str(key), source=str(body.get("source", "")), decoder=decoder,
                                     max_positions=max_positions, **values)
        except DseError as err:  # only the embedding/heads divisibility can still fail here
            raise DseError(err.message, where=f"{kpath}.heads", accepted=err.accepted) from None
        names = (str(key).lower(), *(a.lower() for a in aliases))
        for n in names:
            if n in seen:
                raise DseError(f"name {n!r} is used by both {seen[n]!r} and {key!r}", where=kpath,
                               accepted="unique model names and aliases (case-insensitive)")
            seen[n] = str(key)
        entries.append(_Entry(key=str(key), aliases=tuple(aliases), model=model))
    return entries


def load_catalog(path: str | Path | None = None) -> dict[str, TransformerModel]:
    """All models of a catalog file (default ``workloads/models.yaml``), keyed by catalog name, in file order."""
    return {e.key: e.model for e in _load_entries(Path(path) if path else DEFAULT_CATALOG)}


def list_models(path: str | Path | None = None) -> list[str]:
    """Catalog names of all models, in file order."""
    return list(load_catalog(path))


def get_model(name: str | TransformerModel, path: str | Path | None = None) -> TransformerModel:
    """Look a model up by name or alias (case-insensitive).

    A :class:`TransformerModel` is returned unchanged.  An unknown name raises
    :class:`DseError` listing the accepted names.
    """
    if isinstance(name, TransformerModel):
        return name
    entries = _load_entries(Path(path) if path else DEFAULT_CATALOG)
    wanted = str(name).strip().lower()
    for e in entries:
        if wanted == e.key.lower() or wanted in (a.lower() for a in e.aliases):
            return e.model
    raise DseError(
        f"unknown model {name!r}",
        where="--model",
        accepted=", ".join(e.key for e in entries),
    )

