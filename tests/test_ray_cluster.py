"""`distilser analyze --engine ray` on a real Ray cluster of two nodes started on this machine (two raylets on the
loopback address, one CPU and a small object store each), over 768 real files: the repository's RAVDESS and CREMA-D
clips as FLAC, 16-bit WAV and OGG/Vorbis. A first run takes a third of them from a Parquet list named by a file://
URI; the second, on the whole folder, is hit by a SIGKILL of one worker process and then of the second node's raylet
(by their process ids, no polite shutdown), and must still end with every file exactly once, its rows equal to the
local engine's; the runs after it analyse nothing again."""
import os, shutil, signal, subprocess, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import DISTILSER
from distilser.batch import ROW_FIELDS, partition_files, read_results
from distilser.core import LABELS
from distilser.data import sample_cremad_root, sample_ravdess_root

from ray.cluster_utils import Cluster  # noqa: E402  (the ray extra: make setup installs it)

STORE = 80 * 2**20  # each node's object store: the rows of a batch are a few kB
FAST_DEATH = {'health_check_initial_delay_ms': 0, 'health_check_period_ms': 500, 'health_check_timeout_ms': 500,
              'health_check_failure_threshold': 3}  # a dead node declared so in ~2 s, not Ray's default ~30 s


@pytest.fixture(scope='module')
def audio(tmp_path_factory) -> Path:
    "A folder of 768 files: the 256 clips that ship with the repository as FLAC, 16-bit WAV and OGG/Vorbis."
    folder = tmp_path_factory.mktemp('calls')
    clips = sorted(sample_ravdess_root().rglob('*.flac')) + sorted((sample_cremad_root() / 'AudioWAV').glob('*.flac'))
    assert len(clips) == 256
    for i, clip in enumerate(clips):
        x, sr = sf.read(clip, dtype='int16')
        day = folder / f'day {i % 4}'
        day.mkdir(exist_ok=True)
        shutil.copy(clip, day / f'{clip.stem}.flac')
        sf.write(day / f'{clip.stem}.wav', x, sr, subtype='PCM_16')
        sf.write(day / f'{clip.stem}.ogg', x, sr, format='OGG', subtype='VORBIS')
    return folder


@pytest.fixture(scope='module')
def cluster():
    "Two Ray nodes on 127.0.0.1, one CPU each; torn down however the test ends."
    with pytest.MonkeyPatch.context() as env:
        env.setenv('RAY_USAGE_STATS_ENABLED', '0')  # no reports sent anywhere
        # Ray maps 127.0.0.1 to the machine's network address when a driver connects, unless told that the cluster is
        # on one machine: so every process here (the nodes, the drivers that `distilser analyze` starts) stays on the
        # loopback address
        env.setenv('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')
        yield from _cluster()


def _cluster():
    c = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, object_store_memory=STORE, node_ip_address='127.0.0.1', include_dashboard=False,
        _system_config=FAST_DEATH))
    try:
        second = c.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address='127.0.0.1')
        c.wait_for_nodes()
        yield c, second
    finally: c.shutdown()


def analyze(*args, timeout=150) -> subprocess.CompletedProcess:
    return subprocess.run(DISTILSER + ['analyze', *map(str, args)], capture_output=True, text=True, timeout=timeout)


def text(column: pd.Series) -> pd.Series:
    "A column as text, '' where it is empty: the CSV of the local engine and Parquet then compare cell by cell."
    return column.astype(object).where(column.notna(), '').astype(str)


def last_line(text: str) -> str: return (text.strip().splitlines() or [''])[-1]


def _children(parent: int) -> list[tuple[int, str]]:
    "(pid, command line) of the processes whose parent is `parent`, read from /proc."
    found = []
    for d in Path('/proc').iterdir():
        try:
            if d.name.isdigit() and int((d / 'stat').read_text().rsplit(')', 1)[1].split()[1]) == parent:
                found.append((int(d.name), (d / 'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')))
        except (OSError, IndexError, ValueError): continue  # a process that ended meanwhile
    return found


def map_workers(raylet: int) -> list[int]:
    "The Ray Data actor processes (`RowMaker`'s) that the raylet `raylet` started."
    return [pid for pid, cmd in _children(raylet) if cmd.startswith('ray::MapWorker')]


def rows_in(out: Path, before: set) -> int:
    "How many rows the partitions of `out` written since `before` (the partitions there before) hold."
    return sum(len(pd.read_parquet(f)) for f in set(partition_files(out)) - before)


def wait_for(condition, run: subprocess.Popen, seconds: float, what: str):
    deadline = time.time() + seconds
    while not condition():
        assert run.poll() is None, f'the run ended before {what}: {run.communicate()}'
        assert time.time() < deadline, f'no {what} within {seconds} s'
        time.sleep(0.05)


