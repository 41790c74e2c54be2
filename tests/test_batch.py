"""`distilser analyze` on folders, run as a user runs it: the formats users bring, odd file names, broken models, an
output folder that cannot be written, a real kill and the resume after it, a second run refused, 10,000 files."""
import json, os, shutil, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import DISTILSER, REPO, run_cli
from distilser.batch import output_lock
from distilser.core import LABELS
from distilser.data import sample_ravdess_root
from distilser.export import default_model_path, write_metadata

M4A_HEAD = bytes.fromhex('0000001c667479704d344120000000004d34412069736f6d')  # the `ftyp` box an M4A file opens with

def analyze(*args): return run_cli('analyze', *args)

@pytest.fixture(scope='module')
def clips() -> list[Path]:
    "The RAVDESS clips that ship with the repository."
    return sorted(sample_ravdess_root().rglob('*.flac'))

def test_formats_and_odd_names(tmp_path, clips):
    "MP3, OGG/Vorbis, Opus, FLAC and WAV are analysed; an M4A gets one line naming its format; spaces and non-ASCII."
    x, sr = sf.read(clips[10])
    folder = tmp_path / 'Aufnahmen März' / 'sous-dossier été'
    folder.mkdir(parents=True)
    made = {'note one.mp3': ('MP3', 'MPEG_LAYER_III'), 'nöte 2.ogg': ('OGG', 'VORBIS'),
            'ノート 3.opus': ('OGG', 'OPUS'), 'note 4.flac': ('FLAC', 'PCM_16'), 'note 5.wav': ('WAV', 'PCM_16')}
    for name, (fmt, subtype) in made.items(): sf.write(folder / name, x, sr, format=fmt, subtype=subtype)
    m4a = folder / 'mémo vocal.m4a'
    m4a.write_bytes(M4A_HEAD + bytes(2000))
    out = tmp_path / 'résultats' / 'all notes.csv'
    done = analyze(tmp_path / 'Aufnahmen März', '--out', out)
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(out).set_index('path')
    assert sorted(Path(p).name for p in rows.index) == sorted([*made, m4a.name])
    analysed = rows.drop(str(m4a))
    assert analysed.error.isna().all() and analysed.emotion.isin(LABELS).all()
    assert np.allclose(analysed.duration, len(x) / sr, rtol=0, atol=5e-4 + 1e-9)  # the rows round to 3 decimals
    # four probabilities, each rounded to 4 decimals (at most 5e-5 off), from a float32 softmax (~1e-7)
    assert np.allclose(analysed[[f'p_{l}' for l in LABELS]].sum(axis=1), 1.0, rtol=0, atol=2e-4 + 1e-6)
    reason = rows.loc[str(m4a), 'error']
    assert reason.startswith('MP4/M4A (AAC or ALAC) audio, which soundfile (libsndfile) cannot decode')
    assert done.stderr.splitlines() == [f'{m4a}: {reason}']
    assert done.stdout.startswith(f'{out}: 5 files analysed, 1 could not be') and 'files/s' in done.stdout
    # the same as JSON Lines, in two worker processes
    done = analyze(tmp_path / 'Aufnahmen März', '--out', tmp_path / 'all notes.jsonl', '--workers', '2')
    assert done.returncode == 0, done.stderr
    records = [json.loads(l) for l in (tmp_path / 'all notes.jsonl').read_text(encoding='utf-8').splitlines()]
    assert ({r['path']: r['emotion'] for r in records}
            == {p: (None if pd.isna(e) else e) for p, e in rows.emotion.items()})

def test_folders_without_out_print_summaries(tmp_path, clips):
    "Without --out: a summary per file of the folder, errors on stderr, as for single files."
    for c in clips[:3]: shutil.copy(c, tmp_path / c.name)
    (tmp_path / 'memo.m4a').write_bytes(M4A_HEAD + bytes(100))
    done = analyze(tmp_path)
    assert done.returncode == 0, done.stderr
    assert ([l.split(':')[0] for l in done.stdout.splitlines() if l.startswith(str(tmp_path))]
            == [str(tmp_path / c.name) for c in clips[:3]])
    assert done.stderr.startswith(f"{tmp_path / 'memo.m4a'}: MP4/M4A") and len(done.stderr.splitlines()) == 1

