"""Files per second and CPU time per file of `distilser analyze`'s two engines over the same files: one process, local
worker processes (`fan_out`, `--workers 2`), and Ray Data (`--engine ray`: `ray_rows` and `write_partitions`) on a
cluster of one node with 2 CPUs and of two nodes with 1 CPU each, the same CPUs in all; interleaved, round by round.

    .venv/bin/python bench/batch_scaling.py [--files 1000] [--rounds 2] [--work DIR]

The files are made in a temporary folder from the real clips that ship with the repository (136 RAVDESS, 120
CREMA-D), cycled, each round of them in another form: the FLAC as it is, 16-bit WAV, OGG/Vorbis, and a quieter 48 kHz
FLAC (which the pipeline resamples). Every run uses distilser's default model and one ONNX Runtime thread per process,
and must give the same emotion for every file. Each Ray cluster is started for its run on this machine
(`ray.cluster_utils.Cluster`, as tests/test_ray_cluster.py does: nodes on the loopback address, 100 MB object store
each) and stopped after it; its start and the driver's connection are timed apart, not in the run. Wall time counts
from the first file handed out to the last row written (Ray's: its partitions on disk), worker or actor start
included. CPU time is that of every process of the run: this one and its worker processes for the local engine; for
Ray, this process (the driver and writer) and every process of the cluster (GCS, raylets, the actors, Ray's agents),
read from /proc before and after, so Ray's own services are in it. Ray comes from the ray extra
(`pip install -e ".[ray]"`). Writes bench/results/batch_scaling.md; the timings depend on the machine and on whatever
else runs on it: the table says which CPU, its flags, and the load.
"""
import argparse, datetime, os, platform, shutil, statistics, sys, tempfile, time
from pathlib import Path

import soundfile as sf
import soxr

from distilser.batch import analyze_row, fan_out, ray_rows, read_results, write_partitions
from distilser.data import REPO_ROOT, sample_cremad_root, sample_ravdess_root
from distilser.int8_speed import cpu_label

RESULTS = REPO_ROOT / 'bench' / 'results' / 'batch_scaling.md'
FORMS = ['FLAC as shipped', '16-bit WAV', 'OGG/Vorbis', 'quieter 48 kHz FLAC']
STORE = 100 * 2**20  # each node's object store: a batch's rows are a few kB
CLOCK = os.sysconf('SC_CLK_TCK')

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

def _stat(pid: int) -> tuple[int, float]:
    "(parent, CPU seconds of `pid` and of its children that have ended) from /proc/PID/stat."
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / CLOCK  # utime stime cutime cstime

def _role(pid: int, root: int) -> str:
    "What the process `pid` of a run is, from its command line."
    if pid == root: return 'driver'
    try: cmd = Path(f'/proc/{pid}/cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')
    except OSError: return 'other'
    if cmd.startswith('ray::') and not cmd.startswith('ray::MapWorker'):  # ray::IDLE, Ray Data's own actors
        return cmd.split()[0].split('.')[0]  # without the method it is running
    for key, role in [('ray::MapWorker', 'actors'), ('raylet', 'raylets'),
                      ('gcs_server', 'GCS'), ('agent', 'agents'), ('log_monitor', 'agents'), ('monitor', 'agents')]:
        if key in cmd: return role
    return 'other'

def tree_cpu(root: int = os.getpid()) -> dict:
    """CPU seconds of `root` and of every process below it, by process id: (role, seconds), an ended process in its
    parent's once reaped."""
    parents, cpu = {}, {}
    for d in Path('/proc').iterdir():
        if not d.name.isdigit(): continue
        try: parents[int(d.name)], cpu[int(d.name)] = _stat(int(d.name))
        except (OSError, IndexError, ValueError): continue  # ended meanwhile
    below, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for child in [c for c, parent in parents.items() if parent == p and c not in below]:
            below.add(child); todo.append(child)
    return {p: (_role(p, root), cpu.get(p, 0.0)) for p in below}

def cpu_between(before: dict, after: dict) -> dict:
    "CPU seconds spent between two `tree_cpu` readings, by role (a process started meanwhile from zero)."
    spent = {}
    for p, (role, seconds) in after.items():
        spent[role] = spent.get(role, 0.0) + seconds - before.get(p, (role, 0.0))[1]
    return spent

SMALL = 8  # files of the short run before each measured one: what a run costs whatever its size is told apart

