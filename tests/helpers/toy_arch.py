"""An architecture that exists only in the tests, registered through ``$HST_PLUGINS`` (hst.models): the
pipeline trains and scores it as a baseline, and the tables must list it under its own label with no
change to the package. The entry names its class by import path (tests/helpers/toy_net.py), as the
package's own entries do: a job that only reads tables imports neither the network nor torch."""

from __future__ import annotations

from hst.models import Arch, register
from tests.helpers.pipeline import TOY_LABEL

register("toynet", Arch("tests.helpers.toy_net:ToyNet", options={"width": {"type": "integer", "minimum": 1}}, defaults={},
                        label=lambda options: TOY_LABEL,
                        settings=lambda cfg: {"blocks": "2 convolutions", "channels": str(cfg["width"]),
                                              "heads": "", "ratios": "", "sampler": ""}))
