"The production recipe: the 95/5 split, and `distilser train` end to end on real RAVDESS clips with the tiny model."
import json, math, warnings
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from distilser.cli import main
from distilser.core import LABELS, LABEL2ID
from distilser.data import ravdess_manifest, make_iemocap_fixture, make_cremad_fixture
from distilser.evaluate import predict_clips
from distilser.export import OnnxClassifier, export_onnx, open_model, read_metadata
from distilser.loso import TrainingConfig
from distilser.core import FROM_SCRATCH_NOTE, compute_metrics
from distilser.model import OFFLINE_TINY, RandomWeightsWarning, is_random_weights, load_model
from distilser.production import PAPER_PRODUCTION, production_manifest, production_split


def test_split_is_stratified_disjoint_and_seeded(subset_root):
    rav = ravdess_manifest(subset_root)
    train, held = production_split(rav, holdout=0.05, seed=3)
    assert len(held) == math.ceil(0.05 * len(rav))
    assert set(held.label) == set(LABELS)
    assert not set(train.path) & set(held.path)
    assert sorted(pd.concat([train, held]).path) == sorted(rav.path)
    assert production_split(rav, seed=3)[1].path.tolist() == held.path.tolist()
    assert production_split(rav, seed=4)[1].path.tolist() != held.path.tolist()
    # a larger share keeps the class proportions: 32 clips per class, 25 % held out -> 8 per class
    assert production_split(rav, holdout=0.25)[1].label.value_counts().to_dict() == {l: 8 for l in LABELS}


def test_cremad_is_never_held_out(tmp_path):
    both = production_manifest(iemocap=make_iemocap_fixture(tmp_path/'i'), cremad=make_cremad_fixture(tmp_path/'c'))
    for seed in range(3):
        train, held = production_split(both, seed=seed)
        assert set(held.corpus) == {'iemocap'}
        assert (train.corpus == 'cremad').sum() == (both.corpus == 'cremad').sum()


@pytest.fixture(scope='module')
def trained(subset_root, tmp_path_factory):
    "`distilser train` on the RAVDESS subset: tiny offline model, one epoch."
    out = tmp_path_factory.mktemp('production')/'checkpoint'
    r = run_cli('train', '--ravdess', subset_root, '--out', out, '--backbone', OFFLINE_TINY, '--epochs', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


def test_train_writes_a_checkpoint(trained, subset_root):
    out, r = trained
    for name in ('config.json', 'model.safetensors', 'preprocessor_config.json', 'training.json', 'metrics.json',
                 'held_out_predictions.csv', 'split/train.csv', 'split/held_out.csv'):
        assert (out/name).is_file() and (out/name).stat().st_size > 0, name
    assert not (out/'checkpoints').exists()  # the Trainer's working checkpoints are gone
    extractor = json.loads((out/'preprocessor_config.json').read_text())
    assert extractor['sampling_rate'] == 16000 and extractor['feature_extractor_type'] == 'DistilserFeatureExtractor'
    assert extractor['preprocessing'] == json.loads((out/'config.json').read_text())['distilser_preprocessing']
    config = json.loads((out/'config.json').read_text())
    assert config['distilser_training_data']['corpora']['ravdess']['root'] == str(subset_root)
    assert config['distilser_preprocessing']['pre_emphasis'] == 0.97
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        assert is_random_weights(load_model(out))
    assert FROM_SCRATCH_NOTE in r.stdout and 'cannot be evaluated cross-corpus' in r.stderr


def test_split_files(trained, subset_root):
    out, _ = trained
    train, held = pd.read_csv(out/'split'/'train.csv'), pd.read_csv(out/'split'/'held_out.csv')
    assert not set(train.path) & set(held.path)
    assert sorted(pd.concat([train, held]).path) == sorted(ravdess_manifest(subset_root).path)
    assert len(held) == 7 and set(held.label) == set(LABELS)
    assert sorted(pd.read_csv(out/'held_out_predictions.csv').path) == sorted(held.path)
    training = json.loads((out/'training.json').read_text())
    assert training['training_data']['n_train'] == len(train) and training['training_data']['n_held_out'] == len(held)
    recipe = asdict(TrainingConfig(backbone=OFFLINE_TINY, epochs=1))  # every field recorded, the rest the paper's
    assert training['settings'] == dict(recipe, holdout=0.05, split='clips')


def test_metrics_json_matches_the_held_out_predictions(trained):
    out, _ = trained
    metrics = json.loads((out/'metrics.json').read_text())
    preds = pd.read_csv(out/'held_out_predictions.csv')
    assert metrics['held_out'] == compute_metrics(preds.label.map(LABEL2ID), preds.predicted.map(LABEL2ID))
    assert np.sum(metrics['held_out']['confusion']) == len(preds) == metrics['n_held_out']
    assert {k: metrics['paper'][k] for k in ('wa', 'ua')} == PAPER_PRODUCTION == dict(wa=0.7548, ua=0.7640)
    assert 'Sec. V-A' in metrics['paper']['source']
    assert metrics['random_weights'] is True and metrics['note'] == FROM_SCRATCH_NOTE


def test_evaluation_of_the_checkpoint_matches_training_validation(trained):
    "The evaluation chapter's checkpoint path gives the probabilities that `distilser.loso.predict` gave in training."
    out, _ = trained
    held = pd.read_csv(out/'held_out_predictions.csv')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        ours = predict_clips(open_model(out), pd.read_csv(out/'split'/'held_out.csv'), progress=False).set_index('path')
    columns = [f'p_{l}' for l in LABELS]
    # training wrote them rounded to 6 decimals (5e-7), from float32 batches of another size (~1e-7): 1e-5
    np.testing.assert_allclose(ours.loc[held.path, columns].to_numpy(), held[columns].to_numpy(), atol=1e-5)


def test_checkpoint_is_ready_for_export(trained, tmp_path):
    out, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RandomWeightsWarning)
        _, int8 = export_onnx(out, tmp_path/'export', n_calibration=8, n_guard=16, floor=0.0)
    model = OnnxClassifier(int8)
    assert model.labels == LABELS and model.is_random_weights
    assert 'ravdess' in model.metadata['training_data']


