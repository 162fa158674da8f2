"""The backbone fingerprint cached on disk: a hit runs no forward pass, any key change or damage misses."""

from __future__ import annotations

import json
import logging

import pytest
import torch
import torchvision

from HematomaExpansionLib.features import backbone as bb
from HematomaExpansionLib.features import fingerprint_cache as fc

BUNDLED_RANDOM0_FINGERPRINT = "a23857cfd52b6891"  # the bundled fused model's card, backbone random:0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache folder and an empty in-process backbone cache, both dropped afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(bb, "_LOADED", {})
    return tmp_path / "xdg" / "HematomaExpansion" / "backbone_fingerprints"


@pytest.fixture
def forwards():
    """A list that gets one entry per forward pass of a whole ResNet (global forward hook)."""
    calls: list[tuple[int, ...]] = []

    def hook(module, inputs, output):
        if isinstance(module, torchvision.models.ResNet):
            calls.append(tuple(inputs[0].shape))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield calls
    handle.remove()


def _load_fresh(weights: str = "random:0") -> bb.Backbone:
    bb.clear_cache()  # as a new process: only the disk cache survives
    return bb.load_resnet50(weights, device="cpu")


def test_the_first_load_runs_the_fingerprint_and_later_ones_read_it(cache, forwards):
    first = _load_fresh()
    assert forwards == [(1, 3, 32, 32)]  # the fingerprint's fixed input
    assert first.fingerprint == BUNDLED_RANDOM0_FINGERPRINT  # computed, equals the bundled card's
    entries = list(cache.glob("*.json"))
    assert len(entries) == 1
    stored = json.loads(entries[0].read_text())
    assert stored["fingerprint"] == first.fingerprint
    assert stored["key"] == {
        "weights": "random:0",
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "device_type": "cpu",
        "dtype": "float64",
        "method": "float64-cpu-32px-steps1e+06",
    }

    second = _load_fresh()
    assert forwards == [(1, 3, 32, 32)]  # no second forward pass
    assert second is not first and second.fingerprint == first.fingerprint
    assert second.model.conv1.weight.dtype == torch.float64


def test_a_new_torch_version_or_other_weights_miss(cache, forwards, monkeypatch):
    _load_fresh()
    monkeypatch.setattr(torch, "__version__", "0.0.1-other")
    assert _load_fresh().fingerprint == BUNDLED_RANDOM0_FINGERPRINT
    assert len(forwards) == 2
    other = _load_fresh("random:1")
    assert len(forwards) == 3 and other.fingerprint != BUNDLED_RANDOM0_FINGERPRINT
    assert len(list(cache.glob("*.json"))) == 3


@pytest.mark.parametrize(
    "field, value",
    [
        ("weights", "0" * 64),
        ("torch_version", "9.9.9"),
        ("torchvision_version", "9.9.9"),
        ("device_type", "cuda"),
        ("dtype", "float32"),
        ("method", "another method"),
    ],
)
def test_any_change_of_the_key_misses(tmp_path, field, value):
    key = fc.fingerprint_key("random:0", "cpu", torch.float64, "m")
    computed = []

    def compute(result: str):
        return lambda: computed.append(result) or result

    assert fc.cached_fingerprint(key, compute("aaaa"), tmp_path) == "aaaa"
    assert fc.cached_fingerprint(dict(key), compute("never"), tmp_path) == "aaaa"
    changed = {**key, field: value}
    assert fc.cached_fingerprint(changed, compute("bbbb"), tmp_path) == "bbbb"
    assert computed == ["aaaa", "bbbb"]


def test_key_names_the_device_type_and_dtype():
    key = fc.fingerprint_key("random:0", "cuda:1", torch.float32, "m")
    assert key["device_type"] == "cuda" and key["dtype"] == "float32"


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry: {**entry, "fingerprint": "0123456789abcdef"},  # value edited, checksum stale
        lambda entry: {**entry, "key": {**entry["key"], "weights": "random:7"}},  # another key inside
        lambda entry: [entry],  # not an entry
        None,  # not JSON at all
    ],
)
def test_a_corrupt_or_edited_entry_is_ignored_and_rewritten(cache, forwards, caplog, damage):
    _load_fresh()
    (path,) = cache.glob("*.json")
    entry = json.loads(path.read_text())
    path.write_bytes(b"\x00\xffnot json" if damage is None else json.dumps(damage(entry)).encode())
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        again = _load_fresh()
    assert len(forwards) == 2  # recomputed
    assert again.fingerprint == BUNDLED_RANDOM0_FINGERPRINT
    assert json.loads(path.read_text()) == entry  # rewritten as it was
    assert "ignoring" in caplog.text and str(path) in caplog.text


def test_an_unwritable_cache_folder_is_logged_and_the_load_works(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache folder cannot be created below a file")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(bb, "_LOADED", {})
    with caplog.at_level(logging.WARNING, logger=fc.__name__):
        loaded = bb.load_resnet50("random:0", device="cpu")
    assert loaded.fingerprint == BUNDLED_RANDOM0_FINGERPRINT
    assert "cannot write the backbone fingerprint cache" in caplog.text
    assert blocker.read_text().startswith("the cache folder")


def test_the_cache_folder_follows_xdg_cache_home_or_defaults_to_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fc.cache_folder() == tmp_path / "HematomaExpansion" / "backbone_fingerprints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fc.cache_folder() == tmp_path / "home" / ".cache" / "HematomaExpansion" / "backbone_fingerprints"
