"""ResNet50 backbone: weights sources, identity, fingerprint, device choice and embedding."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from HematomaExpansionLib.common.errors import InputError, ModelError
from HematomaExpansionLib.features import backbone as bb


@pytest.fixture(scope="module")
def random0():
    yield bb.load_resnet50("random:0", device="cpu")
    bb.clear_cache()  # backbones made from temporary files must not outlive this module


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((3, 64, 64)).astype(np.float32)


def _save_state_dict(backbone: bb.Backbone, path: Path) -> str:
    """Save a backbone's weights as a state_dict file, with a classifier as torchvision's files have."""
    state = dict(bb.load_weights(backbone.identity)[0].state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, bb.FEATURE_DIM), torch.zeros(1000)
    torch.save(state, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _WritesMarker:
    """Unpickling this object opens (creates) the marker file: the attack weights_only must stop."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_embed_shape_dtype_and_bitwise_determinism(random0, images):
    before = images.copy()
    first = random0.embed(images)
    second = random0.embed(images)
    assert first.shape == (3, bb.FEATURE_DIM) and first.dtype == np.float64
    assert np.isfinite(first).all()
    assert np.array_equal(first, second)
    assert np.array_equal(images, before)


def test_embed_is_the_torchvision_network_in_float64_on_normalised_three_channel_input(random0, images):
    assert random0.dtype == torch.float64 and all(
        p.dtype == torch.float64 for p in random0.model.parameters()
    )
    network = bb.load_weights("random:0")[0]  # torchvision's ResNet50 as the weights define it
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())
    x = torch.from_numpy(images.astype(np.float64))[:, None].repeat(1, 3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)[None, :, None, None]
    with torch.no_grad():
        single = network((x - mean).float() / std.float()).double().numpy()
        expected = network.double()((x - mean) / std).numpy()  # float32 -> float64 weights: exact
    # The batch normalisations folded into the convolutions: float64 rounding only.
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in random0.model.modules())
    np.testing.assert_allclose(
        random0.embed(images), expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )
    assert np.abs(random0.embed(images) - single).max() <= 1e-5 * np.abs(single).max()  # float32 rounding


def test_embed_does_not_depend_on_the_torch_thread_count(random0, images):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = random0.embed(images)
        torch.set_num_threads(2)
        two = random0.embed(images)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)


def test_the_network_runs_in_float64_except_on_mps_which_has_none(random0):
    assert bb.compute_dtype("cpu") == bb.compute_dtype("cuda:1") == torch.float64
    assert bb.compute_dtype("mps") == torch.float32
    assert random0.provenance() == {
        "backbone_id": "random:0",
        "backbone_fingerprint": random0.fingerprint,
        "deep_precision": "float64",
    }


def test_embed_rejects_values_outside_unit_range(random0):
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        random0.embed(np.full((1, 32, 32), 1.5, np.float32))
    with pytest.raises(InputError, match="shape"):
        random0.embed(np.zeros((32, 32), np.float32))


