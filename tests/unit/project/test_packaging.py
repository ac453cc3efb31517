"""The wheel: built offline from the checkout, installed in a clean venv outside it, imported and run from there."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _requirement_names(lines: list[str]) -> list[str]:
    """Requirement strings without comments, whitespace or quote style (for comparing files with pyproject)."""
    specs = [line.split("#", 1)[0].strip() for line in lines]
    return sorted(re.sub(r"\s+", "", spec).replace('"', "'") for spec in specs if spec and not spec.startswith("-"))


def test_dependencies_and_extras_mirror_the_requirement_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    read = lambda name: _requirement_names((ROOT / name).read_text().splitlines())  # noqa: E731
    # the registry's frontend range is metadata, never what ComfyUI Manager installs (it is the host's)
    frontend = [spec for spec in project["dependencies"] if spec.startswith("comfyui-frontend-package")]
    assert _requirement_names([s for s in project["dependencies"] if s not in frontend]) == read("requirements.txt")
    extras = project["optional-dependencies"]
    assert set(extras) == {"train", "idea", "test"}
    for extra in extras:
        assert _requirement_names(extras[extra]) == read(f"requirements-{extra}.txt"), extra


def _offline_build_problem() -> str | None:
    """Why this venv cannot build the wheel without the network (pip's build isolation would download setuptools).
    Asked of a fresh interpreter, as the build runs in one (pytest's sys.path is not the build's)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u, setuptools; "
                               "print(setuptools.__version__, u.find_spec('wheel') is not None)"],
        capture_output=True, text=True, cwd=Path(sysconfig.get_paths()["purelib"]),
    )
    if probe.returncode:
        return "setuptools is not installed in this venv: pip install -r requirements-test.txt"
    version, has_wheel = probe.stdout.split()
    if tuple(int(part) for part in version.split(".")[:2]) >= (70, 1) or has_wheel == "True":
        return None
    return f"setuptools {version} needs the wheel package to build offline: pip install -r requirements-test.txt"


def _source_copy(folder: Path) -> Path:
    """What the build reads, copied, so building leaves nothing (build/, *.egg-info) in the checkout."""
    folder.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "faceclip_core", folder / "faceclip_core", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _clean_venv(env_dir: Path) -> Path:
    """A new venv with nothing installed; the running venv's packages (torch, ftfy, setuptools, ...) are visible
    through a .pth file, which comes after the venv's own site-packages, so faceclip_core can only come from what
    is installed into it. Returns its bin folder."""
    venv.create(env_dir, with_pip=False)  # installed into by this venv's pip (--python): no pip copied in
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = next(bin_dir.glob("python*"))
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz_running_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


def _pip_install(bin_dir: Path, *args: str) -> None:
    python = next(bin_dir.glob("python*"))
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", *args], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr


@pytest.fixture(scope="module")
def build_problem() -> None:
    problem = _offline_build_problem()
    if problem:
        pytest.skip(f"building the package offline: {problem}")


@pytest.fixture(scope="module")
def wheel_file(build_problem, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp / "dist"), str(_source_copy(tmp / "source"))],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = (tmp / "dist").glob("faceclip-*.whl")
    return wheel


def test_wheel_holds_faceclip_core_and_its_data_files_only(wheel_file):
    names = zipfile.ZipFile(wheel_file).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"faceclip_core", next(n for n in top if n.endswith(".dist-info"))}  # no nodes/, no root __init__.py
    data_files = {
        str(path.relative_to(ROOT)).replace("\\", "/")
        for path in (ROOT / "faceclip_core").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc")
    }
    assert data_files and data_files <= set(names)  # the BPE vocabulary, ID-EA's names, and whatever is added later
    assert not [name for name in names if name.endswith(".pyc")]
    entry_points = zipfile.ZipFile(wheel_file).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "faceclip = faceclip_core.cli:main" in entry_points


@pytest.fixture(scope="module")
def wheel_venv(wheel_file, tmp_path_factory) -> Path:
    bin_dir = _clean_venv(tmp_path_factory.mktemp("venv") / "env")
    _pip_install(bin_dir, str(wheel_file))
    return bin_dir


@pytest.fixture(scope="module")
def editable_venv(build_problem, tmp_path_factory) -> tuple[Path, Path]:
    """`pip install -e .` of a source copy into a clean venv: (bin folder, source folder)."""
    tmp = tmp_path_factory.mktemp("editable")
    source = _source_copy(tmp / "source")
    bin_dir = _clean_venv(tmp / "env")
    _pip_install(bin_dir, "--no-build-isolation", "-e", str(source))
    return bin_dir, source


def _where_faceclip_core_comes_from(bin_dir: Path, cwd: Path) -> tuple[Path, str]:
    """Imported in the venv from `cwd`: the package's folder, and what its tokenizer and ID-EA's name list read."""
    code = (
        "import faceclip_core, pathlib\n"
        "from faceclip_core.encoders.tokenizer import default_tokenizer\n"
        "from faceclip_core.idea.anchor import load_names\n"
        "print(pathlib.Path(faceclip_core.__file__).resolve().parent)\n"
        "print(default_tokenizer()('a photo of a person').shape[1], len(load_names()))\n"
    )
    result = subprocess.run([str(next(bin_dir.glob("python*"))), "-c", code], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    location, numbers = result.stdout.splitlines()
    return Path(location), numbers


def test_installed_wheel_imports_and_reads_its_data_outside_the_checkout(wheel_venv, tmp_path):
    location, numbers = _where_faceclip_core_comes_from(wheel_venv, tmp_path)
    assert location.is_relative_to(wheel_venv.parent.resolve())  # the installed copy, not the checkout
    assert numbers.split()[0] == "77" and int(numbers.split()[1]) > 100


def test_editable_install_imports_the_source_folder_from_anywhere(editable_venv, tmp_path):
    bin_dir, source = editable_venv
    location, numbers = _where_faceclip_core_comes_from(bin_dir, tmp_path)
    assert location == (source / "faceclip_core").resolve()
    assert numbers.split()[0] == "77"
    result = subprocess.run([str(next(bin_dir.glob("faceclip*"))), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "usage: faceclip" in result.stdout, result.stderr


def test_console_command_runs_every_subcommand_from_another_directory(wheel_venv, tmp_path):
    command = next(wheel_venv.glob("faceclip*"))
    result = subprocess.run([str(command), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("encode", "convert", "download", "detect"):
        assert name in result.stdout
        sub = subprocess.run([str(command), name, "--help"], cwd=tmp_path, capture_output=True, text=True)
        assert sub.returncode == 0 and "usage: faceclip " + name in sub.stdout, sub.stderr
