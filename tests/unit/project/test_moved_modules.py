"""Import paths from before the layout step: a saved config or script naming one is told the new path."""
from __future__ import annotations

import importlib

import pytest

from faceclip_core import MOVED_MODULES
from faceclip_core.errors import UsageError
from faceclip_core.train.face_analysis import build_analyzer


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_an_old_module_path_names_the_new_one_which_imports(old):
    with pytest.raises(ModuleNotFoundError, match=f"{old} is now {MOVED_MODULES[old]}: import that instead"):
        importlib.import_module(old)
    importlib.import_module(MOVED_MODULES[old])


def test_a_run_configs_old_analyzer_path_names_the_new_module():
    """validate.analyzer / --analyzer = "MODULE:FACTORY" written against the old layout."""
    with pytest.raises(UsageError, match=r"Cannot build the face analyser 'faceclip_core\.image_files:read_image' "
                                         r"\(faceclip_core\.image_files is now faceclip_core\.files\.images"):
        build_analyzer("faceclip_core.image_files:read_image", None)


def test_a_missing_module_still_says_it_is_missing():
    with pytest.raises(ModuleNotFoundError, match="No module named 'faceclip_core.no_such_module'"):
        importlib.import_module("faceclip_core.no_such_module")
