"""python -m sim: the dealsim command line."""

from sim.cli import entry

entry()
