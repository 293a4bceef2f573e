"""HST: the hierarchical sparse transformer for lightweight image restoration (Shi et al., EURASIP JASP 2023).

The package's front door: like the command line (``hst.cli``), it may reach any layer; everything else
keeps the layer order of docs/architecture.md.
"""

from hst.version import __version__


def build_model(variant: str = "tiny", **overrides):
    """Build HST-tiny or HST-double (paper Sec. 3, Table 1); see :func:`hst.models.build_model`."""
    from hst.models import build_model as _build

    return _build(variant, **overrides)


__all__ = ["build_model", "__version__"]
