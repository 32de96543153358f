"""dse: design-space exploration of transformer layers on spatial accelerators.

Data flows one way: ``spec`` (YAML) -> ``energy`` (ERT/ART) -> ``mapper`` <-> ``model``
-> ``report`` -> ``hwdse``.  See ``docs/design-decisions.md``.
"""

__version__ = "0.1.0"
