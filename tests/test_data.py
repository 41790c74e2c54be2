"Manifests from the command line on real RAVDESS and CREMA-D data and on bad input."
import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from conftest import run_cli
from distilser.core import LABELS
from distilser.data import make_iemocap_fixture, make_cremad_fixture, sample_cremad_root


def test_manifest_full_ravdess(full_root, tmp_path):
    r = run_cli('manifest', 'ravdess', full_root, '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path/'m.csv')
    assert len(m) == 672
    assert m.label.value_counts().to_dict() == {'neutral': 96, 'happiness': 192, 'sadness': 192, 'anger': 192}
    assert m.speaker.nunique() == 24
    assert '672 clips, 24 speakers' in r.stdout
    r = run_cli('manifest', 'ravdess', full_root, '--all-emotions', '--out', tmp_path/'all.csv')
    assert r.returncode == 0 and len(pd.read_csv(tmp_path/'all.csv')) == 1440


def test_manifest_subset_columns(subset_root, tmp_path):
    r = run_cli('manifest', 'ravdess', subset_root, '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path/'m.csv')
    assert {'path', 'corpus', 'label', 'raw_label', 'speaker', 'gender', 'group'} <= set(m.columns)
    assert set(m.label) == set(LABELS) and all(Path(p).is_file() for p in m.path)
    assert (m.groupby('speaker').gender.nunique() == 1).all()


def _copy_actor(subset_root, dest, actor='Actor_02'):
    src = subset_root/'Audio_Speech_Actors_01-24'/actor
    shutil.copytree(src, dest/'Audio_Speech_Actors_01-24'/actor)
    return dest/'Audio_Speech_Actors_01-24'/actor


def test_bad_files_are_reported_and_skipped(subset_root, tmp_path):
    actor = _copy_actor(subset_root, tmp_path)
    (actor/'03-01-05-01-01-01-02.flac').write_bytes(b'')                       # empty
    (actor/'03-01-05-01-02-01-02.flac').write_text('not audio at all')         # non-audio with an audio name
    r = run_cli('manifest', 'ravdess', tmp_path, '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/'m.csv')) == 16 - 2
    assert '03-01-05-01-01-01-02.flac: empty file (0 bytes)' in r.stderr
    assert '03-01-05-01-02-01-02.flac: not a readable audio file' in r.stderr
    assert 'Traceback' not in r.stderr


@pytest.mark.parametrize('corpus,expect', [('ravdess', 'Audio_Speech_Actors_01-24/Actor_XX'),
                                           ('iemocap', 'Session1..5/dialog/EmoEvaluation'),
                                           ('cremad', 'AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav')])
def test_wrong_root_says_expected_layout(tmp_path, corpus, expect):
    (tmp_path/'empty').mkdir()
    for root, message in [(tmp_path/'missing', 'missing: no such folder'), (tmp_path/'empty', expect)]:
        r = run_cli('manifest', corpus, root, '--out', tmp_path/'m.csv')
        assert r.returncode == 2
        assert message in r.stderr and 'Traceback' not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path/'m.csv').exists()


def test_fixtures_parse_to_their_recipes(tmp_path):
    iemo = make_iemocap_fixture(tmp_path, sessions=2, categories=('neu', 'exc', 'sad', 'oth'))
    r = run_cli('manifest', 'iemocap', iemo, '--out', tmp_path/'i.csv')
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path/'i.csv')
    assert m.label.value_counts().to_dict() == {'neutral': 4, 'happiness': 4, 'sadness': 4}
    assert sorted(m.speaker.unique()) == ['Ses01F', 'Ses01M', 'Ses02F', 'Ses02M']
    crema = make_cremad_fixture(tmp_path, actors=(1010, 1011), sentences=('ITS',), emotions=('HAP', 'FEA'))
    r = run_cli('manifest', 'cremad', crema, '--all-emotions', '--out', tmp_path/'c.csv')
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path/'c.csv').label.value_counts().to_dict() == {'happiness': 2, 'fear': 2}
    assert '1076_MTI_SAD_XX.wav: empty file (0 bytes)' in r.stderr
    assert '1 file skipped (empty file: 1)' in r.stdout and 'excluded by design: none' in r.stdout


def test_manifest_names_odd_cremad_file(tmp_path):
    "The printed summary names a misnamed CREMA-D clip, its reason and the name it should have, and counts exclusions."
    audio, sample = tmp_path/'CREMA-D'/'AudioWAV', sample_cremad_root()/'AudioWAV'
    audio.mkdir(parents=True)
    for f in sorted(sample.glob('1002_*'))[:4]: shutil.copy(f, audio)
    sf.write(audio/'1040_ITH_SAD_X.wav', *sf.read(sample/'1013_ITH_SAD_XX.flac'))   # as in the public release
    shutil.copy(sample/'1015_DFA_NEU_XX.flac', audio/'1015_DFA_FEA_XX.flac')         # fear: excluded by design
    r = run_cli('manifest', 'cremad', audio.parent, '--out', tmp_path/'c.csv')
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/'c.csv')) == 4
    odd = (f'{audio/"1040_ITH_SAD_X.wav"}: unexpected name (CREMA-D names are <actor>_<sentence>_<emotion>_<level>.wav '
           'with level LO, MD, HI or XX); did you mean 1040_ITH_SAD_XX.wav?')
    assert '4 clips, 1 speakers' in r.stdout
    assert f'1 file skipped (unexpected name: 1):\n  {odd}\n' in r.stdout
    assert 'excluded by design: 1 clip (fear 1)' in r.stdout
    assert odd in r.stderr and 'Traceback' not in r.stderr  # logged as well, as it happens


