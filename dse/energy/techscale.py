"""Accelergy's technology-scaling rule (Stillmaker & Baas, as Accelergy applies it).

Accelergy's library/Aladdin plug-ins scale a component characterised at one CMOS
node to another with the scaling equations of A. Stillmaker and B. Baas,
"Scaling equations for the accurate prediction of CMOS device performance from
180 nm to 7 nm", Integration 58 (2017) 74-81: an area factor table between the
nodes 130, 90, 65, 45, 32, 20, 16, 14, 10, 7 nm, and per node a quadratic in the
supply voltage (``a*Vdd^2 + b*Vdd + c``, Vdd = 0.8 V) whose ratio is the energy
factor.  Leakage scales like energy.

A node between two table nodes gets a fractional table position.  Accelergy
places it at ``i_big + (t - n_small) / (n_big - n_small)`` where ``i_big`` is
the index of the larger neighbouring node (so 28 nm sits two thirds of the way
from 32 nm to 20 nm), and interpolates linearly in that position (bilinearly for
area).  dse keeps that placement because it is what Accelergy computed for the
reference designs: the 40 nm Aladdin adder, which Accelergy uses as its 45 nm
point, gives Gemmini's 32 nm MAC 0.276923 pJ / 255.76 um^2 and the TPU's 28 nm
MAC 0.154205 pJ / 163.09 um^2 (tests/test_energy_techscale.py).
"""
from __future__ import annotations

import math

from dse.errors import OutOfRangeError

#: Table nodes in nm, largest first (Stillmaker & Baas, Table 5/6).
NODES_NM = (130.0, 90.0, 65.0, 45.0, 32.0, 20.0, 16.0, 14.0, 10.0, 7.0)
#: AREA[i][j]: area at node j of a design of area 1 at node i.
AREA = (
    (1, 0.44, 0.23, 0.16, 0.072, 0.033, 0.03, 0.027, 0.016, 0.0092),
    (2.3, 1, 0.53, 0.35, 0.16, 0.075, 0.067, 0.061, 0.036, 0.021),
    (4.3, 1.9, 1, 0.66, 0.31, 0.14, 0.13, 0.12, 0.068, 0.039),
    (6.4, 2.8, 1.5, 1, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059),
    (14, 6.1, 3.3, 2.2, 1, 0.46, 0.41, 0.38, 0.22, 0.13),
    (30, 13, 7.1, 4.7, 2.2, 1, 0.89, 0.82, 0.48, 0.28),
    (34, 15, 7.9, 5.3, 2.4, 1.1, 1, 0.91, 0.54, 0.31),
    (37, 16, 8.7, 5.8, 2.7, 1.2, 1.1, 1, 0.59, 0.34),
    (63, 28, 15, 9.8, 4.5, 2.1, 1.9, 1.7, 1, 0.58),
    (110, 48, 25, 17, 7.8, 3.6, 3.2, 2.9, 1.7, 1),
)
#: Per node: energy ~ a*Vdd^2 + b*Vdd + c.
ENERGY_POLY = (
    (7.171, -6.709, 2.904),
    (4.762, -4.781, 2.092),
    (3.755, -4.398, 1.975),
    (1.103, -0.362, 0.2767),
    (0.9559, -0.7823, 0.471),
    (0.373, -0.1582, 0.04104),
    (0.2958, -0.1241, 0.03024),
    (0.2363, -0.09675, 0.02239),
    (0.2068, -0.09311, 0.02375),
    (0.1776, -0.09097, 0.02447),
)
VDD_V = 0.8


def node_position(node_nm: float, where: str = "technology") -> float:
    """Fractional index of ``node_nm`` in :data:`NODES_NM`, placed as Accelergy places it."""
    if not NODES_NM[-1] <= node_nm <= NODES_NM[0]:
        nearest = min(NODES_NM, key=lambda n: abs(math.log(node_nm / n))) if node_nm > 0 else NODES_NM[-1]
        raise OutOfRangeError(
            f"attribute technology={node_nm:g}nm is outside the range of Accelergy's technology scaling "
            f"({NODES_NM[-1]:g}..{NODES_NM[0]:g} nm); nearest valid value {nearest:g}nm",
            where=where, accepted=f"technology between {NODES_NM[-1]:g}nm and {NODES_NM[0]:g}nm")
    for i, n in enumerate(NODES_NM):
        if math.isclose(node_nm, n, rel_tol=1e-9):
            return float(i)
    big = max(i for i, n in enumerate(NODES_NM) if n > node_nm)
    small = big + 1
    frac = (node_nm - NODES_NM[small]) / (NODES_NM[big] - NODES_NM[small])
    return big + frac


def _energy_level(pos: float) -> float:
    lo, hi = math.floor(pos), math.ceil(pos)
    w = pos - lo

    def level(i: int) -> float:
        a, b, c = ENERGY_POLY[i]
        return a * VDD_V ** 2 + b * VDD_V + c

    return level(lo) * (1 - w) + level(hi) * w


def energy_factor(from_nm: float, to_nm: float, where: str = "technology") -> float:
    """Multiply an energy (or leakage) characterised at ``from_nm`` by this to get it at ``to_nm``."""
    return _energy_level(node_position(to_nm, where)) / _energy_level(node_position(from_nm, where))


def area_factor(from_nm: float, to_nm: float, where: str = "technology") -> float:
    """Multiply an area characterised at ``from_nm`` by this to get it at ``to_nm``."""
    x, y = node_position(from_nm, where), node_position(to_nm, where)
    x0, x1, y0, y1 = math.floor(x), math.ceil(x), math.floor(y), math.ceil(y)
    wx, wy = x - x0, y - y0
    return (AREA[x0][y0] * (1 - wx) * (1 - wy) + AREA[x0][y1] * (1 - wx) * wy
            + AREA[x1][y0] * wx * (1 - wy) + AREA[x1][y1] * wx * wy)
