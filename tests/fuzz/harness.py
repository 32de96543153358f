"""Mutation fuzzing of the four entry points a user types into (issue 16).

A *case* is (entry point, seed): the seed picks which shipped input file to mutate and
how (a value replaced by a hostile one, a number scaled, a key misspelled or dropped, a
line duplicated or cut, an alias bomb or deep nesting appended...).  :func:`run_case`
runs the entry point in a forked child (its imports are paid once, in the parent) with a
wall-clock alarm and an address-space limit, and classifies the outcome:

* ``ok``        exit 0, and no NaN/inf/negative number in what it printed or wrote;
* ``refused``   exit 2/3 with an ``error:`` paragraph and no traceback;
* ``traceback`` a Python traceback, or any other exit code;
* ``bug``       exit 4: the output guard caught an impossible number;
* ``bad-number`` exit 0 but a NaN/inf/negative energy, cycle or count was printed or written;
* ``hang``      more CPU time than the bound (SIGXCPU), or blocked past a wall-clock backstop;
* ``memory``    MemoryError, killed by the address-space limit, or peak RSS over the bound.

``python -m tests.fuzz.harness`` (or ``python tests/fuzz/run_fuzz.py``) prints counts per
outcome; tests/test_fuzz.py runs a few with hypothesis in the default suite.
"""
from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
REF = DATA / "reference" / "transformer_gemmini"
STATS = DATA / "timeloop_stats" / "stats_KQV_gemmini_TLL.txt"

ENTRY_POINTS = ("dse spec", "run.py --spec", "dse model", "hwdse_run.py -c")
OUTCOMES = ("ok", "refused", "traceback", "bug", "bad-number", "hang", "memory")
FAILURES = ("traceback", "bug", "bad-number", "hang", "memory")

#: Hostile replacement values (YAML text).
NASTY = [
    "0", "-1", "-0.5", "1e300", "-1e300", ".nan", ".inf", "-.inf", "abc", "''", "~", "true", "2**70", "9**9**9",
    "\"'a'*10**9\"", "not " * 300 + "1", "(" * 150 + "1" + ")" * 150, "[1, 2]", "{a: 1}", "1.5", "9" * 5000,
    "1e-300", "3", "1024", "-7", "0x10", "4294967296", "EMBEDDING*1000000", "round(1e308, -10**9)", "pow(10, 400)",
    "\"[1]*10**8\"", "\"sum([1e308, 1e308])\"", "1/0", "log(0)", "x" * 20000, "2**62", "1e15", "65536*65536*65536",
]
#: Hostile JSON values for hw_configs.json mutations.
NASTY_JSON = [0, -1, -0.5, 1e300, -1e300, float("nan"), float("inf"), "abc", "", None, True, 2**70, 1.5, [1, 2],
              {"a": 1}, "9" * 5000, 2**62, 1e15, 10**400, "WS", "OS", "IS", 3, 7, 1024, 17]

_KEY_VALUE = re.compile(r"^(?P<head>\s*(?:-\s+)?[A-Za-z_][\w-]*\s*:\s*)(?P<value>[^#\n]*?)(?P<tail>\s*(?:#.*)?)$")