def _folder_corpus(subset_root, dest, actors=('Actor_01', 'Actor_02')):
    "The subset's clips of `actors` as a folder per label in RAVDESS's own words: `dest/angry/Actor_01/....flac`."
    words = {'01': 'neutral', '02': 'calm', '03': 'happy', '04': 'sad', '05': 'angry'}
    for actor in actors:
        for clip in sorted((subset_root/'Audio_Speech_Actors_01-24'/actor).glob('*.flac')):
            (dest/words[clip.name[6:8]]/actor).mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, dest/words[clip.name[6:8]]/actor)
    return dest


def test_manifest_folder_formats_names_and_bad_files(subset_root, tmp_path):
    "Any format soundfile reads, any depth, spaces and non-ASCII names; what cannot be read is reported, not fatal."
    root = _folder_corpus(subset_root, tmp_path/'mon corpus')
    x, sr = sf.read(next((root/'sad'/'Actor_01').glob('*.flac')))
    deep = root/'sad'/'Actor_09'/'séance 2'
    deep.mkdir(parents=True)
    for name, kwargs in [('clip ogg.ogg', dict(format='OGG', subtype='VORBIS')),
                         ('clip.opus', dict(format='OGG', subtype='OPUS')),
                         ('clip.mp3', dict(format='MP3', subtype='MPEG_LAYER_III')), ('clip.wav', {})]:
        sf.write(deep/name, x, sr, **kwargs)
    (deep/'voice note.m4a').write_bytes(b'\0\0\0\x20ftypM4A ' + bytes(64))  # AAC in MP4: soundfile cannot decode it
    (root/'angry'/'Actor_01'/'take.wav.part').write_bytes(b'RIFF')           # an interrupted copy
    (root/'notes.txt').write_text('recorded at home')                        # not audio: not counted
    r = run_cli('manifest', 'folder', root, '--label-map', 'angry=anger,happy=happiness,sad=sadness',
                '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(tmp_path/'m.csv', dtype=str)
    assert len(m) == 32 + 4 and m.label.value_counts()['sadness'] == 8 + 4
    assert set(m[m.speaker == 'Actor_09'].path.map(lambda p: Path(p).name)) == {'clip ogg.ogg', 'clip.opus', 'clip.mp3',
                                                                                 'clip.wav'}
    assert '2 files skipped (not a readable audio file: 2)' in r.stdout
    assert f'{deep/"voice note.m4a"}: not a readable audio file' in r.stdout
    assert 'excluded by design: 2 clips (calm 2)' in r.stdout
    assert "2 clips labelled 'calm' left out" in r.stderr and 'Traceback' not in r.stderr
    assert 'speakers: the first folder below each label folder' in r.stdout


def test_manifest_folder_without_label_map_reports_every_label(subset_root, tmp_path):
    root = _folder_corpus(subset_root, tmp_path/'corpus', actors=('Actor_03',))
    r = run_cli('manifest', 'folder', root, '--out', tmp_path/'m.csv')
    assert r.returncode == 0, r.stderr
    assert len(pd.read_csv(tmp_path/'m.csv')) == 4  # only neutral is spelled as one of the four
    assert 'excluded by design: 13 clips (angry 4, calm 1, happy 4, sad 4)' in r.stdout
    assert ("4 clips labelled 'angry' left out (not one of anger, happiness, neutral, sadness); "
            "the label map angry=anger would keep them") in r.stderr


@pytest.mark.parametrize('table,message', [
    ('path,emotion\n{clip},angry\n', 'no label column (its columns: path, emotion)'),
    ('path,label,speaker\n{clip},angry,\n', 'line 2: empty speaker'),
    ('path,label\nmissing.wav,angry\n', 'line 2: no such file: {folder}/missing.wav (relative paths are read from'),
    ('path,label\n', 'no rows below the header')])
def test_manifest_csv_bad_tables(subset_root, tmp_path, table, message):
    clip = next((subset_root/'Audio_Speech_Actors_01-24'/'Actor_01').glob('*.flac'))
    (tmp_path/'t.csv').write_text(table.format(clip=clip))
    r = run_cli('manifest', 'csv', tmp_path/'t.csv', '--out', tmp_path/'m.csv')
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert f'{tmp_path/"t.csv"}' in r.stderr and message.format(folder=tmp_path) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path/'m.csv').exists()


def test_manifest_label_map_errors(subset_root, tmp_path):
    for args, message in [(['folder', tmp_path, '--label-map', 'angry'], "label map 'angry': expected FROM=TO pairs"),
                          (['ravdess', subset_root, '--label-map', 'a=b'], 'ravdess spells its own')]:
        r = run_cli('manifest', *args, '--out', tmp_path/'m.csv')
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
