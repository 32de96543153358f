"""Resource caps and picklability (issue 16): worker processes, network energies in workers."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from dse.limits import PROCESSES_PER_CORE, cap_processes, max_processes

PIM = Path(__file__).parent / "data" / "reference" / "transformer_pim"


def test_processes_capped_with_a_note():
    cap = PROCESSES_PER_CORE * (os.cpu_count() or 1)
    assert max_processes() == cap
    assert cap_processes(cap, "--workers") == (cap, None)
    n, note = cap_processes(100000, "--workers")
    assert n == cap and "--workers 100000 capped at" in note


def test_network_energies_pickle_into_mapper_workers():
    """--threads > 1 ships the energies to worker processes: the seed's PIM spec (networks with
    estimated per-multicast energies, num_threads: 12) must pickle and evaluate the same."""
    from dse.pipeline import energies_for
    from dse.spec.loader import load_spec

    files = [PIM / "arch/system_PIM.yaml", *sorted((PIM / "arch/components").glob("*.yaml")),
             PIM / "constraints/constraints.yaml", *sorted((PIM / "mapper").glob("*.yaml"))]
    spec = load_spec([str(f) for f in files])
    assert spec.mapper.num_threads == 12 and spec.architecture.networks
    energies, _, _ = energies_for(spec, None)
    assert energies.networks, "the PIM spec's networks carry energies"
    again = pickle.loads(pickle.dumps(energies))
    checked = 0
    for name, net in energies.networks.items():
        for ds in ("Inputs", "Weights", "Outputs"):
            for m in (1, 2, 8, 128):
                assert again.networks[name].energy_pj(ds, m) == net.energy_pj(ds, m)
                checked += net.energy_pj(ds, m) > 0
    assert checked > 0
