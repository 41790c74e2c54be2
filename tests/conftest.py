import os, shutil, subprocess, sys
from pathlib import Path

import pytest

from distilser.data import full_ravdess_root, sample_ravdess_root

REPO = Path(__file__).resolve().parent.parent
DISTILSER = [str(Path(sys.executable).parent/'distilser')]  # the installed console script, as a user runs it


@pytest.fixture(scope='session')
def subset_root() -> Path:
    "The RAVDESS subset committed with the repository."
    return sample_ravdess_root()


@pytest.fixture(scope='session')
def full_root() -> Path:
    "The full RAVDESS copy, or skip: set DISTILSER_RAVDESS or place it at ../shared/data/ravdess."
    root = full_ravdess_root()
    if root is None: pytest.skip('full RAVDESS copy not found (set DISTILSER_RAVDESS or provide ../shared/data/ravdess)')
    return root


def run_cli(*args, cwd=None, timeout=900, env=None) -> subprocess.CompletedProcess:
    "Run the `distilser` command in a subprocess, as a user would, and capture what it prints."
    return subprocess.run(DISTILSER + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, **(env or {})})
