"""Less common accepted forms: !Hierarchical, merge keys, utilization constraints, templates, globs."""
from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

from dse.spec import load_spec
from dse.spec.types import SpatialLevel

ARCH = """\
base: &sram {class: SRAM, attributes: {width: 32, datawidth: 8}}
architecture:
  version: 0.4
  nodes:
  - !Container {name: top, attributes: {technology: 7nm}}
  - !Component {name: DRAM, class: DRAM, attributes: {datawidth: 8, width: 64}}
  - !Hierarchical
    nodes:
    - !Container {name: rows, spatial: {meshY: 2}, attributes: {technology: 5nm}}
    - !Component
      <<: *sram
      name: buf
      attributes: {depth: 16, width: 32, datawidth: 8, multiple_buffering: 2, min_utilization: 0.5}
      constraints:
        utilization: {min: 0.25}
        max_overbooked_proportion: {proportion: 0.1}
    - !Parallel
      nodes:
      - !Component {name: a, class: regfile, attributes: {entries: 4, datawidth: 16, bandwidth: 8}}
      - !Nothing {}
      - !Component {name: b, class: regfile, attributes: {sizeKB: 1, datawidth: 8}}
    - !Component {name: mac, class: fpmac}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_hierarchical_parallel_nothing_and_merge_keys(tmp_path):
    spec = load_spec([write(tmp_path, "arch.yaml", ARCH)])
    arch = spec.architecture
    assert arch.node_names == ("DRAM", "rows", "buf", "a", "b", "mac")
    assert arch.node("rows") == SpatialLevel("rows", 1, 2)
    buf = arch.node("buf")
    assert buf.component_class == "SRAM" and buf.block_size == 4 and buf.size_words == 64  # 32/8, 16*4
    assert buf.multiple_buffering == 2.0 and buf.min_utilization == 0.5 and buf.instances == 2
    assert buf.attributes["technology"] == "5nm" and arch.node("DRAM").attributes["technology"] == "7nm"
    a, b = arch.node("a"), arch.node("b")
    assert (a.size_words, a.word_bits, a.read_bandwidth, a.write_bandwidth) == (4, 16, 4.0, 4.0)
    assert b.size_words == 1024  # 1 KB of 8-bit words
    assert arch.compute.component_class == "fpmac" and arch.compute.instances == 2
    util = [c for c in spec.constraints if c.type == "utilization"][0]
    over = [c for c in spec.constraints if c.type == "max_overbooked_proportion"][0]
    assert (util.target, util.min_utilization) == ("buf", 0.25)
    assert (over.target, over.max_overbooked_proportion) == ("buf", 0.1)


def test_spec_is_picklable_for_worker_processes(tmp_path):
    spec = load_spec([write(tmp_path, "arch.yaml", ARCH)])
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_mapspace_template_globs_and_mapper_hyphens(tmp_path):
    write(tmp_path, "arch.yaml", ARCH)
    write(tmp_path, "ms.yaml", "mapspace:\n  template: ruby\n  targets:\n  - {target: buf, type: temporal, permutation: 'K N'}\n")
    write(tmp_path, "mapper.yaml", "mapper:\n  algorithm: random_pruned\n  optimization-metric: delay\n  search-size: 100\n  seed: 7\n  max_permutations_per_if_visit: 16\n")
    spec = load_spec([str(tmp_path / "*.yaml")])
    assert spec.mapspace_template == "ruby"
    assert spec.constraints[-1].permutation == ("K", "N")
    m = spec.mapper
    assert (m.algorithm, m.optimization_metrics, m.search_size, m.seed) == ("random_pruned", ("delay",), 100, 7)
    assert m.extra == {"max_permutations_per_if_visit": 16}


def test_later_files_override_and_variables_chain(tmp_path):
    v1 = write(tmp_path, "v1.yaml", "variables:\n  A: 2\n  B: A*3\n  tech: 45nm\n")
    v2 = write(tmp_path, "v2.yaml", "variables:\n  A: 5\n")
    spec = load_spec([v1, v2])
    assert spec.variables == {"A": 5, "B": 15, "tech": "45nm"}
    spec = load_spec([v1], variables={"A": "10", "C": "B+1"})
    assert spec.variables == {"A": 10, "B": 30, "tech": "45nm", "C": 31}