def test_random_backbone_identity_and_global_rng_untouched(random0, images):
    assert random0.identity == "random:0" and random0.weights_sha256 is None and random0.device == "cpu"
    assert len(random0.fingerprint) == 16 and int(random0.fingerprint, 16) >= 0
    state = torch.get_rng_state()
    other = bb.load_resnet50("random:1", device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    assert other.identity == "random:1" and other.fingerprint != random0.fingerprint
    assert not np.array_equal(other.embed(images), random0.embed(images))


def test_backbones_are_cached_per_weights_and_device(random0):
    assert bb.load_resnet50("random:0", device="cpu") is random0
    assert bb.load_resnet50("random:0", device="auto" if bb.resolve_device() == "cpu" else "cpu") is random0


def test_bad_random_seed_is_a_model_error():
    with pytest.raises(ModelError, match="seed"):
        bb.load_resnet50("random:abc", device="cpu")


def test_missing_imagenet_weights_name_the_file_and_cache_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for name, file_name in (
        ("imagenet1k_v1", "resnet50-0676ba61.pth"),
        ("imagenet1k_v2", "resnet50-11ad3fa6.pth"),
    ):
        with pytest.raises(ModelError) as caught:
            bb.load_resnet50(name, device="cpu")
        message = str(caught.value)
        assert file_name in message
        assert str(tmp_path / "hub" / "checkpoints" / file_name) in message
        assert "local" in message


def test_imagenet_weights_from_the_cache_record_name_and_full_sha(tmp_path, monkeypatch, random0):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    staged = tmp_path / "staged.pth"
    sha = _save_state_dict(random0, staged)
    file_name = f"resnet50-{sha[:8]}.pth"  # torchvision's naming: SHA-256 prefix in the name
    staged.rename(checkpoints / file_name)
    monkeypatch.setitem(
        bb.TORCHVISION_WEIGHTS,
        "imagenet1k_v1",
        SimpleNamespace(url=f"https://example.org/models/{file_name}"),
    )
    loaded = bb.load_resnet50("imagenet1k_v1", device="cpu")
    assert loaded.identity == "imagenet1k_v1" and loaded.weights_sha256 == sha
    assert loaded.fingerprint == random0.fingerprint  # same weights as random:0, loaded again
    for a, b in zip(loaded.model.state_dict().values(), random0.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_corrupt_imagenet_file_in_the_cache_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = bb.imagenet_cache_file("imagenet1k_v2")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the published weights")
    with pytest.raises(ModelError, match="corrupt"):
        bb.load_resnet50("imagenet1k_v2", device="cpu")


def test_local_file_with_hash_fragment_and_sidecar(tmp_path, random0):
    path = tmp_path / "weights.pth"
    sha = _save_state_dict(random0, path)
    loaded = bb.load_resnet50(f"{path}#sha256={sha}", device="cpu")
    assert loaded.identity == f"file:{sha}" and loaded.weights_sha256 == sha
    assert loaded.fingerprint == random0.fingerprint

    with pytest.raises(ModelError, match="expected"):
        bb.load_resnet50(f"{path}#sha256={'0' * 64}", device="cpu")
    (tmp_path / "weights.pth.sha256").write_text(f"{'f' * 64}  weights.pth\n")
    with pytest.raises(ModelError, match="expected"):
        bb.load_resnet50(str(path), device="cpu")
    with pytest.raises(ModelError, match="64 hex"):
        bb.load_resnet50(f"{path}#sha256=abc", device="cpu")


def test_pickled_objects_are_refused_without_running_them(tmp_path):
    live_marker = tmp_path / "live.txt"
    pickle.loads(pickle.dumps(_WritesMarker(live_marker)))  # the payload works when unpickled freely
    assert live_marker.exists()

    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": _WritesMarker(marker)}, path)
    with pytest.raises(ModelError, match="refused"):
        bb.load_resnet50(str(path), device="cpu")
    assert not marker.exists()


def test_a_state_dict_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ModelError, match="not a torchvision ResNet50"):
        bb.load_resnet50(str(path), device="cpu")


def test_unknown_weights_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="neither a known name"):
        bb.load_resnet50(str(tmp_path / "missing.pth"), device="cpu")


def test_device_choice():
    with pytest.raises(InputError, match="unknown device"):
        bb.resolve_device("tpu")
    assert bb.resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            bb.resolve_device("cuda")
        if not torch.backends.mps.is_available():
            assert bb.resolve_device("auto") == "cpu"
    else:
        assert bb.resolve_device("auto") == "cuda"


# SHA-256 over (name, bytes) of random:0's state_dict, computed with the implementation before issue 11.
RANDOM0_STATE_SHA256 = "1a7b14cec829fdb1d5cbadff8186fc3273e91252da9374fe92af5eabeeafa7e1"
_STATE_HASH_SCRIPT = """
import hashlib, sys, torch, torchvision
from HematomaExpansionLib.features.backbone import load_resnet50, load_weights
def digest(state):
    h = hashlib.sha256()
    for name, tensor in state.items():
        if not name.startswith("fc."):
            tensor = tensor.float() if tensor.is_floating_point() else tensor  # float64 -> float32 is exact
            h.update(name.encode()); h.update(tensor.contiguous().numpy().tobytes())
    return h.hexdigest()
ours = load_resnet50("random:0", device="cpu")
weights = load_weights("random:0")[0].state_dict()
torch.manual_seed(0)  # the independent path: torchvision's own seeded initialisation
print(digest(weights), digest(torchvision.models.resnet50().state_dict()), ours.fingerprint)
"""


