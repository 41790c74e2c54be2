import os, subprocess, sys, warnings
from pathlib import Path

import pytest

from distilser.data import full_ravdess_root, sample_ravdess_root

REPO = Path(__file__).resolve().parent.parent
DISTILSER = [str(Path(sys.executable).parent/'distilser')]  # the installed console script, as a user runs it
# One torch (OpenMP) thread here and in every `distilser` this suite starts: the test models are tiny and gain
# nothing from a second thread, while two threads on busy cores wait on each other (one LOSO fold of the tiny model:
# 3 s with one thread, 32-45 s with two, measured with other jobs on this 2-core machine)
os.environ['OMP_NUM_THREADS'] = '1'


@pytest.fixture(scope='session', autouse=True)
def one_torch_thread():
    "The same for the tests that train or run torch models in this process."
    import torch
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def subset_root() -> Path:
    "The RAVDESS subset committed with the repository."
    return sample_ravdess_root()


@pytest.fixture(scope='session')
def full_root() -> Path:
    "The full RAVDESS copy, or skip: set DISTILSER_RAVDESS or place it at ../shared/data/ravdess."
    root = full_ravdess_root()
    if root is None:
        pytest.skip('full RAVDESS copy not found (set DISTILSER_RAVDESS or provide ../shared/data/ravdess)')
    return root


@pytest.fixture(scope='session')
def tiny(tmp_path_factory) -> dict:
    """The tiny offline model (random weights): the model, its checkpoint directory, and `export_onnx`'s directory and
    files."""
    from distilser.export import export_onnx
    from distilser.model import OFFLINE_TINY, load_model
    root = tmp_path_factory.mktemp('tiny')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # offline:tiny announces its random weights; these tests know
        model = load_model(OFFLINE_TINY).eval()
        model.save_pretrained(root/'checkpoint')
        fp32, int8 = export_onnx(root/'checkpoint', root/'export', training_data='nothing: random weights',
                                 n_calibration=8, n_guard=16, floor=0.0)  # random logits agree with nothing
    return dict(model=model, checkpoint=root/'checkpoint', export=root/'export', fp32=fp32, int8=int8)


def run_cli(*args, cwd=None, timeout=900, env=None) -> subprocess.CompletedProcess:
    "Run the `distilser` command in a subprocess, as a user would, and capture what it prints."
    return subprocess.run(DISTILSER + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, **(env or {})})
