"""ResNet50 feature backbones: loading weights safely, identity, fingerprint and embedding.

A backbone is torchvision's ResNet50 up to global average pooling (2048 values per image), in
eval mode. Weights come from torchvision's cache (``imagenet1k_v1``, ``imagenet1k_v2``; never
downloaded here), from a local state_dict file verified by SHA-256 and loaded with
``torch.load(weights_only=True)``, or from a seeded random initialisation (``random:<seed>``).
The fingerprint hashes the network's output on a fixed synthetic input, computed in float64 on
the CPU and quantised, so that it identifies the weights independently of the device; it is kept
on disk (``fingerprint_cache``), so that only the first process with these weights runs it.
Weights files are loaded without random initialisation (meta device, ``load_state_dict(assign=True)``).
For inference each batch normalisation is folded into the convolution before it (torch's
``fuse_conv_bn_weights``, in float64): the same function, 53 fewer layers per pass; the features
move by about 1e-15 relative (measured: 9.8e-16; 5 slices on 2 cores took 0.85 s instead of
1.03 s). The fingerprint is taken before folding.

The network runs in float64 (the float32 weights converted losslessly), so that embeddings do not
depend on torch's thread count (float32 convolutions differ by about 1e-7 relative between 1 and 2
threads, float64 ones are bit-identical) and differ between CPUs or devices by float64 rounding
only, where float32 ones differed by up to 7e-5. Apple MPS has no float64: there the network runs
in float32, and the precision (``deep_precision``) is recorded with the features.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch.nn.utils.fusion import fuse_conv_bn_weights
from torchvision.models import ResNet50_Weights, resnet50

from ..common.errors import InputError, ModelError
from ..common.hashing import sha256_bytes, sha256_file
from .fingerprint_cache import cached_fingerprint, fingerprint_key

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 2048
TORCHVISION_WEIGHTS = {
    "imagenet1k_v1": ResNet50_Weights.IMAGENET1K_V1,
    "imagenet1k_v2": ResNet50_Weights.IMAGENET1K_V2,
}
# Float64 convolutions on the CPU gain nothing from a batch: the 5 slices took 4.5-5.4 s as one
# batch and 4.9-5.0 s one by one (1 thread, interleaved runs, load 16 on 2 cores), with bitwise
# equal features, and one image at a time needs about 130 MiB less memory (peak RSS +60 MiB vs
# +190 MiB over the loaded backbone).
CPU_IMAGES_PER_PASS = 1
_SHA256_FRAGMENT = "#sha256="
_FINGERPRINT_SIZE_PX = 32  # smallest input that runs every layer (1 x 1 after the last stage)
_FINGERPRINT_STEPS = 1e6  # output quantised to 1e-6 of its largest value before hashing
_FINGERPRINT_METHOD = f"float64-cpu-{_FINGERPRINT_SIZE_PX}px-steps{_FINGERPRINT_STEPS:g}"


@dataclass(frozen=True, eq=False)
class Backbone:
    """A ResNet50 feature extractor and what identifies it."""

    # The network for inference: its batch normalisations folded (see the module docstring).
    model: torch.nn.Module
    identity: str  # "imagenet1k_v1", "imagenet1k_v2", "file:<sha256>" or "random:<seed>"
    weights_sha256: str | None  # SHA-256 of the weights file; None for random initialisation
    fingerprint: str  # 16 hex digits, see module docstring
    device: str  # the device the model runs on ("cpu", "cuda", "cuda:1", "mps")
    dtype: torch.dtype  # what the network computes in: float64, or float32 on MPS (no float64 there)

    def provenance(self) -> dict[str, str]:
        """What identifies the backbone (id, fingerprint: a model's extractor identity) and its precision."""
        return {
            "backbone_id": self.identity,
            "backbone_fingerprint": self.fingerprint,
            "deep_precision": str(self.dtype).removeprefix("torch."),
        }

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Return (n, 2048) float64 features of n grey images (n, h, w) with values in [0, 1].

        The images are repeated to three channels, normalised with the ImageNet mean and standard
        deviation and run in inference mode, in the backbone's ``dtype``: as one batch on a GPU, one
        image at a time on the CPU (``CPU_IMAGES_PER_PASS``). The input array is not modified.
        """
        images = np.asarray(batch)
        if images.ndim != 3 or images.shape[0] == 0:
            raise InputError(
                f"embed needs a non-empty (n, height, width) image stack, got shape {images.shape}"
            )
        if not np.isfinite(images).all() or images.min() < 0.0 or images.max() > 1.0:
            raise InputError("embed needs finite image values in [0, 1] (windowed slices)")
        x = torch.tensor(images, dtype=torch.float64).unsqueeze(1).expand(-1, 3, -1, -1)
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
        normalised = ((x - mean) / std).to(self.device, self.dtype)
        per_pass = CPU_IMAGES_PER_PASS if torch.device(self.device).type == "cpu" else len(normalised)
        with torch.inference_mode(), _forward_threads(self.device):
            out = torch.cat([self.model(part) for part in normalised.split(per_pass)])
        return out.to("cpu", torch.float64).numpy()


def _running_threads(task_dir: Path) -> int:
    """Threads of one process (``/proc/<pid>/task``) that are running or runnable right now."""
    running = 0
    for stat in task_dir.glob("*/stat"):
        try:
            running += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return running


def _busy_cores_elsewhere() -> int:
    """Running threads of other processes right now (Linux: ``/proc/loadavg`` less this process's
    own, which include torch's OpenMP threads still spinning after the last operation); 0 elsewhere."""
    try:
        running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
    except (OSError, IndexError):
        return 0
    return max(0, int(running) - max(1, _running_threads(Path("/proc/self/task"))))


def forward_threads() -> int:
    """Torch threads for one CPU forward pass: torch's setting, at most the cores not busy right now.

    Oversubscribed cores are what make ResNet50 slow on a busy machine: torch's OpenMP threads wait
    for each other, spinning, while one of them is descheduled. Measured on 2 cores, 5 slices of
    224 px in float64: with about one other busy process (load 2.5-3.7) 1 thread took 1.44-1.51 s
    (1.39 s of CPU), 2 threads 8.1 s (5.3 s of CPU); at load 14-17, 7.3-8.0 s vs 36-41 s. On an
    idle machine 2 threads take 0.83 s and 1 thread 1.41 s (batch normalisations folded), so this
    process's own threads never count as busy. Float64 results do not depend on the thread count,
    so this choice never changes them.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), cores - _busy_cores_elsewhere()))


@contextmanager
def _forward_threads(device: str) -> Iterator[None]:
    """Run a CPU forward pass with :func:`forward_threads` threads; restore torch's setting after it."""
    configured = torch.get_num_threads()
    chosen = forward_threads() if torch.device(device).type == "cpu" else configured
    torch.set_num_threads(chosen)
    try:
        yield
    finally:
        torch.set_num_threads(configured)


_LOADED: dict[tuple, Backbone] = {}


def resolve_device(device: str = "auto") -> str:
    """Return the torch device to use: "auto" picks CUDA, then MPS, then the CPU."""
    mps_available = torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu"
    if device == "cpu":
        return device
    if device == "mps":
        if not mps_available:
            raise InputError("device 'mps' was requested but Apple MPS is not available; use 'auto' or 'cpu'")
        return device
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'")
    if not torch.cuda.is_available():
        raise InputError(f"device {device!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise InputError(
            f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found"
        )
    return device


def compute_dtype(device: str) -> torch.dtype:
    """What the network computes in on a resolved ``device``: float64, float32 on MPS (no float64)."""
    return torch.float32 if device == "mps" else torch.float64


def _new_resnet50(seed: int) -> torch.nn.Module:
    """ResNet50 without its classifier, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = resnet50(weights=None)
    model.fc = torch.nn.Identity()
    return model


def _resnet50_from_file(path: Path) -> torch.nn.Module:
    """ResNet50 without its classifier from a state_dict file (tensors only; pickled objects refused)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable or unsafe files
        raise ModelError(
            f"cannot read ResNet50 weights from {path}: it must be a state_dict of tensors "
            f"(torch.save(model.state_dict(), ...)); arbitrary pickled objects are refused ({exc})"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state_dict (a mapping of parameter names to tensors)")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # classifier is not used
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        model = resnet50(weights=None)
    model.fc = torch.nn.Identity()
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelError(f"{path} is not a torchvision ResNet50 state_dict: {exc}") from exc
    return model.float()


def _expected_sha256(path_text: str) -> tuple[Path, str | None]:
    """Split "path#sha256=<hex>" and read a "<path>.sha256" sidecar; return (path, expected hash)."""
    expected = None
    if _SHA256_FRAGMENT in path_text:
        path_text, expected = path_text.split(_SHA256_FRAGMENT, 1)
    path = Path(path_text).expanduser()
    sidecar = path.with_name(path.name + ".sha256")
    if expected is None and sidecar.is_file():
        expected = (sidecar.read_text().split() or [""])[0]
    if expected is not None:
        expected = expected.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expected):
            raise ModelError(f"expected SHA-256 for {path} must be 64 hex digits, got {expected!r}")
    return path, expected


def imagenet_cache_file(name: str) -> Path:
    """Where torchvision's cache keeps the file of ``name`` (honours TORCH_HOME)."""
    file_name = Path(urlparse(TORCHVISION_WEIGHTS[name].url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def _from_torchvision_cache(name: str) -> tuple[torch.nn.Module, str]:
    path = imagenet_cache_file(name)
    if not path.is_file():
        raise ModelError(
            f"ResNet50 weights {name!r} are not in the torch hub cache and are not downloaded automatically. "
            f"Expected file {path.name} at {path} (download it from {TORCHVISION_WEIGHTS[name].url}; "
            f"set TORCH_HOME to use another cache folder), or pass the path of a local weights file instead."
        )
    sha = sha256_file(path)
    prefix = re.search(r"-([0-9a-f]+)\.", path.name).group(1)
    if not sha.startswith(prefix):
        raise ModelError(
            f"{path} is corrupt: its SHA-256 {sha[:12]}... does not start with {prefix} as its name says; "
            "delete it and place the original file again"
        )
    return _resnet50_from_file(path), sha


def _from_local_file(path_text: str) -> tuple[torch.nn.Module, str]:
    path, expected = _expected_sha256(path_text)
    if not path.is_file():
        raise ModelError(
            f"ResNet50 weights {path_text!r} are neither a known name "
            f"({', '.join(TORCHVISION_WEIGHTS)}, random:<seed>) nor an existing file"
        )
    sha = sha256_file(path)
    if expected is not None and sha != expected:
        raise ModelError(f"{path} has SHA-256 {sha}, expected {expected}: wrong or altered weights file")
    if expected is None:
        logger.warning("no expected SHA-256 given for %s; recording its hash %s", path, sha)
    return _resnet50_from_file(path), sha


def _random_seed(weights: str) -> int:
    text = weights.split(":", 1)[1]
    if not text.isdigit():
        raise ModelError(f"random weights need a non-negative integer seed ('random:0'), got {weights!r}")
    return int(text)


def _fold_batch_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Fold every eval-mode BatchNorm2d of torchvision's ResNet into its convolution, in place, in float64.

    The layout is torchvision's: ``bnN`` follows ``convN`` in the same module, and a downsample is
    ``Sequential(conv, bn)``. Each fused weight is computed from the exact float64 values of the
    weights and replaces them at once (the network is float64 afterwards), so that no second copy
    of the network is held. Raises ``ModelError`` for a batch normalisation without its convolution.
    """
    # Only the parents are held here, so that each replaced weight is freed at once.
    parents = [m for m in model.modules() if any(isinstance(c, torch.nn.BatchNorm2d) for c in m.children())]
    for module in parents:
        for name, child in list(module.named_children()):
            if not isinstance(child, torch.nn.BatchNorm2d):
                continue
            conv_name = str(int(name) - 1) if name.isdigit() else "conv" + name.removeprefix("bn")
            conv = getattr(module, conv_name, None)
            if not isinstance(conv, torch.nn.Conv2d):
                raise ModelError(f"batch normalisation {name!r} of the ResNet50 follows no convolution")
            bias = None if conv.bias is None else conv.bias.double()
            weight, bias = fuse_conv_bn_weights(
                conv.weight.double(),
                bias,
                child.running_mean.double(),
                child.running_var.double(),
                child.eps,
                child.weight.double(),
                child.bias.double(),
            )
            conv.weight, conv.bias = weight.requires_grad_(False), bias.requires_grad_(False)
            setattr(module, name, torch.nn.Identity())
    return model.double()


def _fingerprint(model: torch.nn.Module) -> str:
    """16 hex digits identifying the network's function, device- and BLAS-independent in practice.

    ``model`` must be on the CPU in eval mode; it is converted to float64 in place and run.
    """
    steps = torch.arange(_FINGERPRINT_SIZE_PX, dtype=torch.float64) / (_FINGERPRINT_SIZE_PX - 1)
    channels = [
        steps[:, None] + 0.5 * steps[None, :],
        steps[None, :] - steps[:, None],
        steps[:, None] * steps,
    ]
    pattern = torch.stack(channels).unsqueeze(0) * 2.0 - 1.0  # (1, 3, size, size), fixed gradients
    model.to("cpu", torch.float64)  # float32 -> float64 is lossless
    with torch.inference_mode(), _forward_threads("cpu"):
        out = model(pattern).numpy().ravel()
    scale = float(np.abs(out).max()) or 1.0
    quantised = np.rint(out * (_FINGERPRINT_STEPS / scale)).astype(np.int64)
    return sha256_bytes(quantised.tobytes())[:16]


def _source_key(weights: str) -> tuple:
    """What a cached backbone depends on: the weights text and, for files, their place, size and time."""
    if weights.startswith("random:"):
        return (weights,)
    if weights in TORCHVISION_WEIGHTS:
        path = imagenet_cache_file(weights)
    else:
        path = Path(weights.split(_SHA256_FRAGMENT, 1)[0]).expanduser()
    stat = path.stat() if path.is_file() else None
    return (weights, str(path.resolve()), stat and stat.st_size, stat and stat.st_mtime_ns)


def load_weights(weights: str) -> tuple[torch.nn.Module, str | None, str]:
    """Torchvision's ResNet50 without its classifier, in eval mode on the CPU, with ``weights``.

    Returns the network as the weights define it (float32, batch normalisations separate), the
    SHA-256 of the weights file (None for ``random:<seed>``) and the identity; see :func:`load_resnet50`.
    """
    if weights.startswith("random:"):
        seed = _random_seed(weights)
        model, sha, identity = _new_resnet50(seed), None, f"random:{seed}"
    elif weights in TORCHVISION_WEIGHTS:
        model, sha = _from_torchvision_cache(weights)
        identity = weights
    else:
        model, sha = _from_local_file(weights)
        identity = f"file:{sha}"
    return model.eval().requires_grad_(False), sha, identity


def load_resnet50(weights: str, device: str = "auto") -> Backbone:
    """Load (or reuse from this process's cache) a ResNet50 backbone, ready for inference.

    ``weights``: "imagenet1k_v1" / "imagenet1k_v2" (torchvision cache under TORCH_HOME), a local
    ".pth"/".pt" state_dict path (optionally "path#sha256=<hex>" or with a "path.sha256" sidecar),
    or "random:<seed>". Raises ModelError for unusable weights and InputError for a bad device.
    """
    resolved = resolve_device(device)
    key = (*_source_key(weights), resolved)
    if key in _LOADED:
        return _LOADED[key]
    model, sha, identity = load_weights(weights)
    dtype = compute_dtype(resolved)
    stored_as = fingerprint_key(sha or identity, resolved, dtype, _FINGERPRINT_METHOD)
    fingerprint = cached_fingerprint(stored_as, lambda: _fingerprint(model))
    model = _fold_batch_norms(model).to(resolved, dtype)
    backbone = Backbone(model, identity, sha, fingerprint, resolved, dtype)
    logger.info("loaded ResNet50 %s (fingerprint %s) on %s", identity, fingerprint, resolved)
    _LOADED[key] = backbone
    return backbone


def clear_cache() -> None:
    """Forget the backbones loaded in this process (frees their memory)."""
    _LOADED.clear()
