"""The atomic writer: readers see the old file or the new one; refusals and failures name the path and the cause."""
from __future__ import annotations

import errno
import os

import pytest
import torch
from safetensors.torch import save_file

from faceclip_core.files.atomic import atomic_path, write_bytes
from faceclip_core.errors import UsageError


def test_replaces_only_when_the_write_finishes(tmp_path):
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as partial:
            partial.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]
    with atomic_path(target) as partial:
        partial.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "no space left on the device"),
                                         (errno.EACCES, "permission denied"), (errno.EROFS, "the file system is read-only")])
def test_a_failed_write_names_the_path_and_the_cause_and_keeps_the_old_file(tmp_path, code, cause):
    target = tmp_path / "out.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(UsageError, match=f"Cannot write {target}: {cause}"):
        with atomic_path(target) as partial:
            partial.write_bytes(b"half")
            raise OSError(code, os.strerror(code))
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]


def test_missing_parent_folders_are_created_and_a_file_in_the_way_is_named(tmp_path):
    target = tmp_path / "a" / "b" / "out.bin"
    write_bytes(target, b"x")
    assert target.read_bytes() == b"x"
    with pytest.raises(UsageError, match=f"Cannot write {target}/c.bin: a part of the folder path is a file"):
        write_bytes(target / "c.bin", b"y")


def test_a_folder_a_pipe_and_an_input_are_refused_and_left_as_they_are(tmp_path):
    with pytest.raises(UsageError, match="it is a folder"):
        write_bytes(tmp_path, b"x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        write_bytes(fifo, b"x")
    assert fifo.is_fifo()
    source = tmp_path / "in.pt"
    source.write_bytes(b"input")
    with pytest.raises(UsageError, match="also an input of this command"):
        write_bytes(source, b"x", inputs=[source])
    os.symlink(source, tmp_path / "link.pt")  # the same file under another name
    with pytest.raises(UsageError, match="also an input"):
        write_bytes(tmp_path / "link.pt", b"x", inputs=[source])
    assert source.read_bytes() == b"input"


def test_a_symbolic_link_target_is_written_through(tmp_path):
    real = tmp_path / "models" / "real.bin"
    real.parent.mkdir()
    real.write_bytes(b"old")
    os.symlink(real, tmp_path / "link.bin")
    write_bytes(tmp_path / "link.bin", b"new")
    assert (tmp_path / "link.bin").is_symlink() and real.read_bytes() == b"new"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_new_file_has_the_mode_the_umask_gives(tmp_path, umask, mode):
    """safetensors >= 0.8 writes 0600 files of its own; the writer gives them the umask's mode."""
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "t.safetensors") as partial:
            save_file({"a": torch.zeros(2)}, str(partial))
    finally:
        os.umask(old)
    assert (tmp_path / "t.safetensors").stat().st_mode & 0o777 == mode
