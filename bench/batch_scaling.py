"""Files per second of the per-file function of `distilser analyze` (`distilser.batch.analyze_row`) over 1,000 files:
in one process, in two local worker processes, and on a local Ray cluster (`ray.data` `map_batches`).

    .venv/bin/python bench/batch_scaling.py [--files 1000] [--work DIR]

The files are made in a temporary folder from the real clips that ship with the repository (136 RAVDESS, 120
CREMA-D), cycled, each round in another form: the FLAC as it is, 16-bit WAV, OGG/Vorbis, and a quieter 48 kHz FLAC
(which the pipeline resamples). Every run uses distilser's default model and one ONNX Runtime thread per process
(plus one run in a single process with ONNX Runtime's own choice of threads), and must give the same emotion for every
file. Wall time counts from the first file handed out to the last row back, worker start included; for Ray it leaves
out `ray.init` (the cluster's start, printed apart). CPU time is that of every process that analysed files (for Ray,
measured inside its tasks: Ray's own services are not in it); unlike wall time, it hardly depends on what else runs.
Ray comes from `pip install "ray[data]"`; without it, its row says so and is skipped. Writes
bench/results/batch_scaling.md. The times depend on the machine and on whatever else runs on it: the table says which
CPU and what the load was.
"""
import argparse, datetime, os, platform, shutil, sys, tempfile, time
from pathlib import Path

import soundfile as sf
import soxr

from distilser.batch import analyze_batch, analyze_row, available_cores, fan_out
from distilser.data import REPO_ROOT, sample_cremad_root, sample_ravdess_root
from distilser.int8_speed import cpu_label

RESULTS = REPO_ROOT / 'bench' / 'results' / 'batch_scaling.md'
FORMS = ['FLAC as shipped', '16-bit WAV', 'OGG/Vorbis', 'quieter 48 kHz FLAC']

