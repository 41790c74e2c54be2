"""The plain install as a user gets it: the wheel built from this checkout, installed without extras into a fresh
virtual environment outside the checkout. It must classify audio with the default model (CLI and Python API), give
the full install's probabilities, stay small, and carry no torch."""
import json, shutil, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from distilser.data import ravdess_manifest, sample_ravdess_root
from distilser.preprocessing import SAMPLE_RATE, load_audio
from conftest import REPO, run_cli

PLAIN_INSTALL_LIMIT_MB = 300  # issue 13: site-packages of `pip install distilser` without extras


def checkout_copy(dest: Path) -> Path:
    "The files git would commit (tracked and untracked, not ignored), copied with their symlinks: what a clone holds."
    names = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split('\0')
    for name in filter(None, names):
        src = REPO/name
        if not src.exists() and not src.is_symlink(): continue  # deleted in the working tree, not yet committed
        (dest/name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest/name, follow_symlinks=False)
    return dest


def site_packages_mb(venv: Path) -> float:
    return sum(f.stat().st_size for f in next(venv.glob('lib/python*/site-packages')).rglob('*') if f.is_file()) / 1e6


@pytest.fixture(scope='module')
def plain(tmp_path_factory) -> dict:
    "Wheel built from a copy of the checkout, installed without extras in a new venv; its bin directory and a 5 s clip."
    root = tmp_path_factory.mktemp('plain')
    src = checkout_copy(root/'src')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', root/'dist',
                    src], check=True, capture_output=True)
    wheel = next((root/'dist').glob('distilser-*.whl'))
    subprocess.run([sys.executable, '-m', 'venv', root/'venv'], check=True)
    pip = subprocess.run([root/'venv'/'bin'/'pip', 'install', '-q', '--disable-pip-version-check', wheel],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    clips = ravdess_manifest(sample_ravdess_root()).path[:2]
    clip = root/'clip 5 s, é.wav'  # a space, a comma and a non-ASCII letter, as users name files
    sf.write(clip, np.concatenate([load_audio(p) for p in clips])[:5 * SAMPLE_RATE], SAMPLE_RATE)
    return dict(root=root, wheel=wheel, bin=root/'venv'/'bin', clip=clip)


def test_wheel_carries_the_default_model(plain):
    import zipfile
    names = zipfile.ZipFile(plain['wheel']).namelist()
    assert 'distilser/models/cremad-melcnn-v1/model.int8.onnx' in names
    assert 'distilser/models/cremad-melcnn-v1/README.md' in names


def test_plain_install_is_small_and_has_no_torch(plain):
    size = site_packages_mb(plain['root']/'venv')
    print(f'plain install: {size:.0f} MB of site-packages (limit {PLAIN_INSTALL_LIMIT_MB} MB)')
    assert size <= PLAIN_INSTALL_LIMIT_MB
    found = subprocess.run([plain['bin']/'python', '-c', 'import importlib.util as u; print([m for m in ("torch", '
                            '"torchaudio", "transformers", "matplotlib", "sklearn") if u.find_spec(m)])'],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == '[]'


def analyze_json(distilser: Path, clip: Path) -> tuple[dict, float]:
    start = time.perf_counter()
    r = subprocess.run([distilser, 'analyze', clip, '--json'], capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0], seconds


def test_analyze_matches_the_full_install(plain):
    plain_result, seconds = analyze_json(plain['bin']/'distilser', plain['clip'])
    print(f'plain install: `distilser analyze` on a 5 s clip answered in {seconds:.2f} s')
    assert seconds < 10  # goal 1 s on an idle 2-core machine; this bound only catches a torch-sized regression
    full = run_cli('analyze', plain['clip'], '--json')
    assert full.returncode == 0, full.stderr
    full_result = json.loads(full.stdout)[0]
    assert plain_result['emotion'] == full_result['emotion']
    for label, p in full_result['probabilities'].items():
        assert abs(plain_result['probabilities'][label] - p) <= 1e-4


def test_python_api(plain):
    code = ('import sys, distilser; r = distilser.analyze(sys.argv[1]); print(repr(r)); '
            'print(sorted(m for m in ("torch", "matplotlib") if m in sys.modules))')
    r = subprocess.run([plain['bin']/'python', '-c', code, plain['clip']], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    first, loaded = r.stdout.strip().splitlines()
    assert first.startswith('NoteAnalysis(clip 5 s, é.wav: ') and 'arousal' in first
    assert loaded == '[]'


def test_training_says_which_extra(plain, tmp_path):
    r = subprocess.run([plain['bin']/'distilser', 'train', '--cremad', tmp_path, '--out', tmp_path/'run'],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ['distilser: error: training, export and the studies need torch, which this '
                                             'installation lacks: pip install "distilser[train]"']


def test_evaluate_without_plotting_libraries(plain, tmp_path):
    r = subprocess.run([plain['bin']/'distilser', 'evaluate', '--ravdess', sample_ravdess_root(), '--out', tmp_path],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path/'metrics.json').read_text())
    assert metrics['n_clips'] == 128 and 0 <= metrics['ua'] <= 1
    assert 'pip install "distilser[plot]"' in r.stderr  # the figures it could not draw, said once
    assert not (tmp_path/'confusion.png').exists()
