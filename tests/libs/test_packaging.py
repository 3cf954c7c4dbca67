"""The image is a non-editable install (Dockerfile: `pip install .`): every data file
the code reads at run time (migrations, named SQL, the partner catalog, templates,
address data) must be matched by [tool.setuptools.package-data], or the process
fails in the image only (editable installs and the tests read the source tree)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("libs", "services", "gateway", "cli", "console")
DATA_SUFFIXES = {".sql", ".json", ".html", ".css", ".js", ".gz", ".bin"}


def _shipped(path: Path, patterns: dict[str, list[str]]) -> bool:
    """Setuptools matches a pattern relative to the package that holds the file,
    for the package named (or every package for "*")."""
    for package_dir in path.parents:
        if package_dir == ROOT or not (package_dir / "__init__.py").exists():
            continue
        package = ".".join(package_dir.relative_to(ROOT).parts)
        rel = path.relative_to(package_dir).as_posix()
        for name in ("*", package):
            if any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns.get(name, [])):
                return True
    return False


def test_every_runtime_data_file_travels_with_a_non_editable_install() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = [
        p
        for top in PACKAGES
        for p in (ROOT / top).rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES and "screenshots" not in p.parts
    ]
    assert any(p.name == "queries.sql" for p in files)
    missing = [str(p.relative_to(ROOT)) for p in files if not _shipped(p, patterns)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
