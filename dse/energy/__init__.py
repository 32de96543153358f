"""Accelergy-equivalent energy and area estimation.

* :mod:`dse.energy.tables` -- primitive components from CSV estimation tables;
* :mod:`dse.energy.estimators` -- the immutable :class:`Estimators` registry (tables + plug-ins);
* :mod:`dse.energy.compound` -- compound components (``compound_components`` YAML);
* :mod:`dse.energy.network` -- per-transfer energy of explicit networks (``SimpleMulticast``);
* :mod:`dse.energy.ert` -- per-node ERT/ART (:func:`estimate`), Accelergy file I/O, overrides.
"""
from dse.energy.compound import ComponentModel, load_components
from dse.energy.ert import (
    ActionEnergy,
    AreaEstimate,
    ComponentEnergy,
    EnergyAreaTables,
    estimate,
    merge_ert_art,
    override,
    read_accelergy_art,
    read_accelergy_ert,
    write_art_yaml,
    write_ert_yaml,
)
from dse.energy.estimators import Estimators
from dse.energy.network import NetworkEnergy, estimate_network
from dse.energy.tables import default_tables_dir, load_tables

__all__ = [
    "ActionEnergy",
    "AreaEstimate",
    "ComponentEnergy",
    "ComponentModel",
    "EnergyAreaTables",
    "NetworkEnergy",
    "Estimators",
    "default_tables_dir",
    "estimate",
    "estimate_network",
    "load_components",
    "load_tables",
    "merge_ert_art",
    "override",
    "read_accelergy_art",
    "read_accelergy_ert",
    "write_art_yaml",
    "write_ert_yaml",
]
