"""``--estimator live``: call the hwcomponents models directly instead of the shipped tables.

Needs Python >= 3.12 and the optional extra (``pip install -e ".[cacti]"``); on glibc
< 2.38 (Debian 12) the CACTI binary in the hwcomponents-cacti wheel must be rebuilt
(``make clean && make opt`` in its ``cacti/`` folder).  The plug-in prices the
classes the shipped ``estimation_tables/hwcomponents`` tables cover, with the same
conventions (docs/energy.md): SRAM through ``hwcomponents_cacti.SRAM``; the Aladdin
parts through ``hwcomponents_library`` at their characterised 40 nm, then Accelergy's
technology rule from 45 nm (:mod:`dse.energy.techscale`); DRAM per bit by type.

Every model result is cached on disk (``~/.cache/dse/live_models.jsonl``, or
``$DSE_CACHE_DIR``), one JSON line per distinct shape, so a sweep of many
configurations calls CACTI once per distinct SRAM shape, across processes and runs.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from dse.energy import techscale
from dse.energy.estimators import Estimators
from dse.energy.tables import parse_technology
from dse.errors import EstimationError

INSTALL_HINT = ('pip install -e ".[cacti]" on Python >= 3.12 (the hwcomponents, hwcomponents-cacti and '
                'hwcomponents-library packages); on glibc < 2.38 rebuild CACTI with `make clean && make opt` '
                'in site-packages/hwcomponents_cacti/cacti/')
ALADDIN_NODE_NM = 40.0
ALADDIN_ACCELERGY_NODE_NM = 45.0
ALADDIN = {"aladdin_adder": ("adder", "add"), "intadder": ("adder", "add"), "aladdin_register": ("register", "read"),
           "aladdin_comparator": ("comparator", "compare"), "aladdin_counter": ("counter", "count"),
           "aladdin_multiplier": ("multiplier", "multiply"), "intmultiplier": ("multiplier", "multiply")}
DRAM_PJ_PER_BIT_KEY = "DRAM"
CLASSES = ("SRAM", "DRAM", *ALADDIN)


def cache_path() -> Path:
    root = os.environ.get("DSE_CACHE_DIR")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dse"
    return base / "live_models.jsonl"


def require_models() -> None:
    """Raise :class:`EstimationError` saying how to install the models when they are missing."""
    if sys.version_info < (3, 12):
        raise EstimationError(f"--estimator live needs Python >= 3.12 (this is {sys.version.split()[0]})",
                              where="--estimator live", accepted=INSTALL_HINT + "; or the default --estimator tables")
    try:
        import hwcomponents_cacti  # noqa: F401
        import hwcomponents_library  # noqa: F401
    except ImportError as err:
        raise EstimationError(f"the hwcomponents models are not installed ({err})", where="--estimator live",
                              accepted=INSTALL_HINT + "; or the default --estimator tables") from None


class DiskCache:
    """Model results by key, shared by processes through one append-only JSON-lines file."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, dict[str, float]] = {}
        self.calls = 0
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.data[rec["key"]] = rec["value"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a crash: recomputed when needed

    def get(self, key: tuple, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
        k = json.dumps(key)
        if k not in self.data:
            value = compute()
            self.calls += 1
            self.data[k] = value
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"key": k, "value": value}) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())  # one O_APPEND write: lines of parallel workers never interleave
            finally:
                os.close(fd)
        return self.data[k]


def _number(attrs: Mapping[str, Any], names: tuple[str, ...], default: float | None, cls: str, where: str) -> float:
    for n in names:
        if n in attrs and attrs[n] is not None:
            try:
                return float(attrs[n])
            except (TypeError, ValueError):
                raise EstimationError(f"{cls} attribute {n}={attrs[n]!r} is not a number", where=where) from None
    if default is None:
        raise EstimationError(f"{cls} needs attribute {names[0]}", where=where, accepted=f"{names[0]}: a number")
    return default


def _technology(attrs: Mapping[str, Any], cls: str, where: str) -> float:
    node = parse_technology(attrs.get("technology"))
    if node is None:
        raise EstimationError(f"{cls} needs a CMOS technology, got {attrs.get('technology')!r}", where=where,
                              accepted="technology such as 32nm")
    return node


