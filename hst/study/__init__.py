"""What to run: run configs (``config``) and their schema (``schema``), the study (``study``: its runs,
evaluations and protocols, read by the Snakefile and the tables) and what it costs before it starts (``plan``)."""

from hst.study.study import Study

__all__ = ["Study"]
