"""Atomic writes: the target appears complete or not at all, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from HematomaExpansionLib.common.atomic import atomic_path, write_csv_atomic, write_text_atomic


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
