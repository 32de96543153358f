"""What a sweep runs: settings, which architecture maps which layer, and the (config, layer) jobs.

Layers an architecture does not declare (``architecture_info.layers`` in its
``knobs.yaml``) go to its declared companion (``architecture_info.companion``: the name
of another shipped architecture, e.g. gemmini's ``gemmini_NOs`` for softmax/layernorm),
with the config keys the companion also declares.  Without a companion that runs the
layer, the layer is *skipped* with the reason; totals then cover the layers that ran and
every view says which layers were left out.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any


RESULT_FORMAT = "dse-hwdse/1"


@dataclass(frozen=True)
class SweepSettings:
    """Everything except the config that decides a job's mapping (part of every job's fingerprint)."""

    arch: str = "gemmini"
    model: str = "bert-base"
    seq_len: int = 512
    batch: int = 1
    fusion_level: str | None = None
    no_edge_fusion: bool = False
    l_fusion: bool = False
    pwim: bool = False
    imperfect: bool = False
    victory_condition: int | None = None
    mapper: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Route:
    """How one layer is run: by ``arch`` (maybe a companion) or skipped with ``reason``."""

    layer: str
    arch: str | None
    keys: tuple[str, ...] | None = None  # config keys passed on (None: all)
    reason: str | None = None


@dataclass(frozen=True)
class SweepJob:
    """One (config, layer) pair; picklable, so it can go to a process pool or a Dask worker."""

    index: int
    layer: str
    arch: str
    config: dict[str, Any]  # the knob values given to ``arch``
    settings: SweepSettings
    full_config: dict[str, Any] = field(default_factory=dict)

    @property
    def dirname(self) -> str:
        """``outputs_<layer>[_<level>]`` like the reference scripts."""
        lvl = self.settings.fusion_level
        return f"outputs_{self.layer}" + (f"_{lvl}" if lvl else "")

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this job's result (computed once per job: it reads the spec files)."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> dict[str, Any]:
        """What identifies this job's result; a stored result is reused only if it matches exactly.

        ``spec_digest`` hashes the architecture's files (system, components, constraints,
        knobs), the mapper preset, the estimation tables and the workload catalog, so editing
        any of them re-maps instead of reusing stale results.
        """
        return {"format": RESULT_FORMAT, "layer": self.layer, "arch": self.arch, "config": self.config,
                "settings": {k: v for k, v in self.settings.as_dict().items() if k != "arch"},
                "spec_digest": spec_digest(self.arch, json.dumps(self.config, sort_keys=True), self.settings.mapper)}

    def layer_job(self):
        """The :class:`dse.pipeline.LayerJob` (one mapper thread: the sweep parallelizes over jobs)."""
        from dse.pipeline import LayerJob

        s = self.settings
        return LayerJob(layer=self.layer, arch=self.arch, config=dict(self.config), model=s.model, seq_len=s.seq_len,
                        batch=s.batch, fusion_level=s.fusion_level, no_edge_fusion=s.no_edge_fusion,
                        l_fusion=s.l_fusion, pwim=s.pwim, imperfect=s.imperfect, mapper=s.mapper,
                        victory_condition=s.victory_condition, threads=1)


def route_layers(arch: str, layers: list[str]) -> list[Route]:
    """Decide, per layer, which architecture runs it (see the module docstring)."""
    from dse.spec.library import arch_directory, knobs_of, route_layer

    name = arch_directory(arch).name
    routes = []
    for layer in layers:
        target, reason = route_layer(arch, layer)
        if target is None:
            routes.append(Route(layer, None, reason=reason))
        elif target == name:
            routes.append(Route(layer, arch))
        else:
            routes.append(Route(layer, target, keys=tuple(knobs_of(target))))
    return routes


def make_jobs(configs: list[dict[str, Any]], settings: SweepSettings, routes: list[Route],
              init_idx: int = 0) -> list[SweepJob]:
    """All (config, layer) jobs; config ``i`` of the list gets index ``init_idx + i``."""
    jobs = []
    for pos, cfg in enumerate(configs):
        for r in routes:
            if r.arch is None:
                continue
            sub = dict(cfg) if r.keys is None else {k: v for k, v in cfg.items() if k in r.keys}
            jobs.append(SweepJob(init_idx + pos, r.layer, r.arch, sub, settings, dict(cfg)))
    return jobs


def validate_companions(configs: list[dict[str, Any]], routes: list[Route], source: str) -> None:
    """Check the config keys handed to companion architectures (same rules as the main one)."""
    from dse.hwdse.configs import validate_configs

    for arch, keys in {(r.arch, r.keys) for r in routes if r.arch is not None and r.keys is not None}:
        validate_configs([{k: v for k, v in c.items() if k in keys} for c in configs], arch,
                         f"{source} (as given to companion architecture '{arch}')")


def spec_digest(arch: str, config_json: str, mapper: str | None) -> str:
    """SHA-256 over the files a job's spec is loaded from, the mapper preset or file, and the data folders
    its numbers come from (``estimation_tables/``, ``workloads/``)."""
    from dse.pipeline import MAPPERS_DIR
    from dse.spec.library import resolve_architecture

    bundle = resolve_architecture(arch, json.loads(config_json))
    paths = list(bundle.files) + [bundle.directory / "knobs.yaml"]
    preset = Path(mapper) if mapper and Path(mapper).exists() else MAPPERS_DIR / f"{mapper or 'default'}.yaml"
    if preset.exists():
        paths.append(preset)
    paths += _data_files("estimation_tables") + _data_files("workloads")
    h = hashlib.sha256()
    for p in paths:
        h.update(str(Path(p).name).encode())
        h.update(_file_bytes(Path(p)))
    return h.hexdigest()[:16]


def _file_bytes(path: Path) -> bytes:
    """The file's content, read once per version of the file (a sweep of 10,000 configs digests the same
    tables 20,000 times)."""
    st = path.stat()
    return _read_cached(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=1024)
def _read_cached(path: str, mtime_ns: int, size: int) -> bytes:
    return Path(path).read_bytes()


def _data_files(folder: str) -> list[Path]:
    """The data files of a shipped folder, in a stable order (code such as table generators excluded)."""
    from dse.paths import data_dir

    return list(_data_files_cached(data_dir(folder)))  # keyed by the folder itself: DSE_HOME may change


@lru_cache(maxsize=8)
def _data_files_cached(root: Path) -> tuple[Path, ...]:
    """Listed once per process: a sweep digests them for every job (file contents are re-checked by mtime)."""
    return tuple(sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".csv", ".yaml", ".yml", ".json")))
