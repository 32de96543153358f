"""Cross-knob rules (architecture_info.checks): a PE array the bandwidth cannot feed is rejected."""
import json

import pytest

from dse.errors import DseError
from dse.spec.library import resolve_architecture


def test_array_that_the_scratchpad_cannot_feed_is_rejected_naming_the_knobs():
    # WS: 512 columns need 512 input words per 16-cycle window; 16 words/cycle give only 256.
    with pytest.raises(DseError) as err:
        resolve_architecture("gemmini", {"pe_cols": 512, "scratchpad_bandwidth": 16}, where="cfg[3]")
    msg = err.value.format()
    assert msg.startswith("cfg[3]: dataflow, pe_cols, scratchpad_bandwidth:")
    assert "pe_cols=512" in msg and "scratchpad_bandwidth=16" in msg and "Accepted: scratchpad_bandwidth >= pe_cols / 16" in msg
    # 32 words/cycle feed 512 columns once per 16 cycles: accepted; OS has no such rule
    assert resolve_architecture("gemmini", {"pe_cols": 512, "scratchpad_bandwidth": 32}).values["pe_cols"] == 512
    assert resolve_architecture("gemmini", {"pe_cols": 512, "dataflow": "OS"}).values["dataflow"] == "OS"


def test_accumulator_smaller_than_the_rows_is_rejected():
    with pytest.raises(DseError, match="accumulator_size=8, pe_rows=16 break the rule"):
        resolve_architecture("gemmini", {"accumulator_size": 8})


def test_every_reference_gemmini_config_passes_the_rules():
    from pathlib import Path

    cfgs = json.loads((Path(__file__).parent / "data/reference/transformer_gemmini/hw_configs.json").read_text())
    for i, c in enumerate(cfgs):
        resolve_architecture("gemmini", c, where=f"hw_configs.json[{i}]")
