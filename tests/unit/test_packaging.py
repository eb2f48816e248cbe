"""Every package in the tree is listed in pyproject.toml, so a wheel install is complete."""

import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_package_is_listed():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    mapping = project["tool"]["setuptools"]["package-dir"]
    listed = set(project["tool"]["setuptools"]["packages"])
    found = set()
    for name, directory in mapping.items():
        for dirpath, _, files in os.walk(os.path.join(ROOT, directory)):
            if "__init__.py" in files:
                rel = os.path.relpath(dirpath, os.path.join(ROOT, directory))
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    assert found == listed