def make_files(folder: Path, n: int) -> list[Path]:
    "`n` audio files in `folder`: the repository's clips, cycled, each round in the next of `FORMS`."
    clips = sorted(sample_ravdess_root().rglob('*.flac')) + sorted((sample_cremad_root() / 'AudioWAV').glob('*.flac'))
    files = []
    for i in range(n):
        clip, form = clips[i % len(clips)], (i // len(clips)) % len(FORMS)
        out = folder / f'{i:04d} {clip.stem}'
        if form == 0: files.append(Path(shutil.copy(clip, out.with_suffix('.flac')))); continue
        x, sr = sf.read(clip, dtype='float32')
        if form == 1: sf.write(out.with_suffix('.wav'), x, sr, subtype='PCM_16'); files.append(out.with_suffix('.wav'))
        if form == 2:
            sf.write(out.with_suffix('.ogg'), x, sr, format='OGG', subtype='VORBIS')
            files.append(out.with_suffix('.ogg'))
        if form == 3:
            sf.write(out.with_suffix('.flac'), 0.5 * soxr.resample(x, sr, 48000), 48000, subtype='PCM_16')
            files.append(out.with_suffix('.flac'))
    return files

def cpu_seconds() -> float:
    "CPU time of this process and of its children that have ended."
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

def local(files, workers: int, threads) -> tuple[list[dict], float, float]:
    "The rows of `files` through `fan_out` (what `distilser analyze --workers N` runs), wall time and CPU time."
    start, cpu = time.perf_counter(), cpu_seconds()
    rows = list(fan_out(analyze_row, files, workers, threads=threads))  # returns once the workers have ended
    return rows, time.perf_counter() - start, cpu_seconds() - cpu

def timed_batch(batch, **options):
    "`analyze_batch` with the CPU time of the Ray worker spent on each row (Ray pickles this function by value)."
    start = time.process_time()
    rows = analyze_batch(batch, **options)
    return rows.assign(cpu_seconds=(time.process_time() - start) / len(rows))

def with_ray(files, cpus: int) -> tuple[list[dict], float, float, float]:
    """The rows of `files` through Ray Data's `map_batches` on a local cluster of `cpus` CPUs; wall, CPU and ray.init
    time."""
    os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')  # no reports sent anywhere
    import ray
    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20,
             logging_level='WARNING')
    init = time.perf_counter() - start
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        start = time.perf_counter()
        ds = ray.data.from_items([{'path': str(f)} for f in files])
        rows = ds.map_batches(timed_batch, batch_size=25, batch_format='pandas', num_cpus=1,
                              fn_kwargs=dict(threads=1)).to_pandas()
        seconds = time.perf_counter() - start
    finally: ray.shutdown()
    order = {str(f): i for i, f in enumerate(files)}  # Ray keeps the order of blocks; sort anyway to compare
    return sorted(rows.to_dict('records'), key=lambda r: order[r['path']]), seconds, rows.cpu_seconds.sum(), init

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--files', type=int, default=1000)
    p.add_argument('--work', type=Path, default=None, help='where to make the files (default: a temporary folder)')
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix='batch_scaling_')) if args.work is None else args.work
    work.mkdir(parents=True, exist_ok=True)
    files = make_files(work, args.files)
    load_before = os.getloadavg()
    print(f'{len(files)} files in {work}; CPU: {cpu_label()}; load average {load_before[0]:.2f}', flush=True)
    runs, reference = [], None
    for how, workers, threads in [('this process', 1, 1), ('this process', 1, None),
                                  ('local processes (fan_out)', 2, 1)]:
        load = os.getloadavg()[0]
        rows, seconds, cpu = local(files, workers, threads)
        runs.append((how, workers, threads or "ONNX Runtime's own", rows, seconds, cpu, f'load {load:.2f} at start'))
        print(f'{how}, {workers} process(es), threads {threads}: {len(files) / seconds:.1f} files/s', flush=True)
    try:
        import ray, ray.data  # noqa: F401
    except ImportError as e:
        runs.append(('Ray Data map_batches, local cluster', 2, 1, None, None, None,
                     f'skipped: ray cannot be imported ({e})'))
        print(runs[-1][-1])
    else:
        load = os.getloadavg()[0]
        rows, seconds, cpu, init = with_ray(files, 2)
        runs.append(('Ray Data map_batches, local cluster', 2, 1, rows, seconds, cpu,
                     f'load {load:.2f} at start; ray {ray.__version__}; ray.init {init:.1f} s, not counted'))
        print(f'Ray, 2 CPUs: {len(files) / seconds:.1f} files/s ({runs[-1][-1]})', flush=True)
    load_after = os.getloadavg()
    reference = [r['emotion'] for r in runs[0][3]]
    errors = sum(r['error'] is not None for r in runs[0][3])
    same = all(run[3] is None or [r['emotion'] for r in run[3]] == reference for run in runs)
    base = len(files) / runs[0][4]
    lines = ['# Batch analysis: files per second, one process against two and a local Ray cluster', '',
             '| how | processes | ONNX Runtime threads each | wall time | files/s | vs one process | CPU time per file '
             '| files/s with a free core per process (estimate) | note |',
             '|---|---|---|---|---|---|---|---|---|']
    for how, workers, threads, rows, seconds, cpu, note in runs:
        if rows is None: lines.append(f'| {how} | {workers} | {threads} | | | | | | {note} |'); continue
        rate = len(files) / seconds
        lines.append(f'| {how} | {workers} | {threads} | {seconds:.1f} s | {rate:.1f} | {rate / base:.2f}x | '
                     f"{1000 * cpu / len(files):.1f} ms | "
                     f"{f'{workers * len(files) / cpu:.0f}' if threads == 1 else ''} | {note} |")
    lines += ['', f"{len(files)} files made from the repository's RAVDESS and CREMA-D clips ({', '.join(FORMS)}; "
              f"{errors} could not be analysed), distilser's default model, `distilser.batch.analyze_row` per file. "
              f"Every run gave the same emotion for every file: {'yes' if same else 'NO'}. Wall time includes starting "
              f"the worker processes. CPU: {cpu_label()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} "
              f"after. The machine is shared: with other work on its cores, the wall times (and the parallel rows "
              f"most) are slower than on a quiet machine. The estimate column is N processes / (CPU time per file): "
              f"what N processes would give if each had a core to itself and nothing else ran; it is not measured. "
              f"Python {platform.python_version()}, {datetime.date.today()}, from "
              f"`.venv/bin/python bench/batch_scaling.py --files {args.files}`."]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    if args.work is None: shutil.rmtree(work, ignore_errors=True)
    if not same: sys.exit('the runs disagree on some emotions: see above')

if __name__ == '__main__': main()
