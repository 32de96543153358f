"""``dse infer --plot``: latency and energy per token vs context, and per-layer stacked bars per phase."""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from dse.infer.engine import Inference


def plot(res: Inference, path: str | Path) -> Path:
    """Write the figure (format by suffix: png, pdf, svg) atomically and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    s = res.summary
    steps = res.steps
    dec = steps[steps["phase"] == "decode"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8))
    if len(dec):
        mapped = dec[~dec["interpolated"]]
        ax1.plot(dec["context"], dec["seconds"] * 1e3, color="tab:blue", label="per step")
        ax1.scatter(mapped["context"], mapped["seconds"] * 1e3, s=14, color="tab:blue", label="mapped context")
        ax2.plot(dec["context"], dec["energy_pj"] / 1e6 / res.request.batch, color="tab:red", label="per token")
        ax2.scatter(mapped["context"], mapped["energy_pj"] / 1e6 / res.request.batch, s=14, color="tab:red")
    ax1.set(xlabel="context (tokens)", ylabel="latency per decode step (ms)",
            title=f"TTFT {s.ttft_s * 1e3:.4g} ms; mean step {s.mean_token_s * 1e3:.4g} ms")
    ax2.set(xlabel="context (tokens)", ylabel="energy per token (uJ)", title="decode energy per token")
    ax1.legend(fontsize=8)
    layers = res.layers.copy()
    layers["group"] = layers["phase"]
    share = layers.groupby(["group", "layer"], sort=False)["cycles"].sum().unstack(fill_value=0.0)
    share = share.div(share.sum(axis=1), axis=0) * 100
    bottom = None
    for layer in share.columns:
        ax3.bar(share.index, share[layer], bottom=bottom, label=layer)
        bottom = share[layer] if bottom is None else bottom + share[layer]
    ax3.set(ylabel="% of phase cycles", title="per-layer share of cycles")
    ax3.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"{res.model.name}: prompt {res.request.prompt}, generate {res.request.generate}, "
                 f"batch {res.request.batch}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=(path.suffix.lstrip(".").lower() or "png"), dpi=110)
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
