"""The file-name rule: a name from a user or a graph never writes outside its folder."""
from __future__ import annotations

import os

import pytest

from faceclip_core.errors import UsageError
from faceclip_core.idea.files import output_paths, state_path
from faceclip_core.files.names import MAX_NAME_LENGTH, check_file_name, path_inside


@pytest.mark.parametrize("name", ["my_person", "Jane Doe-2", "v1.5", "Zoë", "李小龙", "a" * MAX_NAME_LENGTH])
def test_ordinary_names_pass(name):
    assert check_file_name(name, "ID-EA name") == name


@pytest.mark.parametrize("name, problem", [
    ("", "is empty"), ("   ", "is empty"), (".hidden", "starts with a dot"), ("..", "starts with a dot"),
    ("../checkpoints/sd_xl_base_1.0", "starts with a dot"), ("/etc/passwd", r"contains '/'"),
    ("a/../../b", r"contains '/'"), ("C:\\x", "contains ':'"), ("tab\there", r"contains '\\t'"),
    (" padded", "starts or ends with a space"), ("a" * (MAX_NAME_LENGTH + 1), "characters long"),
    ("nul\x00byte", r"contains '\\x00'"), ("NUL", "device name on Windows"), ("com1.backup", "device name on Windows"),
])
def test_hostile_names_are_refused_with_the_reason(name, problem):
    with pytest.raises(UsageError, match=f"The ID-EA name .*{problem}.*Use letters, digits"):
        check_file_name(name, "ID-EA name")


def test_a_non_text_name_is_refused():
    with pytest.raises(UsageError, match="must be text, got int"):
        check_file_name(3, "output prefix")


def test_path_inside_builds_the_path_and_refuses_a_link_out_of_the_folder(tmp_path):
    folder = tmp_path / "embeddings"
    folder.mkdir()
    assert path_inside(folder, "jane", ".safetensors") == folder / "jane.safetensors"
    outside = tmp_path / "checkpoints"
    outside.mkdir()
    os.symlink(outside / "sd_xl_base_1.0.safetensors", folder / "evil.safetensors")
    with pytest.raises(UsageError, match="leads outside"):
        path_inside(folder, "evil", ".safetensors")


@pytest.mark.parametrize("name", ["../checkpoints/sd_xl_base_1.0", "/tmp/anywhere", "", ".jane"])
def test_id_ea_paths_refuse_names_that_leave_the_folder(tmp_path, name):
    with pytest.raises(UsageError, match="ID-EA name"):
        output_paths(tmp_path, name)
    with pytest.raises(UsageError, match="ID-EA name"):
        state_path(tmp_path, name)
    assert list(tmp_path.iterdir()) == []
