"""Turn user-input errors into one clear paragraph and an exit code, never a traceback."""
from __future__ import annotations

import sys
from typing import Callable

from dse.errors import DseError


def run_guarded(job: Callable[[], int | None]) -> int:
    """Run ``job``; report a :class:`DseError` (or Ctrl-C) as a message and return its exit code."""
    try:
        rc = job()
    except DseError as err:
        print(f"error: {err.format()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished results were kept; re-run the same command to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:  # a file the user named cannot be read or written (disk full, permissions, ...)
        name = f" '{err.filename}'" if err.filename else ""
        print(f"error: cannot use{name}: {err.strerror or err}. Accepted: a readable input file and a writable "
              "output location (check the path, permissions and free space).", file=sys.stderr)
        return 2
    return 0 if rc is None else int(rc)