def _bomb(levels: int = 9) -> str:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def mutate_yaml(text: str, rng: random.Random) -> str:
    """One random textual mutation of a YAML file (it may break the YAML itself, on purpose)."""
    lines = text.splitlines()
    kv = [i for i, line in enumerate(lines) if _KEY_VALUE.match(line) and _KEY_VALUE.match(line)["value"].strip()]
    op = rng.choice(["nasty", "nasty", "nasty", "scale", "scale", "typo", "drop", "dup", "cut", "bomb", "deep", "flip"])
    if op in ("nasty", "scale", "typo", "drop") and kv:
        i = rng.choice(kv)
        m = _KEY_VALUE.match(lines[i])
        if op == "nasty":
            lines[i] = m["head"] + rng.choice(NASTY) + m["tail"]
        elif op == "scale":
            try:
                value = float(m["value"])
            except ValueError:
                value = 1.0
            factor = rng.choice([0, -1, 1e6, 1e12, 1 / 3, 2**40, -1e-9, 7])
            lines[i] = m["head"] + repr(value * factor) + m["tail"]
        elif op == "typo":
            key_start = len(m["head"]) - len(m["head"].lstrip())
            head = m["head"]
            name_end = head.index(":")
            name = head[key_start:name_end].strip().lstrip("- ")
            if len(name) > 2:
                j = rng.randrange(len(name))
                typo = name[:j] + name[j + 1:]
                lines[i] = lines[i].replace(name, typo, 1)
        else:
            del lines[i]
    elif op == "dup" and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif op == "cut" and lines:
        lines = lines[: rng.randrange(len(lines))]
    elif op == "bomb":
        lines.append(_bomb(rng.choice([4, 9, 10])))
    elif op == "deep":
        depth = rng.choice([50, 200, 5000])
        lines.append("deep: " + "[" * depth + "]" * depth)
    elif op == "flip" and text:
        pos = rng.randrange(len(text))
        return text[:pos] + rng.choice([":", "-", "&a", "*a", "!Bad", "\t", "{", "]", "\x00", "'"]) + text[pos + 1:]
    return "\n".join(lines) + "\n"


def mutate_configs(configs: list[dict], rng: random.Random) -> str:
    """One random structured mutation of a hw_configs.json list, dumped as JSON (NaN allowed)."""
    configs = [dict(c) for c in configs]
    op = rng.choice(["nasty", "nasty", "nasty", "scale", "typo", "drop", "extra", "shape", "many"])
    cfg = rng.choice(configs)
    key = rng.choice(sorted(cfg))
    if op == "nasty":
        cfg[key] = rng.choice(NASTY_JSON)
    elif op == "scale" and isinstance(cfg[key], (int, float)) and not isinstance(cfg[key], bool):
        cfg[key] = cfg[key] * rng.choice([0, -1, 1e6, 1e12, 1 / 3, 2**40, 1e300])
    elif op == "typo" and len(key) > 2:
        j = rng.randrange(len(key))
        cfg[key[:j] + key[j + 1:]] = cfg.pop(key)
    elif op == "drop":
        del cfg[key]
    elif op == "extra":
        cfg[rng.choice(["foo", "pe_row", "global_cycle_seconds", "technology"])] = rng.choice(NASTY_JSON)
    elif op == "shape":
        return rng.choice(["{}", "[]", "[1, 2]", '[{"pe_rows": 16}', "null", '"x"', "[[{}]]", "[" * 3000 + "]" * 3000])
    elif op == "many":
        configs = configs * rng.choice([2, 3])
    return json.dumps(configs)


@dataclass(frozen=True)
class Case:
    """One fuzz input: which entry point, its argv and the folder holding its files."""

    entry: str
    seed: int
    argv: tuple[str, ...]
    work: Path
    out: Path


def _tiny_variables() -> str:
    text = (REF / "mapper/variables.yaml").read_text()
    for old, new in (("EMBEDDING: 1024", "EMBEDDING: 32"), ("SEQ_LENGTH: 4096", "SEQ_LENGTH: 32"),
                     ("EMBEDDING_3: 3072", "EMBEDDING_3: 96")):
        text = text.replace(old, new)
    return text


_MAPPING_YAML: str | None = None


def _mapping_yaml() -> str:
    """The gemmini KQV mapping of a real Timeloop run, as mapping YAML (made once)."""
    global _MAPPING_YAML
    if _MAPPING_YAML is None:
        from dse.model.from_timeloop import mapping_from_stats
        from dse.spec.loader import load_spec
        from dse.spec.mapping import dump_mapping_yaml
        from dse.spec.timeloop_stats import parse_stats

        spec = load_spec(_spec_sources(tiny=False))
        mapping = mapping_from_stats(parse_stats(STATS), spec.architecture, spec.workload, spec.constraints)
        _MAPPING_YAML = dump_mapping_yaml(mapping, spec.workload)
    return _MAPPING_YAML


