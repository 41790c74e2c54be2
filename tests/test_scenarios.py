"""The folder and speaker-profile scenarios (chapter 07c) on real clips, with the shipped Whisper model and its heads:
profiles round trip and grow, foreign or broken profiles and the CNN models are refused in one line, a folder's
statistics move the answers the way the study found, and `distilser evaluate --folder-stats` runs end to end."""
import json, subprocess

import numpy as np
import pytest

from distilser.cli import main
from distilser.core import LABELS, compute_metrics
from distilser.data import cremad_manifest, ravdess_manifest, sample_cremad_root, sample_ravdess_root
from distilser.export import open_model
from distilser.pipeline import analyze
from distilser.preprocessing import load_clip
from distilser.scenarios import (MIN_PROFILE_NOTES, GroupStatistics, ScenarioClassifier, ScenarioError,
                                 SpeakerProfile, clip_statistics, scenario_head)

from conftest import DISTILSER

WHISPER = 'whisper-base-five-corpora-v1'


@pytest.fixture(scope='module')
def whisper():
    return open_model(WHISPER, num_threads=1)


@pytest.fixture(scope='module')
def ravdess(whisper):
    "The RAVDESS sample (8 actors, 128 clips, never trained on): rows, single-clip logits, statistics."
    rows = ravdess_manifest(sample_ravdess_root())
    clips = [load_clip(p, whisper.window_seconds, whisper.preprocessing) for p in rows.path]
    logits, stats = clip_statistics(whisper, clips)
    return rows, logits, stats


def test_profile_round_trip_and_update(whisper, ravdess, tmp_path):
    rows, _, stats = ravdess
    actor = np.flatnonzero(rows.speaker == 'Actor_02')
    path = tmp_path/'actor02.profile'
    for k, i in enumerate(actor):
        profile = SpeakerProfile.open(path, whisper)
        assert (profile.notes, profile.ready) == (k, k >= MIN_PROFILE_NOTES)
        profile.add_note(GroupStatistics.of(stats[i:i + 1])).save()
    again = SpeakerProfile.open(path, whisper)
    assert (again.notes, again.group.n) == (len(actor), len(actor))
    exact = stats[actor].astype(np.float64)
    # float64 running sums of float32 numbers, in another order than numpy's: ~1e-15 relative, far under 1e-9
    np.testing.assert_allclose(again.group.mean, exact.mean(0), rtol=0, atol=1e-9 * np.abs(exact).max())
    np.testing.assert_allclose(again.group.variance, exact.var(0), rtol=0, atol=1e-9 * exact.var(0).max())
    assert not list(tmp_path.glob('.actor02.profile.*'))  # no temporary file left beside it


def test_a_note_through_a_profile(whisper, tmp_path):
    "`analyze --profile`'s function on real files: the single-clip head until the profile is ready, then the speaker's."
    notes = ravdess_manifest(sample_ravdess_root()).query("speaker == 'Actor_03'").path.tolist()[:MIN_PROFILE_NOTES + 1]
    path = tmp_path/'p.profile'
    heard = [analyze(p, whisper, profile=path) for p in notes]
    assert [r.scenario for r in heard] == ['clip'] * MIN_PROFILE_NOTES + ['speaker']
    assert f'fewer than {MIN_PROFILE_NOTES}: the single-clip head answered' in heard[0].scenario_note
    assert heard[-1].to_dict()['scenario'] == 'speaker'
    profile = SpeakerProfile.open(path, whisper)
    assert (profile.notes, profile.group.n) == (len(notes), sum(len(r.windows) for r in heard))
    assert 'scenario' not in analyze(notes[0], whisper).to_dict()  # without a profile, the output is as before


def test_broken_and_foreign_profiles_are_refused(whisper, tmp_path):
    broken = tmp_path/'broken.profile'
    broken.write_bytes(b'PK\x03\x04 half a zip file')
    with pytest.raises(ScenarioError, match='not a readable distilser speaker profile') as e:
        SpeakerProfile.open(broken, whisper)
    assert '\n' not in str(e.value)
    other = SpeakerProfile.open(tmp_path/'new.profile', whisper)
    other.identity = dict(other.identity, window_seconds=8.0)  # a profile made with another contract
    other.save()
    with pytest.raises(ScenarioError, match=r'the profile of another model \(whisper-base, weights .*8.0 s windows'):
        SpeakerProfile.open(other.path, whisper)


@pytest.mark.parametrize('name', ['cremad-melcnn-v2', 'five-corpora-melcnn-v1'])
def test_cnn_models_are_refused(name, tmp_path):
    cnn = open_model(name)
    for scenario in ('folder', 'speaker'):
        with pytest.raises(ScenarioError, match=f'cannot serve the {scenario} scenario '
                                                r'\(no `statistics` output and no head.\w+.onnx beside it\)'):
            scenario_head(cnn, scenario)
    with pytest.raises(ScenarioError, match='no `statistics` output'):
        SpeakerProfile.open(tmp_path/'x.profile', cnn)
    assert not (tmp_path/'x.profile').exists()


def test_folder_statistics_move_the_answers_as_the_study_found(whisper, ravdess):
    """A corpus never heard: its own statistics take the recording's level, channel and voices out, and the folder
    head hears it better, its weakest class most (bench/results/whisper_scenarios.md, all 672 clips: UA 0.698 ->
    0.743, lowest recall 0.479 -> 0.578)."""
    rows, logits, stats = ravdess
    folder = scenario_head(whisper, 'folder')
    z = folder.logits(GroupStatistics.of(stats).standardise(stats, folder.floor))
    y = rows.label.map(LABELS.index).to_numpy()
    single, by_folder = (compute_metrics(y, l.argmax(1)) for l in (logits, z))
    lowest = lambda m: min(np.diag(m['confusion']) / np.sum(m['confusion'], 1))
    assert by_folder['ua'] > single['ua']
    assert lowest(by_folder) > lowest(single)
    # the same clips through ScenarioClassifier, the object `evaluate --folder-stats` runs: the same numbers
    clips = [load_clip(p, whisper.window_seconds, whisper.preprocessing) for p in rows.path[:16]]
    direct = folder.logits(GroupStatistics.of(stats[:16]).standardise(stats[:16], folder.floor))
    np.testing.assert_allclose(ScenarioClassifier(whisper, 'folder').clip_logits(clips), direct,
                               rtol=0, atol=1e-5 * np.abs(direct).max())  # one float32 graph, the same batches


def test_evaluate_folder_stats_end_to_end(tmp_path):
    "`distilser evaluate --folder-stats` as a user runs it, on 24 clips of the CREMA-D sample given as a manifest."
    manifest = cremad_manifest(sample_cremad_root()).groupby(['speaker', 'label']).head(2).reset_index(drop=True)
    table = tmp_path/'few.csv'
    manifest[manifest.speaker.isin(manifest.speaker.unique()[:3])].to_csv(table, index=False)
    done = subprocess.run([*DISTILSER, 'evaluate', WHISPER, '--manifest', str(table), '--out', str(tmp_path/'r'),
                           '--folder-stats', '--threads', '1'], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path/'r'/'metrics.json').read_text())
    assert (metrics['scenario'], metrics['n_clips'], metrics['temperature']) == ('folder', 24, 1.0)
    assert 'the folder scenario (head.folder.onnx)' in metrics['description']
    assert 'scenario: folder' in done.stdout
    assert main(['evaluate', 'cremad-melcnn-v2', '--manifest', str(table), '--out', str(tmp_path/'cnn'),
                 '--folder-stats']) == 2
    assert not (tmp_path/'cnn').exists()
