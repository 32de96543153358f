"""Read Timeloop output files: ``timeloop-*.stats.txt`` and ``timeloop-*.map.txt``.

The stats reader recovers, per level, the temporal loop nest, the data spaces kept,
the per-instance access counts, the energies and the summary lines, so that a
mapping and its per-access energies can be re-evaluated by our model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dse.errors import DseError

_LOOP = re.compile(r"for\s+(\w+)\s+in\s+\[(\d+)\s*:\s*(\d+)(?:\s*,\s*(\d+))?\)(?:\s*\((Spatial-[XY])\))?")


def _loop(m: re.Match) -> tuple[tuple[str, int, str | None], tuple[str, str | None, int] | None]:
    """``for L in [0:16,5) (Spatial-X)`` -> ``(("L", 16, "Spatial-X"), ("L", "Spatial-X", 5))``; Timeloop prints a
    residual (``residual_end``) after the bound when it differs."""
    bound = int(m.group(3)) - int(m.group(2))
    res = (m.group(1), m.group(5), int(m.group(4))) if m.group(4) is not None and int(m.group(4)) != bound else None
    return (m.group(1), bound, m.group(5)), res


@dataclass(frozen=True)
class StatsDataSpace:
    name: str
    fields: dict[str, float]  # e.g. "Scalar reads (per-instance)" -> 123

    def get(self, key: str) -> float:
        return self.fields[key]


@dataclass(frozen=True)
class StatsLevel:
    index: int
    name: str
    is_compute: bool
    specs: dict[str, str]
    loops: tuple[tuple[str, int, str | None], ...]  # outer->inner (dim, bound, spatial tag or None)
    stats: dict[str, float]
    data_spaces: tuple[StatsDataSpace, ...]
    residuals: tuple[tuple[str, str | None, int], ...] = ()  # (dim, spatial tag or None, residual) of imperfect loops

    def data_space(self, name: str) -> StatsDataSpace:
        for d in self.data_spaces:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def kept(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.data_spaces)


@dataclass(frozen=True)
class TimeloopStats:
    path: str
    levels: tuple[StatsLevel, ...]  # as in the file: compute (Level 0) first, outermost last
    summary: dict[str, float] = field(default_factory=dict)
    pj_per_compute: dict[str, float] = field(default_factory=dict)

    @property
    def compute(self) -> StatsLevel:
        return next(l for l in self.levels if l.is_compute)

    @property
    def storage(self) -> tuple[StatsLevel, ...]:
        """Storage levels, outermost first."""
        return tuple(reversed([l for l in self.levels if not l.is_compute]))

    def level(self, name: str) -> StatsLevel:
        for l in self.levels:
            if l.name == name:
                return l
        raise KeyError(name)


def number_in(text: str) -> float | None:
    """The number a stats value starts with (``'0.03 pJ'`` -> 0.03), or None."""
    m = re.match(r"\s*([-+]?\d[\d.]*(?:[eE][-+]?\d+)?)", text)
    if not m:
        return None
    try:
        return float(m.group(1))
    except ValueError:  # '1.2.3'
        return None


def _read(path: str | Path, accepted: str) -> tuple[Path, str]:
    p = Path(path)
    try:
        return p, p.read_text()
    except FileNotFoundError:
        raise DseError("file not found", str(p), accepted) from None


def parse_stats(path: str | Path) -> TimeloopStats:
    """Parse a Timeloop ``stats.txt``; :class:`DseError` if it is not one."""
    p, text = _read(path, "a Timeloop stats.txt file")
    if "Buffer and Arithmetic Levels" not in text or "Summary Stats" not in text:
        raise DseError("not a Timeloop stats file (no 'Buffer and Arithmetic Levels' / 'Summary Stats' sections)",
                       str(p), "the timeloop-mapper.stats.txt or timeloop-model.stats.txt Timeloop writes")
    body, _, rest = text.partition("\nNetworks\n")
    blocks = re.split(r"\nLevel (\d+)\n-+\n", "\n" + body)
    levels = []
    for i in range(1, len(blocks), 2):
        levels.append(_parse_level(int(blocks[i]), blocks[i + 1]))
    summary: dict[str, float] = {}
    pjc: dict[str, float] = {}
    tail = text.split("Summary Stats", 1)[1]
    in_pjc = False
    for line in tail.splitlines():
        if line.startswith("pJ/Compute"):
            in_pjc = True
            continue
        if in_pjc and "=" in line:
            k, v = line.split("=", 1)
            n = number_in(v)
            if n is not None and v.strip() == v.strip().split()[0]:  # "Name = 0.123" only, not prose
                pjc[k.strip()] = n
                continue
        if ":" in line:
            k, v = line.split(":", 1)
            n = number_in(v)
            if n is not None:
                summary[k.strip()] = n
        elif line.startswith("Computes ="):
            summary["Computes"] = float(line.split("=")[1])
    return TimeloopStats(str(p), tuple(levels), summary, pjc)


def _parse_level(index: int, block: str) -> StatsLevel:
    name = re.search(r"=== (.+?) ===", block).group(1).strip()
    specs_txt = block.split("STATS", 1)[0]
    stats_txt = block.split("STATS", 1)[1] if "STATS" in block else ""
    specs = {}
    for line in specs_txt.splitlines():
        if ":" in line and "for " not in line:
            k, v = line.split(":", 1)
            specs[k.strip()] = v.strip()
    loops, residuals = [], []
    if "Loop nest:" in specs_txt:
        for line in specs_txt.split("Loop nest:", 1)[1].splitlines():
            m = _LOOP.search(line)
            if m:
                loop, res = _loop(m)
                loops.append(loop)
                residuals += [res] if res else []
    is_compute = "Computes (total)" in stats_txt
    stats: dict[str, float] = {}
    data_spaces = []
    cur: dict[str, float] | None = None
    cur_name = None
    for line in stats_txt.splitlines():
        if not line.strip() or set(line.strip()) <= {"-"}:
            continue
        ds = re.match(r"^    (\w+):\s*$", line)
        if ds:
            if cur_name is not None:
                data_spaces.append(StatsDataSpace(cur_name, cur))
            cur_name, cur = ds.group(1), {}
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            n = number_in(v)
            if n is None:
                continue
            (cur if cur is not None else stats)[k.strip()] = n
    if cur_name is not None:
        data_spaces.append(StatsDataSpace(cur_name, cur))
    return StatsLevel(index, name, is_compute, specs, tuple(loops), stats, tuple(data_spaces), tuple(residuals))


# --------------------------------------------------------------------------- map.txt
@dataclass(frozen=True)
class MapTxtLevel:
    name: str
    kept: tuple[str, ...]
    loops: tuple[tuple[str, int, str | None], ...]  # outer->inner, spatial tag or None
    residuals: tuple[tuple[str, str | None, int], ...] = ()  # (dim, spatial tag or None, residual)


def parse_map_txt(path: str | Path) -> tuple[MapTxtLevel, ...]:
    """Parse a Timeloop ``map.txt`` loop nest (levels outermost first, spatial loops included)."""
    p, text = _read(path, "a Timeloop map.txt file")
    lines = text.splitlines()
    levels: list[MapTxtLevel] = []
    header = re.compile(r"^(\S+)\s*\[(.*)\]\s*$")
    name, kept, loops, residuals = None, (), [], []
    for line in lines:
        h = header.match(line.strip())
        if h and not line.lstrip().startswith("|"):
            if name is not None:
                levels.append(MapTxtLevel(name, kept, tuple(loops), tuple(residuals)))
            name = h.group(1)
            kept = tuple(x.split(":")[0].strip() for x in h.group(2).split() if ":" in x)
            loops, residuals = [], []
            continue
        m = _LOOP.search(line)
        if m and name is not None:
            loop, res = _loop(m)
            loops.append(loop)
            residuals += [res] if res else []
    if name is not None:
        levels.append(MapTxtLevel(name, kept, tuple(loops), tuple(residuals)))
    if not levels:
        raise DseError("no loop nest found", str(p), "Timeloop map.txt with 'Level [ DataSpace:size ... ]' headers and 'for X in [0:N)' loops")
    return tuple(levels)


def stats_from_map_txt(path: str | Path) -> TimeloopStats:
    """A map.txt loop nest as a :class:`TimeloopStats` with loops and kept data spaces only (no counts)."""
    levels = parse_map_txt(path)
    storage = [StatsLevel(i + 1, lvl.name, False, {}, lvl.loops, {},
                          tuple(StatsDataSpace(k, {"Utilized instances (max)": 0}) for k in lvl.kept), lvl.residuals)
               for i, lvl in enumerate(reversed(levels))]
    return TimeloopStats(str(path), (StatsLevel(0, "compute", True, {}, (), {}, ()), *storage))


def read_loop_nest(path: str | Path) -> TimeloopStats:
    """The loop nest of a Timeloop ``stats.txt`` or ``map.txt`` (told apart by content)."""
    p, text = _read(path, "a Timeloop stats.txt or map.txt")
    if "Buffer and Arithmetic Levels" in text:
        return parse_stats(p)
    return stats_from_map_txt(p)
