"Any corpus as a manifest (`--manifest CSV`, `--label-map`) for evaluate, loso and train, run as a user would."
import json, shutil

import pandas as pd
import pytest

from conftest import run_cli
from distilser.data import cremad_manifest, sample_cremad_root

CREMAD_CODES = 'ang=anger,hap=happiness,neu=neutral,sad=sadness'


@pytest.fixture(scope='module')
def table(tmp_path_factory):
    "The real CREMA-D sample as a user's table: relative paths, the corpus's own emotion codes, no corpus column."
    folder = tmp_path_factory.mktemp('corpus')/'my corpus'
    shutil.copytree(sample_cremad_root()/'AudioWAV', folder/'clips')
    crema = cremad_manifest(folder.parent/'my corpus'/'clips')
    crema.assign(path=[f'clips/{p.split("/")[-1]}' for p in crema.path], label=crema.raw_label.str.lower())[
        ['path', 'label', 'speaker']].to_csv(folder/'train.csv', index=False)
    return folder/'train.csv'


def test_evaluate_manifest_is_not_called_ravdess(tiny, table, tmp_path):
    r = run_cli('evaluate', tiny['int8'], '--manifest', table, '--label-map', CREMAD_CODES, '--out', tmp_path/'r')
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path/'r'/'metrics.json').read_text())
    assert (m['corpus'], m['n_clips'], m['paper'], m['cross_corpus']) == ('my corpus', 120, None, True)
    assert sum(m['clips_per_class'].values()) == 120 and m['clips_per_class']['neutral'] == 24
    assert 'RAVDESS' not in r.stdout and 'paper' not in r.stdout and r.stdout.startswith('  ')  # one column: ours
    assert 'my corpus: 120 clips' in r.stdout
    assert (tmp_path/'r'/'confusion.png').stat().st_size > 1000
    both = run_cli('evaluate', tiny['int8'], '--manifest', table, '--ravdess', table.parent, '--out', tmp_path/'x')
    assert both.returncode == 2 and 'not allowed with argument' in both.stderr


def test_evaluate_manifest_without_label_map_reports_the_codes(tiny, table, tmp_path):
    r = run_cli('evaluate', tiny['int8'], '--manifest', table, '--out', tmp_path/'r')
    assert r.returncode == 2 and "32 clips labelled 'ang' left out" in r.stderr  # every clip left out
    assert 'the label map ang=anger would keep them' in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f'distilser: error: {table}: no clip labelled anger, happiness, neutral, sadness (its labels: ang 32, hap 32, '
        'neu 24, sad 32); rename them with a label map, e.g. ang=anger')
    assert not (tmp_path/'r').exists()


def test_loso_and_train_on_a_manifest(table, tmp_path):
    r = run_cli('loso', '--manifest', table, '--label-map', CREMAD_CODES, '--out', tmp_path/'cv', '--epochs', 1,
                '--backbone', 'offline:tiny', '--window-seconds', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    folds = sorted((tmp_path/'cv').glob('fold_*/config.json'))
    assert len(folds) == 4  # four actors: four folds, one actor tested in each
    tested = [json.loads(p.read_text())['fold']['test'] for p in folds]
    assert sorted(t for ts in tested for t in ts) == ['1001', '1002', '1013', '1015']
    assert json.loads(folds[0].read_text())['settings']['corpora'] == ['my corpus']
    r = run_cli('train', '--manifest', table, '--label-map', CREMAD_CODES, '--split', 'speakers', '--holdout', 0.25,
                '--out', tmp_path/'ckpt', '--epochs', 1, '--backbone', 'offline:tiny', '--window-seconds', 2)
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads((tmp_path/'ckpt'/'config.json').read_text())['distilser_training_data']
    assert data['corpora']['my corpus']['root'] == str(table) and data['n_held_out'] == 30  # one actor of four
    held = pd.read_csv(tmp_path/'ckpt'/'split'/'held_out.csv', dtype=str)
    assert held.speaker.nunique() == 1 and held.corpus.unique().tolist() == ['my corpus']


def test_loso_refuses_a_manifest_without_speakers(table, tmp_path):
    pd.read_csv(table)[['path', 'label']].to_csv(table.parent/'no_speakers.csv', index=False)
    r = run_cli('loso', '--manifest', table.parent/'no_speakers.csv', '--label-map', CREMAD_CODES,
                '--out', tmp_path/'cv', '--backbone', 'offline:tiny')
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert 'no_speakers.csv: 1 speaker group (unknown); cross-validation needs at least 3' in r.stderr
