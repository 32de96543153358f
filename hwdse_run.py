#!/usr/bin/env python3
"""Sweep hardware configs over transformer layers: ``python hwdse_run.py (all | LAYER...) [FUSION_LEVEL] [options]``."""
import sys

from dse.cli.hwdse_cmd import main

if __name__ == "__main__":
    sys.exit(main())