def local(files, workers: int) -> dict:
    """The rows of `files` through `fan_out` (what `distilser analyze --workers N` runs), its wall and CPU time; and
    the CPU time of a run of the first `SMALL` files just before it."""
    cpu = tree_cpu()
    list(fan_out(analyze_row, files[:SMALL], workers, threads=1))
    small, cpu, start = sum(cpu_between(cpu, tree_cpu()).values()), tree_cpu(), time.perf_counter()
    rows = list(fan_out(analyze_row, files, workers, threads=1))  # returns once the workers have ended
    return dict(rows=rows, seconds=time.perf_counter() - start, cpu=sum(cpu_between(cpu, tree_cpu()).values()),
                small=small)

def with_ray(files, nodes: int, work: Path) -> dict:
    """The rows of `files` through `--engine ray`'s `ray_rows` and `write_partitions` on a cluster of `nodes` nodes
    with 2 CPUs in all, started here for the run; its wall and CPU time, and the start of the cluster apart."""
    import ray, ray.data
    from ray.cluster_utils import Cluster
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=2 // nodes, object_store_memory=STORE,
                                                                node_ip_address='127.0.0.1', include_dashboard=False))
    try:
        for _ in range(nodes - 1): cluster.add_node(num_cpus=2 // nodes, object_store_memory=STORE,
                                                    node_ip_address='127.0.0.1')
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level='WARNING')
        ray.data.DataContext.get_current().enable_progress_bars = False
        started = time.perf_counter() - start
        out, first = Path(tempfile.mkdtemp(dir=work, prefix='ray-')), Path(tempfile.mkdtemp(dir=work, prefix='ray-'))
        # a first Ray Data run in a driver starts Ray Data's own actors (stats, autoscaling) for all that follow: once
        # per `distilser analyze`, counted apart as the cluster's start is
        cpu = tree_cpu()
        write_partitions(ray_rows([str(f) for f in files[:2]], dict(threads=1), cpus=2), Path(str(first) + '-warm'))
        warm, cpu = sum(cpu_between(cpu, tree_cpu()).values()), tree_cpu()
        write_partitions(ray_rows([str(f) for f in files[:SMALL]], dict(threads=1), cpus=2), first)
        small, cpu, start = sum(cpu_between(cpu, tree_cpu()).values()), tree_cpu(), time.perf_counter()
        write_partitions(ray_rows([str(f) for f in files], dict(threads=1), cpus=2), out)
        seconds, roles = time.perf_counter() - start, cpu_between(cpu, tree_cpu())
        assert len(ray.nodes()) == nodes and ray.cluster_resources()['CPU'] == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
    order = {str(f): i for i, f in enumerate(files)}  # rows come in the order they finish
    rows = sorted(read_results(out).to_dict('records'), key=lambda r: order[r['path']])
    for folder in (out, first, Path(str(first) + '-warm')): shutil.rmtree(folder)
    return dict(rows=rows, seconds=seconds, cpu=sum(roles.values()), roles=roles, started=started, small=small,
                warm=warm)

