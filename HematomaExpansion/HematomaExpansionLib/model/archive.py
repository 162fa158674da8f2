"""The arrays of a model bundle (``model.npz``), checked against the card before any data is read.

Every member's name, ``.npy`` header (dtype, shape, memory order) and uncompressed size from the
zip directory must match what the card implies; only then are the arrays read, with
``allow_pickle=False``. A pickle, an object array, an unlisted member or an oversized one is refused
without being decompressed.
"""

from __future__ import annotations

import io
import math
import zipfile
from typing import Any

import numpy as np

ARRAYS_FILE = "model.npz"
ARRAY_DTYPE = np.dtype("<f8")
MAX_ARRAYS_BYTES = 256 * 2**20
LASSO_PATH_ARRAYS = ("lasso_lambdas", "lasso_path_intercepts", "lasso_cv_mean", "lasso_cv_se")


def expected_shapes(card: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The shape of every array the card's model needs, from the card alone (a schema-valid card).

    Raises ValueError when the card's ``arrays`` listing disagrees with them.
    """
    k = len(card["input_features"])
    n_lambdas = card["training_config"]["n_lambdas"]
    n_candidates = len(card["feature_selection"]["lasso_candidates"])
    listed = {name: tuple(shape) for name, shape in card["arrays"].items()}
    shapes = {"zscore_mean": (k,), "zscore_sd": (k,), "lasso_weight": (k,)}
    shapes |= dict.fromkeys(LASSO_PATH_ARRAYS, (n_lambdas,))
    shapes["lasso_path_coefs"] = (n_lambdas, n_candidates)
    for i in range(len(card["calibration"]["folds"])):
        dual_shape = listed.get(f"fold{i}_dual_coef", ())
        n_support = dual_shape[0] if len(dual_shape) == 1 else 0
        if not 0 < n_support <= card["training_cohort"]["n"]:
            raise ValueError(
                f"fold {i} lists {n_support} support vectors; a model trained on "
                f"{card['training_cohort']['n']} cases has 1 to {card['training_cohort']['n']}"
            )
        shapes[f"fold{i}_support_vectors"] = (n_support, k)
        shapes[f"fold{i}_dual_coef"] = (n_support,)
    if listed != shapes:
        differing = sorted(name for name in set(listed) | set(shapes) if listed.get(name) != shapes.get(name))
        raise ValueError(
            f"the card lists arrays that do not fit its model ({', '.join(differing)}: listed "
            f"{[listed.get(n) for n in differing]}, the model needs {[shapes.get(n) for n in differing]})"
        )
    return shapes


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from a member's .npy header, and check its size in the directory."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"member {info.filename} has .npy format version {version}")
        header_bytes = member.tell()
    data_bytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_bytes + data_bytes:
        raise ValueError(
            f"member {info.filename} is {info.file_size} bytes uncompressed; its header announces "
            f"{header_bytes + data_bytes}"
        )
    return tuple(shape), fortran_order, dtype


def read_arrays(data: bytes, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The arrays of ``data`` (the bytes of model.npz) once every member matched ``shapes``.

    Raises ValueError (or ``zipfile.BadZipFile``) naming the member; no array data is decompressed
    before all headers were checked.
    """
    total = sum(math.prod(shape) for shape in shapes.values()) * ARRAY_DTYPE.itemsize
    if total > MAX_ARRAYS_BYTES:
        raise ValueError(f"the card lists {total} bytes of arrays, more than the {MAX_ARRAYS_BYTES} allowed")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        members = [info.filename.removesuffix(".npy") for info in infos]
        if sorted(members) != sorted(shapes) or len(set(members)) != len(members):
            unlisted = sorted(set(members) - set(shapes))
            missing = sorted(set(shapes) - set(members))
            raise ValueError(
                f"its members differ from the card's arrays (not in the card: {unlisted or 'none'}; missing: {missing or 'none'})"
            )
        for name, info in zip(members, infos, strict=True):
            shape, fortran_order, dtype = _member_header(archive, info)
            if dtype != ARRAY_DTYPE or fortran_order or shape != shapes[name]:
                raise ValueError(
                    f"{name} is {dtype}{' (Fortran order)' if fortran_order else ''} of shape {shape}; the card "
                    f"needs C-ordered float64 of shape {shapes[name]}"
                )
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        return {name: loaded[name] for name in loaded.files}
