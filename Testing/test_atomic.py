"""Atomic writes: a file or a folder of results appears complete or not at all, with ordinary permissions."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from HematomaExpansionLib.common.atomic import (
    atomic_path,
    disk_full_message,
    is_disk_full,
    require_folder,
    staged_folder,
    write_csv_atomic,
    write_text_atomic,
)
from HematomaExpansionLib.common.errors import InputError


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_written_file_has_umask_permissions_and_target_suffix(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "image.seg.nrrd") as temporary:
            assert temporary.name.endswith(".seg.nrrd")
            temporary.write_bytes(b"x")
        mode = stat.S_IMODE((tmp_path / "image.seg.nrrd").stat().st_mode)
    finally:
        os.umask(umask)
    assert mode == 0o644


def test_csv_and_text_writers(tmp_path):
    write_csv_atomic(tmp_path / "t.csv", ["a", "b"], [[1, "x,y"]])
    assert (tmp_path / "t.csv").read_text() == 'a,b\n1,"x,y"\n'
    write_text_atomic(tmp_path / "sub" / "t.txt", "é")
    assert (tmp_path / "sub" / "t.txt").read_text(encoding="utf-8") == "é"


def test_a_failed_write_names_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(OSError) as caught, atomic_path(target) as temporary:
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")  # as a failing write(): no file name
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert is_disk_full(caught.value) and str(target) in disk_full_message(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_staged_folder_moves_a_new_result_into_place_with_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "out", replaced=("a.txt", "slices")) as staging:
            write_text_atomic(staging / "a.txt", "new")
            write_text_atomic(staging / "slices" / "s1.png", "png")
            assert sorted(p.name for p in tmp_path.iterdir()) == [staging.name]  # beside the target
    finally:
        os.umask(umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert (tmp_path / "out" / "slices" / "s1.png").read_text() == "png"


def test_staged_folder_replaces_an_earlier_result_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    (out / "slices").mkdir(parents=True)
    (out / "slices" / "stale.png").write_text("old")
    (out / "a.txt").write_text("old")
    with staged_folder(out, replaced=("a.txt", "slices")) as staging:
        write_text_atomic(staging / "a.txt", "new")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # the earlier result went as a whole

    (out / "notes.txt").write_text("mine")
    (out / "slices").mkdir()
    with staged_folder(out, replaced=("a.txt", "slices")) as staging:
        write_text_atomic(staging / "slices" / "s1.png", "png")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "notes.txt",
        "slices",
        "slices/s1.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_folder_leaves_everything_as_it_was_on_error(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old")
    with pytest.raises(OSError) as caught, staged_folder(out, replaced=("a.txt",)) as staging:
        write_text_atomic(staging / "a.txt", "new")
        with atomic_path(staging / "b.txt"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.filename == str(out / "b.txt")  # the path the user asked for
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]


def test_an_output_folder_cannot_be_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        require_folder(tmp_path / "f")
    with pytest.raises(InputError, match=r"is inside .*f, which is a file"):
        require_folder(tmp_path / "f" / "sub")
    assert require_folder(tmp_path / "new" / "sub") == tmp_path / "new" / "sub"