def test_two_nodes_lose_no_file_when_a_worker_and_a_node_die(audio, cluster, tmp_path):
    c, second = cluster
    files = sorted(str(f) for f in audio.rglob('*.*'))
    assert len(files) == 768
    # the local engine's rows, the reference (two processes, one ONNX Runtime thread each, as each Ray actor has)
    local = analyze(audio, '--out', tmp_path / 'local.csv', '--workers', '2')
    assert local.returncode == 0, local.stderr
    reference = pd.read_csv(tmp_path / 'local.csv').set_index('path').sort_index()
    assert sorted(reference.index) == files

    # a first run on a third of the files, from a Parquet list named by a file:// URI
    out = tmp_path / 'results'
    todo = tmp_path / 'todo.parquet'
    pd.DataFrame({'path': files[::3]}).to_parquet(todo)
    first = analyze(todo.as_uri(), '--engine', 'ray', '--address', c.address, '--out', out)
    assert first.returncode == 0, first.stderr
    said = last_line(first.stdout)  # Ray's own messages (a worker's death, ...) may come before it
    assert said.startswith(f'{out}: 256 files analysed, 0 could not be (their rows say why), 0 were there already;')
    assert 'files/s on 2 nodes (2 CPUs)' in said, said
    before = set(partition_files(out))

    # the whole folder, with a worker process killed and then the second node
    run = subprocess.Popen(DISTILSER + ['analyze', str(audio), '--engine', 'ray', '--address', c.address, '--out',
                                        str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        head = c.head_node.all_processes['raylet'][0].process.pid
        raylet = second.all_processes['raylet'][0].process.pid
        wait_for(lambda: map_workers(head) and map_workers(raylet) and rows_in(out, before) >= 32, run, 90,
                 'rows from actors on both nodes')
        os.kill(map_workers(head)[0], signal.SIGKILL)   # one worker process: its actor restarts, its batch runs again
        killed_at = rows_in(out, before)
        wait_for(lambda: rows_in(out, before) >= killed_at + 64, run, 60, 'rows after the worker was killed')
        os.kill(raylet, signal.SIGKILL)                # the second node: its raylet, its object store, its actor
        node_at = rows_in(out, before)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None: run.kill(); run.wait()
    assert run.returncode == 0, stderr
    assert node_at < 512, 'the node must die in the middle of the run'
    assert last_line(stdout).startswith(f'{out}: 512 files analysed, 0 could not be (their rows say why), 256 were '
                                        'there already;'), stdout

    rows = read_results(out)
    assert list(rows.columns) == ROW_FIELDS == list(pd.read_csv(tmp_path / 'local.csv', nrows=0).columns)
    assert sorted(rows.path) == files                  # every file exactly once
    rows = rows.set_index('path').sort_index()
    assert rows.error.isna().all() and rows.emotion.notna().sum() > 700  # a few clips have no speech: no emotion
    for column in ['emotion', 'uncertain', 'arousal', 'windows', 'model']:  # exactly: labels, counts and names
        assert text(rows[column]).equals(text(reference[column])), column
    # the rows round probabilities to 4 decimals and seconds to 3: the same float32 arithmetic on both sides, but a
    # float32 difference (~1e-7) may move a value across a rounding boundary, so one step of the rounding is allowed
    p = [f'p_{l}' for l in LABELS]
    np.testing.assert_allclose(rows[p].to_numpy(), reference[p].to_numpy(), rtol=0, atol=1e-4 + 1e-7)
    for column in ['speech_seconds', 'duration']:
        np.testing.assert_allclose(rows[column].to_numpy(), reference[column].to_numpy(), rtol=0, atol=1e-3 + 1e-7)

    # resumed: nothing is analysed twice, from the folder as a path and as a file:// URI
    for source in (audio, audio.as_uri()):
        again = analyze(source, '--engine', 'ray', '--address', c.address, '--out', out)
        assert again.returncode == 0, again.stderr
        assert again.stdout == f'{out}: 0 files analysed, 0 could not be (their rows say why), 768 were there already\n'
        assert again.stderr == ''
    assert len(read_results(out)) == 768


def test_error_rows_and_retry_errors_as_in_the_local_engine(audio, cluster, tmp_path):
    """A file that is missing gets an error row and is not tried again; with --retry-errors, once it is there, its row
    is replaced, and an M4A (which soundfile cannot decode) fails again with the same one-line reason."""
    c, _ = cluster
    folder, late, out = tmp_path / 'notes', tmp_path / 'late.flac', tmp_path / 'results.csv'  # CSV partitions
    folder.mkdir()
    clips = sorted((audio / 'day 0').glob('*.flac'))[:2]
    for clip in clips: shutil.copy(clip, folder / clip.name)
    (folder / 'memo.m4a').write_bytes(bytes.fromhex('0000001c667479704d344120000000004d34412069736f6d') + bytes(2000))
    run = lambda *more: analyze(folder, late, '--engine', 'ray', '--address', c.address, '--out', out, *more)
    first = run()
    assert first.returncode == 0, first.stderr
    rows = read_results(out).set_index('path')
    m4a_reason = rows.error[str(folder / 'memo.m4a')]
    assert rows.error[str(late)] == 'no such file' and m4a_reason.startswith('MP4/M4A (AAC or ALAC) audio')
    assert f"{folder / 'memo.m4a'}: {m4a_reason}" in first.stderr.splitlines()
    shutil.copy(clips[0], late)
    assert run().stdout == f'{out}: 0 files analysed, 0 could not be (their rows say why), 4 were there already\n'
    again = run('--retry-errors')
    assert again.returncode == 0, again.stderr
    assert last_line(again.stdout).startswith(f'{out}: 1 files analysed, 1 could not be (their rows say why), 2 were '
                                              'there already;')
    assert f'distilser: {out}: took out 2 rows that ended in an error, to analyse their files again' in again.stderr
    after = read_results(out).set_index('path')
    assert after.index.is_unique and sorted(after.index) == sorted(rows.index)
    assert after.emotion[str(late)] == after.emotion[str(folder / clips[0].name)]  # the same audio
    assert after.error[str(folder / 'memo.m4a')] == m4a_reason
    assert all(f.endswith('.csv') for f in partition_files(out))