class LiveModels:
    """An :class:`~dse.energy.estimators.EstimatorPlugin` over the hwcomponents models (cached)."""

    def __init__(self, cache: DiskCache | None = None, defer_to: tuple = ()):
        require_models()
        self.cache = cache or DiskCache(cache_path())
        #: user table sets: a class they define is left to them (user tables win, as in Accelergy)
        self.defer_to = defer_to

    def _deferred(self, class_name: str) -> bool:
        return any(ts.find_class(class_name) is not None for ts in self.defer_to)

    # ------------------------------------------------------------------ models
    def _sram(self, attrs: Mapping[str, Any], where: str) -> dict[str, float]:
        t = _technology(attrs, "SRAM", where)
        w = int(_number(attrs, ("width", "datawidth"), None, "SRAM", where))
        d = int(_number(attrs, ("depth",), None, "SRAM", where))
        b = int(_number(attrs, ("n_banks",), 1, "SRAM", where))
        p = int(_number(attrs, ("n_rw_ports",), 1, "SRAM", where))
        if w < 1 or d < 1 or b < 1 or p < 1:
            raise EstimationError(f"SRAM width={w}, depth={d}, n_banks={b}, n_rw_ports={p} must all be >= 1",
                                  where=where, accepted="positive whole numbers")

        def run() -> dict[str, float]:
            from hwcomponents_cacti import SRAM

            logging.disable(logging.INFO)
            s = SRAM(tech_node=t * 1e-9, width=w, depth=d, size=w * d, n_rw_ports=p, n_banks=b)
            return {"read": s.read_energy * 1e12, "write": s.write_energy * 1e12,
                    "leak_w": s.cacti_leak_power, "area": s.cacti_area * 1e12}

        return self.cache.get(("SRAM", t, w, d, b, p), run)

    def _aladdin(self, cls: str, attrs: Mapping[str, Any], where: str) -> tuple[dict[str, float], float, float]:
        kind, _ = ALADDIN[cls]
        t = _technology(attrs, cls, where)
        if kind == "multiplier":
            wa = int(_number(attrs, ("width_a", "datawidth_a"), 32, cls, where))
            wb = int(_number(attrs, ("width_b", "datawidth_b"), 32, cls, where))
            key: tuple = ("aladdin", kind, wa, wb)
        else:
            wa = int(_number(attrs, ("width", "datawidth"), 1 if kind == "register" else 32, cls, where))
            wb = 0
            key = ("aladdin", kind, wa)

        def run() -> dict[str, float]:
            from hwcomponents_library.library import aladdin as al

            model = {"adder": al.AladdinAdder, "multiplier": al.AladdinMultiplier, "register": al.AladdinRegister,
                     "comparator": al.AladdinComparator, "counter": al.AladdinCounter}[kind]
            kwargs: dict[str, Any] = {"tech_node": ALADDIN_NODE_NM * 1e-9}
            if kind == "multiplier":
                kwargs.update(width_a=wa, width_b=wb)
            else:
                kwargs["width"] = wa
            m = model(**kwargs)
            out = {"leak_w": float(m.leak_power), "area": float(m.area) * 1e12}
            for action in m.get_action_names():
                out[action] = float(getattr(m, action)().energy) * 1e12
            return out

        r = self.cache.get(key, run)
        if math.isclose(t, ALADDIN_NODE_NM):
            return r, 1.0, 1.0
        return (r, techscale.energy_factor(ALADDIN_ACCELERGY_NODE_NM, t, where),
                techscale.area_factor(ALADDIN_ACCELERGY_NODE_NM, t, where))

    def describe(self, class_name: str, attributes: Mapping[str, Any]) -> str:
        """The model and package version behind ``class_name`` (the ERT/ART source)."""
        from importlib import metadata

        if class_name == "SRAM":
            return f"hwcomponents-cacti {metadata.version('hwcomponents-cacti')} SRAM (CACTI 7), live"
        if class_name == "DRAM":
            return f"hwcomponents-cacti {metadata.version('hwcomponents-cacti')} DRAM model, live"
        t = parse_technology(attributes.get("technology"))
        rule = "" if t is None or math.isclose(t, ALADDIN_NODE_NM) else \
            f"; technology scaled {ALADDIN_ACCELERGY_NODE_NM:g}nm->{t:g}nm by Accelergy's rule"
        return (f"hwcomponents-library {metadata.version('hwcomponents-library')} Aladdin "
                f"{ALADDIN[class_name][0]} (40 nm data), live{rule}")

    # ------------------------------------------------------------------ plug-in protocol
    def energy(self, class_name: str, attributes: Mapping[str, Any], action: str) -> float | None:
        where = f"class {class_name} (--estimator live)"
        if self._deferred(class_name):
            return None
        cycle_s = float(attributes.get("global_cycle_seconds") or 1e-9)
        if class_name == "SRAM":
            r = self._sram(attributes, where)
            if action == "leak":
                return r["leak_w"] * cycle_s * 1e12
            return r.get("write" if action == "update" else action)
        if class_name == "DRAM":
            from hwcomponents_cacti import hwcomponents_cacti as hc

            kind = str(attributes.get("type", "LPDDR4"))
            table = hc._DRAM.type2energylatency
            if kind not in table:
                return None  # the shipped tables (DDR4, GDDR5) answer
            width = _number(attributes, ("width",), None, "DRAM", where)
            return 0.0 if action == "leak" else table[kind][0] * width
        if class_name in ALADDIN:
            r, e_factor, _ = self._aladdin(class_name, attributes, where)
            kind, main = ALADDIN[class_name]
            if action == "leak":
                return r["leak_w"] * cycle_s * 1e12 * e_factor
            if action in ("write", "update"):
                # the Aladdin data the library quotes has register write 0 (Accelergy's reference ERTs)
                return 0.0 if kind == "register" else r.get("write", 0.0) * e_factor
            if action in (main, "read"):
                return r.get(main, r.get("read", 0.0)) * e_factor
            return None
        return None

    def area(self, class_name: str, attributes: Mapping[str, Any]) -> float | None:
        where = f"class {class_name} (--estimator live)"
        if self._deferred(class_name):
            return None
        if class_name == "SRAM":
            return self._sram(attributes, where)["area"]
        if class_name == "DRAM":
            return 0.0
        if class_name in ALADDIN:
            r, _, a_factor = self._aladdin(class_name, attributes, where)
            return r["area"] * a_factor
        return None


def live_estimators(base: Estimators | None = None, user_tables: tuple = ()) -> Estimators:
    """``base`` (default: the shipped tables) with the live models asked first for their classes,
    except classes that ``user_tables`` (the user's table sets) define."""
    est = base or Estimators.default()
    plugin = LiveModels(defer_to=tuple(user_tables))
    for cls in CLASSES:
        est = est.with_plugin(cls, plugin)
    return est
