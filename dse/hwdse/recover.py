"""Rebuild a results folder's index files from the per-layer results it holds.

``sweep.json`` and ``<idx>/hw_config.json`` are summaries; the results themselves are the
``<idx>/outputs_*/dse-layer.json`` records (each carries its job's fingerprint: layer,
architecture, knob values, settings).  A lost or corrupt summary must not make a folder
of intact results unusable: :func:`recover` rebuilds what is missing and says so.
"""
from __future__ import annotations

from typing import Any, Callable

from dse.hwdse.plan import RESULT_FORMAT
from dse.hwdse.store import CONFIG_FILE, LAYER_FILE, SWEEP_FILE, Store, read_json


def _records(store: Store, idx: int) -> list[dict[str, Any]]:
    out = []
    for d in sorted(store.config_dir(idx).glob("outputs_*")):
        rec = read_json(d / LAYER_FILE)
        if isinstance(rec, dict) and isinstance(rec.get("fingerprint"), dict):
            out.append(rec)
    return out


def _info_from_configs(store: Store) -> dict[str, Any] | None:
    """sweep.json content from the ``dse`` meta of any readable hw_config.json."""
    from dse.hwdse.plan import route_layers

    for idx in store.indices():
        doc = store.read_config(idx)
        if doc is None:
            continue
        meta = doc["dse"]
        settings, layers = meta.get("settings"), meta.get("layers")
        if isinstance(settings, dict) and isinstance(layers, list) and settings.get("arch"):
            routes = route_layers(settings["arch"], layers)
            return {"format": RESULT_FORMAT, "settings": settings, "layers": layers,
                    "routes": [{"layer": r.layer, "arch": r.arch, "reason": r.reason} for r in routes],
                    "aggregation": meta.get("aggregation") or {"ignore_heads": False, "blocks": False}}
    return None


def recover(store: Store, note: Callable[[str], None]) -> None:
    """Rebuild a missing/corrupt ``sweep.json`` and ``hw_config.json`` files of ``store`` from its results.

    Configs whose ``hw_config.json`` cannot be rebuilt (no readable layer record either) are
    reported through ``note``, never silently dropped.
    """
    if not store.root.is_dir() or not store.indices():
        return
    info = store.sweep_info()
    if info is None:
        info = _info_from_configs(store)
        if info is None:
            return  # nothing to rebuild from (corrupt summaries everywhere): check_usable reports the folder
        had = (store.root / SWEEP_FILE).exists()
        store.write_sweep_info({k: v for k, v in info.items() if k != "format"})
        note(f"{store.root / SWEEP_FILE} was {'corrupt' if had else 'missing'}; rebuilt from the results in the folder")
    from dse.hwdse.results import config_document, evaluate

    arch = info["settings"].get("arch")
    agg = info.get("aggregation") or {}
    for idx in store.indices():
        if store.read_config(idx) is not None:
            continue
        path = store.config_dir(idx) / CONFIG_FILE
        state = "corrupt" if path.exists() else "missing"
        recs = _records(store, idx)
        own = [r for r in recs if r["fingerprint"].get("arch") == arch] or recs
        if not own:
            note(f"{path} is {state} and config {idx} has no readable layer results; it is left out")
            continue
        config = dict(own[0]["fingerprint"].get("config") or {})
        res = evaluate(store, idx, config, info, bool(agg.get("ignore_heads")), bool(agg.get("blocks")))
        store.write_config(idx, config_document(res, info, bool(agg.get("ignore_heads")), bool(agg.get("blocks"))))
        note(f"{path} was {state}; rebuilt from its layer results (config {config})")