RUNS = [('one process', 'local', 1), ('local processes (fan_out)', 'local', 2), ('Ray Data, 1 node', 'ray', 1),
        ('Ray Data, 2 nodes', 'ray', 2)]  # (name, engine, processes or nodes); 2 CPUs in all but the first

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--files', type=int, default=1000)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--work', type=Path, default=None, help='where to make the files (default: a temporary folder)')
    args = p.parse_args()
    os.environ['RAY_USAGE_STATS_ENABLED'] = '0'         # no reports sent anywhere
    os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'] = '0'  # the driver stays on the loopback address, as the nodes
    work = Path(tempfile.mkdtemp(prefix='batch_scaling_')) if args.work is None else args.work
    work.mkdir(parents=True, exist_ok=True)
    files = make_files(work, args.files)
    load_before = os.getloadavg()
    print(f'{len(files)} files in {work}; CPU: {cpu_label()}; load average {load_before[0]:.2f}', flush=True)
    results = {name: [] for name, _, _ in RUNS}
    for r in range(args.rounds):
        for name, engine, n in RUNS:  # interleaved: each round runs every engine once, in turn
            load = os.getloadavg()[0]
            run = local(files, n) if engine == 'local' else with_ray(files, n, work)
            results[name].append(run | dict(load=load))
            print(f"round {r + 1}, {name}: {len(files) / run['seconds']:.1f} files/s, "
                  f"{1000 * run['cpu'] / len(files):.1f} ms CPU per file"
                  + (f", cluster start {run['started']:.1f} s apart" if 'started' in run else '')
                  + f' (load {load:.2f} at start)', flush=True)
    load_after = os.getloadavg()
    emotions = lambda run: [e if isinstance(e, str) else None for e in (r['emotion'] for r in run['rows'])]  # NaN: none
    reference = emotions(results['one process'][0])
    same = all(emotions(run) == reference for runs in results.values() for run in runs)
    errors = sum(r['error'] is not None for r in results['one process'][0]['rows'])
    rate = lambda run: len(files) / run['seconds']
    base_rate = statistics.median(rate(run) for run in results['one process'])
    base_cpu = statistics.median(run['cpu'] for run in results['one process'])
    margin = lambda run: (run['cpu'] - run['small']) / (len(files) - SMALL)  # CPU seconds of one more file
    base_margin = statistics.median(margin(run) for run in results['one process'])
    lines = ['# Batch analysis: one process, local processes and Ray Data on one and two nodes', '',
             '| how | CPUs | files/s (each round) | median files/s | vs one process | vs local processes, same round '
             '| CPU time per file (median) | vs one process | CPU per run, whatever its size | CPU per file beyond it '
             '| vs one process | cluster start, apart (each round) | first run of a driver, apart: CPU |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for name, engine, n in RUNS:
        runs = results[name]
        med_rate, med_cpu = statistics.median(map(rate, runs)), statistics.median(run['cpu'] for run in runs)
        med_margin = statistics.median(margin(run) for run in runs)
        fixed = statistics.median(run['small'] - SMALL * margin(run) for run in runs)
        vs_local = ' / '.join(f"{rate(run) / rate(results['local processes (fan_out)'][i]):.2f}x"
                              for i, run in enumerate(runs))
        starts = ' / '.join(f"{run['started']:.1f} s" for run in runs if 'started' in run)
        warms = ' / '.join(f"{run['warm']:.1f} s" for run in runs if 'warm' in run)
        lines.append(f"| {name} | {1 if n == 1 and engine == 'local' else 2} | "
                     f"{' / '.join(f'{rate(run):.1f}' for run in runs)} | {med_rate:.1f} | "
                     f"{med_rate / base_rate:.2f}x | "
                     f"{vs_local if name != 'one process' else ''} | {1000 * med_cpu / len(files):.1f} ms | "
                     f"{med_cpu / base_cpu:.2f}x | {fixed:.2f} s | {1000 * med_margin:.1f} ms | "
                     f"{med_margin / base_margin:.2f}x | {starts} | {warms} |")
    for name, engine, n in RUNS:
        if engine != 'ray': continue
        run = results[name][-1]
        lines += ['', f"Where the CPU time of {name} went (last round, ms per file): " + ', '.join(
            f"{role} {1000 * sec / len(files):.1f}" for role, sec in sorted(run['roles'].items(), key=lambda x: -x[1]))
            + " (an actor or worker that ended before the run did is in its raylet's)."]
    loads = ', '.join(f"{run['load']:.2f}" for runs in results.values() for run in runs)
    lines += ['', f"{len(files)} files made from the repository's RAVDESS and CREMA-D clips ({', '.join(FORMS)}; "
              f"{errors} could not be analysed), distilser's default model, one ONNX Runtime thread per process, "
              f"{args.rounds} rounds, each running the four in the order of the table. Every run gave the same emotion "
              f"for every file: {'yes' if same else 'NO'}. Wall time includes starting the worker processes or the Ray "
              f"actors (each opens the model); a Ray cluster's start and the driver's connection are in a column of "
              f"their own, not in the files/s. CPU time per file counts every process of the run: for Ray, this "
              f"driver and writer and every process of the cluster (GCS, raylets, actors, Ray's agents), so Ray's own "
              f"services are in it. Before each measured run, the same engine ran the first {SMALL} files (on the "
              f"same cluster, with actors of its own, after a first run of 2 files that starts Ray Data's own actors: "
              f"the last column): the CPU of a run whatever its size (processes and actors starting, the model "
              f"opened) and that of each further file are the line through the two measured runs. Ray "
              f"{__import__('ray').__version__}, nodes on the loopback address, one object store of "
              f"{STORE >> 20} MB each. CPU: {cpu_label()}. Load average {load_before[0]:.2f} before, "
              f"{load_after[0]:.2f} after, at the start of each run: {loads}. The machine is shared: with other work "
              f"on its cores, wall times (the parallel rows most) are slower than on a quiet machine, and CPU time per "
              f"file moves less. Python {platform.python_version()}, {datetime.date.today()}, from "
              f"`.venv/bin/python bench/batch_scaling.py --files {args.files} --rounds {args.rounds}`."]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    if args.work is None: shutil.rmtree(work, ignore_errors=True)
    if not same: sys.exit('the runs disagree on some emotions: see above')

if __name__ == '__main__': main()