def _spec_sources(tiny: bool) -> list[Path]:
    return [REF / "arch/system_gemmini.yaml", *sorted((REF / "arch/components").glob("*.yaml")),
            REF / "constraints/constraints.yaml", REF / "layers/KQV_layer.yaml",
            *([] if tiny else [REF / "mapper/variables.yaml"])]


def _mapper_file(work: Path) -> str:
    """The default search with a wall-clock limit: a mutant may legitimately ask for a huge map-space
    (a batch of a million); what the fuzzer hunts is hangs in reading and checking input."""
    path = work / "fuzz-mapper.yaml"
    path.write_text("mapper:\n  version: 0.4\n  algorithm: dse\n  optimization_metrics: [edp]\n  time_limit_s: 8\n")
    return str(path)


def make_case(entry: str, seed: int, work: Path) -> Case:
    """Write the (mutated) input files of ``entry`` for ``seed`` under ``work``; return the case."""
    rng = random.Random(f"{entry}:{seed}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out = work / "out"
    if entry == "hwdse_run.py -c":
        configs = json.loads((ROOT / "hw_configs.json").read_text())[:2]
        cfg = work / "hw_configs.json"
        cfg.write_text(mutate_configs(configs, rng) if rng.random() < 0.95 else json.dumps(configs))
        argv = ("KTQ", "--seq-len", "16", "-c", str(cfg), "--out", str(out), "-q", "--workers", "1", "--csv",
                str(work / "results.csv"), "--mapper", _mapper_file(work))
        return Case(entry, seed, argv, work, out)
    files = {}
    for src in _spec_sources(tiny=entry != "dse model"):
        files[src.name] = src.read_text()
    if entry != "dse model":
        files["variables.yaml"] = _tiny_variables()
    else:
        files["variables.yaml"] = (REF / "mapper/variables.yaml").read_text()
        files["map.yaml"] = _mapping_yaml()
    target = rng.choice(sorted(files))
    if rng.random() < 0.95:
        files[target] = mutate_yaml(files[target], rng)
        if rng.random() < 0.3:  # a second mutation, maybe in another file
            other = rng.choice(sorted(files))
            files[other] = mutate_yaml(files[other], rng)
    paths = []
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        if name != "map.yaml":
            paths.append(str(work / name))
    if entry == "dse spec":
        argv = ("spec", *paths)
    elif entry == "dse model":
        argv = ("model", *paths, "--mapping", str(work / "map.yaml"), "-o", str(out))
    else:
        argv = ("KQV", "--spec", *paths, "-o", str(out), "--mapper", _mapper_file(work))
    return Case(entry, seed, argv, work, out)


def _entry_function(entry: str) -> Callable[[list[str]], int]:
    if entry == "run.py --spec":
        from dse.cli.run_cmd import main
    elif entry == "hwdse_run.py -c":
        from dse.cli.hwdse_cmd import main
    else:
        from dse.cli.main import main
    return main


@dataclass(frozen=True)
class Outcome:
    kind: str
    detail: str
    seconds: float
    peak_rss_mib: float


_NUMBER_BAD = re.compile(r"(?i)(?<![\w.])(?:nan|-?inf(?:inity)?)(?![\w])|(?:energy|cycles|reads|fills|updates|computes|"
                         r"accesses|edp)[^\n]{0,40}?[:=,]\s*-\d")


def _bad_numbers(case: Case, stdout: str) -> str | None:
    """The first NaN/inf/negative quantity printed or written, if any."""
    texts = [("stdout", stdout)]
    for folder in (case.out, case.work):
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                if p.is_file() and p.suffix in (".txt", ".csv", ".json") and p.parent != case.work or p.name == "results.csv":
                    texts.append((str(p.relative_to(case.work)), p.read_text(errors="replace")))
    for name, text in texts:
        m = _NUMBER_BAD.search(text)
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.end())]
            return f"{name}: {line.strip()[:160]}"
    return None