def test_train_needs_a_corpus(tmp_path, capsys):
    assert main(['train', '--out', str(tmp_path/'x')]) == 2
    err = capsys.readouterr().err
    assert 'no training data' in err and 'Traceback' not in err


def test_train_with_a_missing_root(tmp_path, capsys):
    assert main(['train', '--iemocap', str(tmp_path/'no-iemocap'), '--out', str(tmp_path/'x')]) == 2
    err = capsys.readouterr().err
    assert 'no-iemocap' in err and 'Traceback' not in err
    assert not (tmp_path/'x').exists()


def test_window_travels_from_training_to_deployment(subset_root, tmp_path):
    "A model trained on 4 s windows is exported with 4 s in its metadata and analysed in 4 s windows."
    from distilser.pipeline import make_voice_note
    ckpt, onnx_dir = tmp_path/'ckpt', tmp_path/'onnx'
    r = run_cli('train', '--ravdess', subset_root, '--out', ckpt, '--backbone', 'offline:melcnn', '--epochs', 1,
                '--lr', '1e-3', '--window-seconds', 4, '--train-encoder', '--no-augment')  # the dashed spellings
    assert r.returncode == 0, r.stderr[-3000:]
    settings = json.loads((ckpt/'training.json').read_text())['settings']
    assert [settings[k] for k in ('lr', 'window_seconds', 'train_encoder', 'augment')] == [1e-3, 4.0, True, False]
    assert json.loads((ckpt/'config.json').read_text())['distilser_preprocessing']['window_seconds'] == 4.0
    r = run_cli('export', ckpt, '--out', onnx_dir, '--calibration-clips', 8, '--guard-clips', 16, '--floor', 0)
    assert r.returncode == 0, r.stderr[-3000:]
    assert read_metadata(onnx_dir/'model.int8.onnx')['window_seconds'] == '4.0'
    clips = ravdess_manifest(subset_root).path[:6].tolist()
    make_voice_note(clips, [0.5] * 7, tmp_path/'note.flac')
    r = run_cli('analyze', tmp_path/'note.flac', '--model', onnx_dir, '--json')
    assert r.returncode == 0, r.stderr[-3000:]
    windows = json.loads(r.stdout)[0]['windows']
    assert len(windows) > 1 and max(w['speech'] for w in windows) == pytest.approx(4.0)  # never longer


def test_a_model_of_many_corpora_in_one_command(tmp_path):
    "Named corpora train together, each giving validation speakers, with balanced draws and per-clip mean removal."
    from distilser.data import make_named_fixture, sample_cremad_root
    emodb = make_named_fixture('emodb', tmp_path/'emodb',
                               [f'{s}a0{i}{e}a.wav' for s in ('03', '08', '10') for e in 'WFNT' for i in (1, 2)])
    ckpt, onnx_dir = tmp_path/'ckpt', tmp_path/'onnx'
    r = run_cli('train', '--cremad', sample_cremad_root(), '--emodb', emodb, '--split', 'corpus-speakers',
                '--holdout', 0.1, '--balance-corpora', '--utterance-cmn', '--backbone', 'offline:melcnn',
                '--epochs', 1, '--window-seconds', 3, '--out', ckpt)
    assert r.returncode == 0, r.stderr[-3000:]
    held = pd.read_csv(ckpt/'split'/'held_out.csv')
    assert held.groupby('corpus').speaker.nunique().to_dict() == {'cremad': 1, 'emodb': 1}
    record = json.loads((ckpt/'training.json').read_text())
    assert record['settings']['model_overrides'] == {'utterance_cmn': True} and record['settings']['balance_corpora']
    assert set(record['training_data']['corpora']) == {'cremad', 'emodb'}
    assert json.loads((ckpt/'config.json').read_text())['utterance_cmn'] is True
    r = run_cli('export', ckpt, '--out', onnx_dir, '--calibration-clips', 8, '--guard-clips', 16, '--floor', 0)
    assert r.returncode == 0, r.stderr[-3000:]
    clips = pd.read_csv(ckpt/'held_out_predictions.csv')
    onnx = predict_clips(open_model(onnx_dir/'model.onnx'), clips, progress=False)
    assert (onnx.prediction == clips.predicted).mean() == 1.0  # the exported graph removes the mean as training did
