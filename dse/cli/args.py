"""Argument helpers shared by the command-line tools."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from dse.errors import DseError


def parse_assignments(items: Iterable[str], where: str, example: str = "DIM=16", what: str = "variable") -> dict[str, str]:
    """``["DIM=16", "dataflow=WS"]`` -> ``{"DIM": "16", "dataflow": "WS"}`` (values kept as text).

    The spec loader evaluates the text as an expression; :func:`typed` turns it into
    a YAML scalar (number, bool or string) for knob values.
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise DseError(f"bad {what} '{item}'", where=where, accepted=f"NAME=VALUE, e.g. {example}")
        if name.strip() in out:
            raise DseError(f"{name.strip()} is set twice ({out[name.strip()]} and {value.strip()})", where=where,
                           accepted=f"each NAME once, e.g. {example}")
        out[name.strip()] = value.strip()
    return out


def typed(values: dict[str, str]) -> dict[str, Any]:
    """Read each value as a YAML scalar: ``"32"`` -> 32, ``"true"`` -> True, ``"WS"`` -> ``"WS"``.

    With the spec loader's YAML 1.2 rules and bounds, so ``1e300`` is the number a JSON config
    file or a spec would read (YAML 1.1 made it a string), and malformed text is one message."""
    from dse.spec.yaml_io import loads_yaml

    return {k: loads_yaml(v, f"--set {k}") for k, v in values.items()}


def check_output_folder(path: str | Path, where: str) -> Path:
    """``path`` can be (or become) a folder: it is not a file and no existing parent is a file.

    Checked before any work starts, so a typo costs nothing.
    """
    p = Path(path)
    for part in (p, *p.parents):
        if part.exists():
            if not part.is_dir():
                raise DseError(f"'{part}' is a file, so '{p}' cannot be a folder", where, "a folder path (new or existing)")
            if not os.access(part, os.W_OK | os.X_OK):
                raise DseError(f"'{part}' is not writable", where, "a folder you can write to")
            break
    return p


def check_output_file(path: str | Path, where: str, example: str = "results/out.csv",
                      inputs: Mapping[str, str | Path | None] | None = None) -> Path:
    """``path`` can be written as a file: not a folder, its folder can be created, and it is none of
    the ``inputs`` (argument -> input file path): ``--csv`` naming the ``-c`` config file would
    overwrite the user's configs."""
    p = Path(path)
    if p.is_dir():
        raise DseError(f"'{p}' is a folder", where, f"a file path, e.g. {example}")
    for arg, given in (inputs or {}).items():
        if given is not None and _same_file(p, Path(given)):
            raise DseError(f"'{p}' is the input file of {arg}; refusing to write over it", where,
                           f"another file path, e.g. {example}")
    check_output_folder(p.parent, where)
    return p


def check_outputs_spare_inputs(out_dir: str | Path, prefix: str, inputs: Mapping[str, Iterable[str | Path | None]],
                               where: str) -> None:
    """Refuse an output folder where writing ``<prefix>.*`` would replace one of the ``inputs``
    (argument -> input files), e.g. ``--ert out/timeloop-mapper.stats.txt -o out``."""
    out = Path(out_dir)
    for arg, files in inputs.items():
        for f in files:
            if f is None:
                continue
            fp = Path(f)
            if fp.name.startswith(prefix + ".") and _same_file(fp.parent, out):
                raise DseError(f"writing {prefix}.* into '{out}' would replace the input file '{fp}' of {arg}",
                               where, "another output folder (or copy the input file elsewhere first)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_positive(value: int | None, where: str, meaning: str, minimum: int = 1, maximum: int = 2**31) -> None:
    """``value`` (if given) is an integer from ``minimum`` to ``maximum`` (a 20-digit --seq-len would
    only overflow the model's 64-bit counts)."""
    if value is not None and value < minimum:
        raise DseError(f"{meaning} must be >= {minimum}, got {value}", where, f"an integer >= {minimum}")
    if value is not None and value > maximum:
        shown = value if len(str(value)) < 30 else f"a {len(str(value))}-digit number"
        raise DseError(f"{meaning} must be from {minimum} to {maximum}, got {shown}", where,
                       f"an integer from {minimum} to {maximum}")


#: The layer the seed's scripts map (its mapper/variables.yaml: BERT-large, SEQ_LENGTH 4096).
SEED_MODEL, SEED_SEQ_LEN = "bert-large", 4096
DSE_MODEL, DSE_SEQ_LEN = "bert-base", 512


def workload_defaults(args) -> str | None:
    """Fill ``args.model`` / ``args.seq_len`` left unset with dse's defaults; the note to print if that
    makes a layer other than the seed's (whose ``run.py KTQ`` is BERT-large at sequence length 4096)."""
    unset = [flag for flag, value in (("--model", args.model), ("--seq-len", args.seq_len)) if value is None]
    args.model = DSE_MODEL if args.model is None else args.model
    args.seq_len = DSE_SEQ_LEN if args.seq_len is None else args.seq_len
    if not unset or (args.model, args.seq_len) == (SEED_MODEL, SEED_SEQ_LEN):
        return None
    if "--model" not in unset and not str(args.model).lower().startswith("bert"):
        return None  # a model the seed never ran (GPT-2...): nothing to compare with
    return (f"NOTE: {args.model} at sequence length {args.seq_len} ({' and '.join(unset)} not given: dse's default). "
            f"The seed's scripts map {SEED_MODEL.upper()} at sequence length {SEED_SEQ_LEN} (its variables.yaml): "
            f"add --model {SEED_MODEL} --seq-len {SEED_SEQ_LEN} to compare with its numbers (docs/seed-compat.md).")


def invoked_as(console_script: str, script: str) -> str:
    """``console_script`` (e.g. ``dse-run``) if that is how we were started, else ``script`` (``run.py``)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return console_script if name.startswith(console_script) else script
