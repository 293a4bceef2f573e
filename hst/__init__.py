"""HST: the hierarchical sparse transformer for lightweight image restoration (Shi et al., EURASIP JASP 2023)."""

__version__ = "0.1.0"


def build_model(variant: str = "tiny", **overrides):
    """Build HST-tiny or HST-double (paper Sec. 3, Table 1); see :func:`hst.models.build_model`."""
    from hst.models import build_model as _build

    return _build(variant, **overrides)


__all__ = ["build_model", "__version__"]