def run_case(case: Case, timeout_s: float = 20.0, memory_mib: int = 1024) -> Outcome:
    """Run ``case`` in a forked child; classify the outcome (see the module docstring)."""
    fn = _entry_function(case.entry)
    out_file, err_file = case.work / "stdout.txt", case.work / "stderr.txt"
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 99
        try:
            os.setpgid(0, 0)
            fd_out = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            fd_err = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            vm = _vm_size_bytes()
            limit = vm + memory_mib * 2**20 * 2  # address space: what is mapped now + twice the RSS bound
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            # the time bound is CPU time (SIGXCPU): wall time on a shared machine says nothing
            cpu = max(1, int(timeout_s))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            os.chdir(case.work)
            code = fn(list(case.argv))
            code = 0 if code is None else int(code)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except MemoryError:
            print("\nMemoryError", file=sys.stderr)
            code = 98
        except BaseException:  # noqa: BLE001 - any escape is what we count
            import traceback

            traceback.print_exc()
            code = 99
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    wall_s = max(8 * timeout_s, 120.0)  # backstop only: a child sleeping or blocked forever
    status, rss_kib = _wait(pid, wall_s)
    seconds = time.monotonic() - start
    rss = rss_kib / 1024
    stdout = out_file.read_text(errors="replace") if out_file.exists() else ""
    stderr = err_file.read_text(errors="replace") if err_file.exists() else ""
    if status is None:
        return Outcome("hang", f"still running after {wall_s:.0f} s of wall time", seconds, rss)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return Outcome("hang", f"more than {timeout_s:.0f} s of CPU time", seconds, rss)
        return Outcome("memory" if sig in (signal.SIGKILL, signal.SIGSEGV) else "traceback", f"killed by signal {sig}",
                       seconds, rss)
    rc = os.WEXITSTATUS(status)
    if "MemoryError" in stderr or rss > memory_mib:
        return Outcome("memory", f"peak RSS {rss:.0f} MiB; " + stderr.strip()[-200:], seconds, rss)
    if "Traceback" in stderr or rc not in (0, 2, 3, 4):
        return Outcome("traceback", f"rc={rc} " + stderr.strip()[-400:], seconds, rss)
    if rc == 4:
        return Outcome("bug", stderr.strip()[:400], seconds, rss)
    if rc in (2, 3):
        if not re.search(r"(?m)^error: ", stderr):
            return Outcome("traceback", f"rc={rc} without an 'error:' paragraph: {stderr.strip()[:300]}", seconds, rss)
        return Outcome("refused", stderr.strip()[:300], seconds, rss)
    bad = _bad_numbers(case, stdout)
    if bad:
        return Outcome("bad-number", bad, seconds, rss)
    return Outcome("ok", stdout.strip()[-200:], seconds, rss)


def _vm_size_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


def _wait(pid: int, timeout_s: float) -> tuple[int | None, float]:
    """(wait status or None on timeout, peak RSS KiB of the child); a timed-out child's group is killed."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_maxrss
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, _, usage = os.wait4(pid, 0)
            return None, usage.ru_maxrss
        time.sleep(0.01)


def fuzz(n_per_entry: int, work_root: Path, first_seed: int = 0, timeout_s: float = 20.0,
         entries: tuple[str, ...] = ENTRY_POINTS, report: Callable[[str, int, Outcome], None] | None = None,
         progress: Callable[[int, dict[str, dict[str, int]]], None] | None = None) -> dict[str, dict[str, int]]:
    """Run ``n_per_entry`` cases per entry point; counts per entry and outcome."""
    counts = {e: dict.fromkeys(OUTCOMES, 0) for e in entries}
    for i in range(n_per_entry):
        seed = first_seed + i
        for entry in entries:
            case = make_case(entry, seed, work_root / f"{entry.split()[0].replace('.', '_')}_{seed}")
            outcome = run_case(case, timeout_s)
            counts[entry][outcome.kind] += 1
            if report:
                report(entry, seed, outcome)
            if outcome.kind not in FAILURES:
                shutil.rmtree(case.work, ignore_errors=True)
        if progress and (i + 1) % 25 == 0:
            progress(i + 1, counts)
    return counts
