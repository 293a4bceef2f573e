"""The architectures' registry (hst.models): entries by import path or by class, the package's lazy attributes,
and the errors of a name it does not know."""

import pytest
import torch

import hst.models as models
from hst.errors import ConfigError
from hst.models import ARCHS, Arch, arch_of, build_arch, register


class Doubler(torch.nn.Module):
    """A network a user might register by its class (not by its import path)."""

    def __init__(self, gain: float = 2.0):
        super().__init__()
        self.gain = gain
        self.config = {"gain": gain}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x


DOUBLER = Arch(Doubler, options={"gain": {"type": "number"}}, defaults={"gain": 2.0}, label=lambda options: "Doubler")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(ARCHS, "doubler", DOUBLER)  # undone after the test: ARCHS is the process's registry
    return DOUBLER


def test_an_entry_given_its_class_builds_it_and_names_it(registered):
    assert registered.model_class is Doubler
    model = build_arch("doubler", {"gain": 3.0})
    assert type(model) is Doubler and model.gain == 3.0 and arch_of(model) == "doubler"


def test_an_entry_given_its_import_path_imports_the_class_when_asked():
    assert isinstance(ARCHS["hst"].cls, str) and ARCHS["hst"].cls == "hst.models.hst:HST"
    from hst.models.hst import HST

    assert ARCHS["hst"].model_class is HST


def test_the_package_lends_every_registered_class_and_building_block_by_name():
    for arch in ARCHS.values():
        name = arch.model_class.__name__
        assert getattr(models, name) is arch.model_class, name  # HST, PReNet, BRN, DMPHN: from their entries
    from hst.models.gdfn import GDFN
    from hst.models.sampler import build_sampler

    assert models.GDFN is GDFN and models.build_sampler is build_sampler


def test_a_name_the_package_does_not_have_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'hst.models' has no attribute 'NoSuchNetwork'"):
        models.NoSuchNetwork  # noqa: B018
    assert not hasattr(models, "NoSuchNetwork")


def test_a_second_entry_under_a_taken_name_is_refused(registered):
    register("doubler", registered)  # the same entry again: a module imported twice
    other = Arch(Doubler, options={}, defaults={}, label=lambda options: "Other")
    with pytest.raises(ConfigError, match="architecture 'doubler' is registered twice"):
        register("doubler", other)


def test_a_model_of_no_registered_architecture_is_named_in_the_error():
    with pytest.raises(ConfigError, match="Doubler is not a registered architecture"):
        arch_of(Doubler())
