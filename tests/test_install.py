"""The plain install as a user gets it: the wheel built from this checkout, installed without extras into a fresh
virtual environment outside the checkout. It must classify audio (CLI and Python API), give the full install's
probabilities, stay small, and carry no torch. Without the default model's own package it runs the CREMA-D CNN and
says so; the last tests install that package (`distilser-whisper-base-five-corpora`) and find the default again."""
import json, subprocess, sys, time
from pathlib import Path

import pytest

from distilser.data import sample_ravdess_root
from conftest import REPO, run_cli

sys.path.insert(0, str(REPO/'bench'))
from plain_install import (PLAIN_INSTALL_LIMIT_MB, five_second_clip, install_model_package, plain_install,  # noqa: E402
                           site_packages_mb)
from distilser.export import DEFAULT_MODEL, FALLBACK_MODEL, shipped_file, shipped_models  # noqa: E402


@pytest.fixture(scope='module')
def plain(tmp_path_factory) -> dict:
    "The plain install in a new venv (wheel, venv, bin), and a 5 s clip with a space, a comma and a non-ASCII letter."
    root = tmp_path_factory.mktemp('plain')
    return dict(plain_install(root), root=root, clip=five_second_clip(root/'clip 5 s, é.wav'))


def test_wheel_carries_the_cnns_not_the_whisper_model(plain):
    import zipfile
    names = zipfile.ZipFile(plain['wheel']).namelist()
    for model in (m for m in shipped_models() if m != DEFAULT_MODEL):  # the two CNNs
        runs = shipped_file(REPO/'models'/model).name  # the file the package runs, by the shipping rule
        assert f'distilser/models/{model}/{runs}' in names and f'distilser/models/{model}/README.md' in names
    assert not [n for n in names if f'/{DEFAULT_MODEL}/' in n]  # a package of its own: too large for the plain install
    assert not [n for n in names if '/checkpoint/' in n]  # ONNX files and cards, never the training checkpoints


def test_plain_install_is_small_and_has_no_torch(plain):
    size = site_packages_mb(plain['venv'])
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
    # said, not asserted: a time limit would test the machine's load (bench/plain_install.py measures it); the
    # torch-sized regression a limit would catch is refused by test_plain_install_is_small_and_has_no_torch
    print(f'plain install: `distilser analyze` on a 5 s clip answered in {seconds:.2f} s')
    full = run_cli('analyze', plain['clip'], '--json', '--model', FALLBACK_MODEL)  # what the plain install runs
    assert full.returncode == 0, full.stderr
    full_result = json.loads(full.stdout)[0]
    assert plain_result['emotion'] == full_result['emotion']
    for label, p in full_result['probabilities'].items():
        # the same model file; pip may give the plain venv another ONNX Runtime release: float32 kernels ~1e-6 apart
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
    (line,) = r.stderr.strip().splitlines()  # one line, naming the first library it lacks and the extra that brings it
    assert line.startswith('distilser: error: training, export and the studies need ')
    assert line.endswith('which this installation lacks: pip install "distilser[train]"')


def test_evaluate_without_plotting_libraries(plain, tmp_path):
    r = subprocess.run([plain['bin']/'distilser', 'evaluate', '--ravdess', sample_ravdess_root(), '--out', tmp_path],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path/'metrics.json').read_text())
    assert metrics['n_clips'] == 128 and 0 <= metrics['ua'] <= 1
    assert 'pip install "distilser[plot]"' in r.stderr  # the figures it could not draw, said once
    assert not (tmp_path/'confusion.png').exists()


def test_models_lists_the_shipped_models(plain):
    "`distilser models` needs only the plain install: the card's header (PyYAML) and the file's metadata."
    r = subprocess.run([plain['bin']/'distilser', 'models', '--json'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [m['name'] for m in listed] == [FALLBACK_MODEL, 'five-corpora-melcnn-v1'] and listed[0]['default']
    assert listed[0]['datasets'] == ['CREMA-D'] and any(x['dataset'] == 'RAVDESS' for x in listed[0]['results'])
    assert (listed[1]['default'], listed[1]['license'], len(listed[1]['datasets'])) == (False, 'research-only', 5)
    # the default's absence is said, with the package that brings it
    assert f"{DEFAULT_MODEL}, distilser's default, is not installed here (pip install " in r.stderr


@pytest.fixture(scope='module')
def with_model(plain) -> dict:
    "The plain install, then the default model's own package (built from its folder), as a user would add it."
    before = site_packages_mb(plain['venv'])
    wheel = install_model_package(plain['root'])
    return dict(plain, model_wheel=wheel, model_mb=site_packages_mb(plain['venv']) - before)


def test_model_package_makes_it_the_default(with_model):
    print(f"{with_model['model_wheel'].name}: {with_model['model_mb']:.0f} MB more in site-packages")
    r = subprocess.run([with_model['bin']/'distilser', 'models', '--json'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [m['name'] for m in listed] == [DEFAULT_MODEL, FALLBACK_MODEL, 'five-corpora-melcnn-v1']
    assert [m['default'] for m in listed] == [True, False, False] and 'not installed' not in r.stderr
    assert (listed[0]['file'], listed[0]['license'], len(listed[0]['datasets'])) == ('model.onnx', 'research-only', 5)
    plain_result, _ = analyze_json(with_model['bin']/'distilser', with_model['clip'])
    full = run_cli('analyze', with_model['clip'], '--json')  # the full install's default: the same model
    assert full.returncode == 0, full.stderr
    full_result = json.loads(full.stdout)[0]
    assert plain_result['emotion'] == full_result['emotion']
    for label, p in full_result['probabilities'].items():
        assert abs(plain_result['probabilities'][label] - p) <= 1e-4  # as above: one float32 file, two runtimes