def _bad_model(path: Path, kind: str) -> str:
    "Write a broken model of `kind` to `path`; returns the phrase its error line must hold."
    model = default_model_path().read_bytes()
    if kind == 'truncated':
        path.write_bytes(model[: len(model) // 3])
        return 'not a distilser model (not a readable ONNX file'
    if kind == 'not onnx':
        path.write_text('weights, honestly\n')
        return 'not a distilser model (not a readable ONNX file'
    path.write_bytes(model)
    write_metadata(path, {'distilser_labels': json.dumps(['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful',
                                                          'disgust', 'surprised'])})
    return "its labels (neutral, calm, happy, sad, angry, fearful, disgust, surprised) are not distilser's"

@pytest.mark.parametrize('kind', ['truncated', 'not onnx', 'other labels'])
def test_bad_model_is_one_line_before_any_work(tmp_path, clips, kind):
    model = tmp_path / 'model.int8.onnx'
    phrase = _bad_model(model, kind)
    done = analyze(clips[0], '--model', model, '--out', tmp_path / 'results.csv')
    assert done.returncode == 2 and done.stdout == ''
    assert (done.stderr.startswith(f'distilser: error: {model}: {phrase}')
            and len(done.stderr.splitlines()) == 1), done.stderr
    assert not (tmp_path / 'results.csv').exists()

@contextmanager
def unwritable(folder: Path):
    "`folder` made unwritable: by its mode, or for root (whom modes do not stop) by the immutable attribute."
    folder.chmod(0o555)
    immutable = (os.geteuid() == 0 and shutil.which('chattr')
                 and subprocess.run(['chattr', '+i', folder]).returncode == 0)
    try:
        if os.geteuid() == 0 and not immutable:
            pytest.skip('running as root without chattr +i: no folder is unwritable')
        yield folder
    finally:
        if immutable: subprocess.run(['chattr', '-i', folder])
        folder.chmod(0o755)

def test_unwritable_output_is_one_line_before_any_work(tmp_path, clips):
    blocker = tmp_path / 'notes.txt'
    blocker.write_text('a file where a folder should be\n')
    done = analyze(clips[0], '--out', blocker / 'results.csv')
    assert (done.returncode, done.stdout) == (2, '')
    assert done.stderr == (f"distilser: error: {blocker / 'results.csv'}: cannot write there "
                           f"({blocker} is a file, not a folder)\n")
    folder = tmp_path / 'read only'
    folder.mkdir()
    with unwritable(folder):
        done = analyze(clips[0], '--out', folder / 'results.csv')
    assert (done.returncode, done.stdout) == (2, '')
    assert (done.stderr.startswith(f"distilser: error: {folder / 'results.csv'}: cannot write there (")
            and len(done.stderr.splitlines()) == 1)

def _rows(out: Path) -> int: return max(0, out.read_bytes().count(b'\n') - 1)

def test_resume_after_a_real_kill(tmp_path, clips):
    """SIGKILL in the middle of a run with two workers, plus a half-written last line as a power cut would leave it: the
    rerun analyses exactly the missing files, and the killed run's workers are gone."""
    folder = tmp_path / 'notes'
    folder.mkdir()
    files = [folder / f'{i:03d} {c.name}' for i, c in enumerate(clips)]
    for f, c in zip(files, clips): os.link(c, f)  # the clips themselves, under other names
    out = tmp_path / 'results.csv'
    run = subprocess.Popen(DISTILSER + ['analyze', str(folder), '--out', str(out), '--workers', '2'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while (not out.exists() or _rows(out) < 10) and run.poll() is None and time.time() < deadline: time.sleep(0.02)
    workers = [int(p) for p in
               subprocess.run(['pgrep', '-P', str(run.pid)], capture_output=True, text=True).stdout.split()]
    run.kill()
    run.wait()
    before = pd.read_csv(out)
    assert 10 <= len(before) < len(files), 'the run must be killed in the middle'
    missing = sorted(set(map(str, files)) - set(before.path))
    # a row cut short, as a power cut mid-write leaves it
    with open(out, 'a') as f: f.write(f'{missing[0]},neutral,0.0')
    done = analyze(folder, '--out', out)
    assert done.returncode == 0, done.stderr
    after = pd.read_csv(out)
    assert after.path.is_unique and sorted(after.path) == sorted(map(str, files))
    assert after.error.isna().all()
    assert done.stdout.startswith(f'{out}: {len(missing)} files analysed, 0 could not be (their rows say why), '
                                  f'{len(before)} were there already')
    assert done.stderr == f'distilser: {out}: dropped a last line that an interrupted run left half written\n'
    # the worker processes (and multiprocessing's resource tracker) notice that the run is gone, and leave
    assert workers
    deadline = time.time() + 10
    while any(Path(f'/proc/{p}').exists() for p in workers) and time.time() < deadline: time.sleep(0.1)
    assert not any(Path(f'/proc/{p}').exists() for p in workers)

def test_second_run_on_the_same_output_is_refused(tmp_path, clips):
    out = tmp_path / 'results.csv'
    with output_lock(out):  # what a first run holds while it works
        done = analyze(clips[0], '--out', out)
    assert done.returncode == 2 and done.stdout == ''
    assert done.stderr == (f'distilser: error: {out}: another distilser analyze is writing to it '
                           f'(process {os.getpid()}); '
                           'let it finish, or choose another --out\n')
    assert analyze(clips[0], '--out', out).returncode == 0  # and once it is released, the run goes ahead

def peak_mb(args, folder) -> tuple[subprocess.CompletedProcess, float]:
    "Run `distilser ARGS` in a child that measures its own peak resident memory (bench/peak_memory.py), in MB."
    peak = folder / 'peak_kb.txt'
    done = subprocess.run([sys.executable, REPO / 'bench' / 'peak_memory.py', peak, *map(str, args)],
                          capture_output=True, text=True)
    return done, int(peak.read_text()) / 1024

def test_memory_stays_bounded_on_10000_files(tmp_path):
    """10,000 files against 100: the run streams the files and appends the rows, so its memory barely grows. The files
    are empty, each a quick one-line error, so that what is measured is the run's own bookkeeping, in seconds."""
    runs = {}
    for n in (100, 10_000):
        folder = tmp_path / f'{n} files'
        folder.mkdir()
        for i in range(n): (folder / f'{i:05d}.wav').touch()
        done, mb = peak_mb(['analyze', folder, '--out', tmp_path / f'{n}.csv'], tmp_path)
        assert done.returncode == 2  # none could be analysed
        errors = [l for l in done.stderr.splitlines() if l.startswith(str(folder))]  # the last line is peak_memory.py's
        assert len(errors) == n and errors[-1] == f"{folder / f'{n - 1:05d}.wav'}: empty file (0 bytes)"
        assert _rows(tmp_path / f'{n}.csv') == n
        runs[n] = mb
    resumed, mb = peak_mb(['analyze', tmp_path / '10000 files', '--out', tmp_path / '10000.csv'], tmp_path)
    assert (resumed.returncode == 0
            and resumed.stdout.startswith(f"{tmp_path / '10000.csv'}: 0 files analysed, 0 could not be"))
    print(f'peak RSS: 100 files {runs[100]:.0f} MB, 10,000 files {runs[10_000]:.0f} MB, resume of 10,000 {mb:.0f} MB')
    assert runs[10_000] - runs[100] < 25 and mb - runs[100] < 25

def test_retry_errors_analyses_the_error_rows_again(tmp_path, clips):
    """A file that was missing during the first run (a network share that was gone) gets its row again with
    --retry-errors once it is back; an M4A still cannot be decoded and keeps its one row; the others are not redone."""
    folder = tmp_path / 'notes'
    folder.mkdir()
    for c in clips[:2]: shutil.copy(c, folder / c.name)
    (folder / 'memo.m4a').write_bytes(M4A_HEAD + bytes(2000))
    late, out = tmp_path / 'late.flac', tmp_path / 'results.csv'
    assert analyze(folder, late, '--out', out).returncode == 0
    first = pd.read_csv(out).set_index('path')
    assert first.error[str(late)] == 'no such file'
    shutil.copy(clips[2], late)
    assert analyze(folder, late, '--out', out).stdout.startswith(f'{out}: 0 files analysed, 0 could not be')
    done = analyze(late, '--out', out, '--retry-errors')  # the error rows of the files given, not the M4A's
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f'{out}: 1 files analysed, 0 could not be (their rows say why), 0 were there already')
    assert done.stderr == f'distilser: {out}: took out 1 row that ended in an error, to analyse its file again\n'
    done = analyze(folder, late, '--out', out, '--retry-errors')  # the M4A is tried again, and fails again
    assert done.stdout.startswith(f'{out}: 0 files analysed, 1 could not be (their rows say why), 3 were there already')
    assert done.stderr.splitlines() == [
        f'distilser: {out}: took out 1 row that ended in an error, to analyse its file again',
        f"{folder / 'memo.m4a'}: {first.error[str(folder / 'memo.m4a')]}"]
    after = pd.read_csv(out).set_index('path')
    assert after.index.is_unique and sorted(after.index) == sorted(first.index)
    assert after.emotion[str(late)] in LABELS and pd.isna(after.error[str(late)])
    assert after.error[str(folder / 'memo.m4a')].startswith('MP4/M4A')
    assert after.loc[first.index[first.error.isna()]].equals(first.loc[first.error.isna()])  # untouched
    refused = analyze(folder, '--retry-errors')
    assert refused.returncode == 2 and refused.stderr == ('distilser: error: --retry-errors retries the error rows of '
                                                          '--out: give it\n')

def test_plots_of_files_with_the_same_name(tmp_path, clips):
    "memo.flac in two folders (two different recordings): two figures, one each, named after the folders."
    for day, clip in [('Monday', clips[0]), ('Tuesday', clips[40])]:
        (tmp_path / 'notes' / day).mkdir(parents=True)
        shutil.copy(clip, tmp_path / 'notes' / day / 'memo.flac')
    done = analyze(tmp_path / 'notes', '--plot', tmp_path / 'figures' / 'timeline.png', '--workers', '2')
    assert done.returncode == 0, done.stderr
    figures = sorted((tmp_path / 'figures').iterdir())
    assert [f.name for f in figures] == ['timeline-Monday-memo.png', 'timeline-Tuesday-memo.png']
    assert figures[0].read_bytes() != figures[1].read_bytes()
    shutil.copy(clips[1], tmp_path / 'notes' / 'Monday' / 'memo.wav')  # one name for two files: refused, nothing drawn
    done = analyze(tmp_path / 'notes', '--plot', tmp_path / 'more' / 'timeline.png')
    assert done.returncode == 2 and not (tmp_path / 'more').exists()
    assert done.stderr == (f"distilser: error: --plot: {tmp_path / 'notes' / 'Monday' / 'memo.flac'} and "
                           f"{tmp_path / 'notes' / 'Monday' / 'memo.wav'} would both be drawn to "
                           f"{tmp_path / 'more' / 'timeline-Monday-memo.png'}; plot them in separate runs\n")

@pytest.mark.parametrize('kind', ['csv', 'jsonl'])
def test_results_without_the_uncertain_column_resume(tmp_path, clips, kind):
    "A results file written before the `uncertain` column (its rows as 0.1 wrote them) is resumed, not refused."
    out = tmp_path / f'results.{kind}'
    assert analyze(*clips[:2], '--out', out).returncode == 0
    if kind == 'csv': pd.read_csv(out, dtype=str).drop(columns='uncertain').to_csv(out, index=False)
    else: out.write_text(''.join(json.dumps({k: v for k, v in json.loads(l).items() if k != 'uncertain'}) + '\n'
                                 for l in out.read_text().splitlines()))
    done = analyze(*clips[:4], '--out', out, '--min-confidence', '1')
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f'{out}: 2 files analysed, 0 could not be (their rows say why), 2 were there')
    rows = pd.read_csv(out) if kind == 'csv' else pd.read_json(out, lines=True)
    assert rows.path.tolist() == [str(c) for c in clips[:4]]
    assert rows.uncertain.iloc[:2].isna().all() and rows.uncertain.iloc[2:].tolist() == [True, True]  # P >= 1: never sure
    assert (done.stderr == f'distilser: {out}: added the uncertain column (empty in the rows written before it)\n'
            if kind == 'csv' else done.stderr == '')

def test_ray_engine_without_ray_says_which_install(tmp_path, clips):
    "`--engine ray` where ray cannot be imported: one line naming the install, before anything is read or written."
    fake = tmp_path / 'site' / 'ray'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text('raise ImportError("No module named \'ray\'")\n')  # as an install without it
    done = run_cli('analyze', clips[0], '--engine', 'ray', '--out', tmp_path / 'out',
                   env={'PYTHONPATH': str(fake.parent)})
    assert (done.returncode, done.stdout) == (2, '')
    assert done.stderr == ('distilser: error: --engine ray needs ray, which this installation lacks: '
                           'pip install "distilser[ray]"\n')
    assert not (tmp_path / 'out').exists()

def test_ray_engine_options_are_checked_before_any_work(tmp_path, clips):
    "What --engine ray cannot do is one line each, before a cluster is started or a file read."
    (tmp_path / 'results.csv').write_text('a file, not a folder\n')
    for args, said in [((), '--engine ray writes its rows to a folder of partitions: give --out FOLDER'),
                       (('--out', tmp_path / 'out', '--workers', '2'), "--workers is the local engine's"),
                       (('--out', tmp_path / 'out', '--plot', tmp_path / 't.png'), "--plot is the local engine's"),
                       (('--out', tmp_path / 'results.csv'), f"{tmp_path / 'results.csv'}: is a file; --engine ray "
                                                              'writes a folder of partitions')]:
        done = analyze(clips[0], '--engine', 'ray', *args)
        assert (done.returncode, done.stdout) == (2, ''), done.stderr
        assert done.stderr.startswith(f'distilser: error: {said}') and len(done.stderr.splitlines()) == 1, done.stderr
    done = analyze(clips[0], '--address', '127.0.0.1:6379', '--out', tmp_path / 'r.csv')
    assert done.stderr == 'distilser: error: --address is the Ray cluster of --engine ray: give both\n'
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'r.csv').exists()