def test_random_weights_are_bitwise_reproducible_in_fresh_processes(tmp_path):
    # An empty fingerprint cache: the first process computes the fingerprint, the second reads it.
    env = {**os.environ, "PYTHONPATH": str(Path(bb.__file__).parents[2]), "XDG_CACHE_HOME": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", _STATE_HASH_SCRIPT],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    ours, independent, fingerprint = runs[0]
    assert ours == independent == RANDOM0_STATE_SHA256
    assert fingerprint == "a23857cfd52b6891"  # the bundled fused model's card


def test_a_weights_file_is_loaded_without_random_initialisation(tmp_path, random0, monkeypatch):
    path = tmp_path / "weights.pth"
    _save_state_dict(random0, path)
    devices = []
    original = torch.nn.init.kaiming_normal_

    def recording(tensor, *args, **kwargs):
        devices.append(tensor.device.type)
        return original(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_normal_", recording)
    monkeypatch.setattr(bb, "_LOADED", {})
    loaded = bb.load_resnet50(str(path), device="cpu")
    assert devices and set(devices) == {"meta"}  # torchvision's init ran on storage-less tensors only
    for a, b in zip(loaded.model.state_dict().values(), random0.model.state_dict().values(), strict=True):
        assert a.device.type == "cpu" and torch.equal(a, b)


def test_forward_threads_leave_the_cores_that_others_keep_busy(monkeypatch):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = torch.get_num_threads()
    monkeypatch.setattr(bb, "_busy_cores_elsewhere", lambda: 0)
    assert bb.forward_threads() == min(threads, cores)
    monkeypatch.setattr(bb, "_busy_cores_elsewhere", lambda: cores)
    assert bb.forward_threads() == 1
    monkeypatch.setattr(bb, "_busy_cores_elsewhere", lambda: 1)
    assert bb.forward_threads() == max(1, min(threads, cores - 1))


def test_busy_cores_are_read_from_the_running_task_count(monkeypatch, tmp_path):
    if not Path("/proc/loadavg").is_file():
        pytest.skip("no /proc/loadavg on this platform: the policy falls back to torch's setting")
    assert bb._busy_cores_elsewhere() >= 0
    fake = tmp_path / "loadavg"
    fake.write_text("3.10 2.00 1.50 4/291 12345\n")
    tasks = tmp_path / "task"
    for tid, state in ((101, "R"), (102, "S"), (103, "S")):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python (main)) {state} 1 2 3 4\n")
    real_path = bb.Path
    fakes = {"/proc/loadavg": fake, "/proc/self/task": tasks}
    monkeypatch.setattr(bb, "Path", lambda p: real_path(fakes.get(p, p)))
    assert bb._busy_cores_elsewhere() == 3  # four running, one of them this thread
    (tasks / "102" / "stat").write_text("102 (omp worker) R 1 2 3 4\n")  # torch's thread, spinning
    assert bb._busy_cores_elsewhere() == 2  # this process's own threads are not someone else's work
    (tasks / "103" / "stat").write_text("103 (x) R 1 2 3 4\n")
    (tasks / "104").mkdir()  # a thread that ended while being read: skipped
    assert bb._busy_cores_elsewhere() == 1


def test_embed_restores_torch_thread_setting(random0, images, monkeypatch):
    seen = []
    monkeypatch.setattr(bb, "forward_threads", lambda: 1)
    hook = random0.model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    threads = torch.get_num_threads()
    try:
        random0.embed(images)
    finally:
        hook.remove()
    assert seen == [1] * len(images) and torch.get_num_threads() == threads  # one pass per image


def test_one_image_per_pass_on_the_cpu_equals_one_batch_bitwise(random0, images, monkeypatch):
    one_by_one = random0.embed(images)
    assert bb.CPU_IMAGES_PER_PASS == 1
    monkeypatch.setattr(bb, "CPU_IMAGES_PER_PASS", len(images))
    as_one_batch = random0.embed(images)
    assert np.array_equal(one_by_one, as_one_batch)
    assert np.array_equal(one_by_one[1:2], random0.embed(images[1:2]))
