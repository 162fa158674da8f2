"""The Logic's warm-up: the network the model needs is loaded once, before the first prediction.

The panel calls ``warm_up`` in the background when it is entered; what it must guarantee is that
the first prediction afterwards neither builds the ResNet50 again nor fails to find it. Loads are
counted where every backbone is made (torchvision's ResNet constructor), not timed.
"""

from __future__ import annotations

import pytest
import torchvision.models.resnet

from HematomaExpansionLib import mrml
from HematomaExpansionLib.features.backbone import clear_cache
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.synthetic import HematomaSpec, generate_phantom, write_case


@pytest.fixture
def resnet_builds(monkeypatch):
    """A list that grows by one each time a torchvision ResNet is constructed; the backbone cache emptied."""
    builds: list[int] = []
    original = torchvision.models.resnet.ResNet.__init__

    def counting_init(self, *args, **kwargs):
        builds.append(1)
        original(self, *args, **kwargs)

    clear_cache()
    monkeypatch.setattr(torchvision.models.resnet.ResNet, "__init__", counting_init)
    yield builds
    clear_cache()


def test_after_warm_up_the_first_prediction_loads_no_backbone(runtime, tmp_path, resnet_builds):
    paths = write_case(generate_phantom(HematomaSpec(volume_ml=12.0), seed=5), tmp_path, "case")
    logic = HematomaExpansionLogicBase(runtime)
    backbone = logic.warm_up("phantom-v2-deep", device="cpu")
    assert len(resnet_builds) == 1 and backbone is not None
    volume = mrml.load_volume(runtime, paths["ct"])
    segmentation = mrml.load_segmentation(runtime, paths["hematoma"])
    result = logic.predict(volume, segmentation, model="phantom-v2-deep", device="cpu")
    assert len(resnet_builds) == 1
    assert result.provenance["backbone_fingerprint"] == backbone.fingerprint
    assert 0.0 <= result.probability <= 1.0


def test_warm_up_of_a_radiomics_model_loads_nothing(resnet_builds):
    assert HematomaExpansionLogicBase().warm_up("phantom-v2-radiomics", device="cpu") is None
    assert resnet_builds == []


def test_warm_up_refuses_an_unknown_model_as_predict_does(resnet_builds):
    from HematomaExpansionLib.common.errors import ModelError

    with pytest.raises(ModelError, match="no-such-model"):
        HematomaExpansionLogicBase().warm_up("no-such-model", device="cpu")
