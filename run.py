#!/usr/bin/env python3
"""Map one transformer layer: ``python run.py LAYER [FUSION_LEVEL] [options]`` (see -h)."""
import sys

from dse.cli.run_cmd import main

if __name__ == "__main__":
    sys.exit(main())
