"""How long the `distilser` command takes as a whole process, in the full install (`make setup`: torch, transformers):
`distilser --help`, `distilser analyze --help` and `distilser analyze` on a 5 s clip, this checkout against the last
commit (git HEAD), timed interleaved in one run.

The last commit's files come from `git archive HEAD` into a temporary folder; both versions run with this
checkout's virtual environment, through the same launcher (`python -c "from distilser.cli import main; ..."`), with
PYTHONPATH naming their tree and their tree as the working folder. Writes bench/results/cli_speed.md.

    .venv/bin/python bench/cli_speed.py [--repeats 7]
"""
import argparse, io, os, subprocess, sys, tarfile, tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO/'bench'))
from distilser.int8_speed import cpu_label, median_times  # noqa: E402
from plain_install import five_second_clip  # noqa: E402

HELP_GOAL_SECONDS = 0.3  # issue 27: `distilser --help`, whole process, full install
LAUNCH = 'import sys; from distilser.cli import main; sys.exit(main())'


def last_commit(dest: Path) -> Path:
    "The files of git HEAD, unpacked in `dest` (nothing in the checkout or its .git changes)."
    archive = subprocess.run(['git', 'archive', '--format=tar', 'HEAD'], cwd=REPO, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar: tar.extractall(dest, filter='data')
    return dest


def command(tree: Path, *args) -> callable:
    "A no-argument callable that runs `distilser ARGS` from `tree` as a new process and checks that it succeeded."
    env = {**os.environ, 'PYTHONPATH': str(tree)}
    def run():
        done = subprocess.run([sys.executable, '-c', LAUNCH, *map(str, args)], env=env, cwd=tree, capture_output=True,
                              text=True)
        if done.returncode: raise RuntimeError(f'distilser {" ".join(map(str, args))} ({tree}): {done.stderr[-500:]}')
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=7, help='timed rounds; the median is kept (default 7)')
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = {'HEAD': last_commit(tmp/'head'), 'this checkout': REPO}
        clip = five_second_clip(tmp/'clip.wav')
        cases = {'distilser --help': ['--help'], 'distilser analyze --help': ['analyze', '--help'],
                 'distilser analyze CLIP (5 s)': ['analyze', clip]}
        for tree in trees.values():  # each runs its own code: the module path it imports is its tree's
            where = subprocess.run([sys.executable, '-c', 'import distilser; print(distilser.__file__)'],
                                   env={**os.environ, 'PYTHONPATH': str(tree)}, cwd=tree, capture_output=True,
                                   text=True)
            assert where.stdout.startswith(str(tree)), where.stdout
        calls = {(case, name): command(tree, *args) for case, args in cases.items() for name, tree in trees.items()}
        seconds = median_times(calls, repeats=repeats)
    cpu, load = cpu_label(), os.getloadavg()[0]
    lines = [f'# `distilser` as a whole process: this checkout against HEAD ({date.today()})', '',
             f'CPU: {cpu}; load average {load:.1f} at the end (other sessions share the cores). Full install (torch, transformers: `make setup`), the same Python and virtual environment '
             f'for both; median of {repeats} runs, interleaved (`distilser.int8_speed.median_times`), each a new '
             'process (interpreter start, imports, parsing, the work). "This checkout" is the working tree with every change '
             'not yet committed, to the pipeline and the model too, not only the command line\'s. Written by '
             '`bench/cli_speed.py`.', '',
             '| command | HEAD (s) | this checkout (s) | HEAD / this checkout |', '|---|---:|---:|---:|']
    for case in cases:
        old, new = seconds[(case, 'HEAD')], seconds[(case, 'this checkout')]
        lines.append(f'| `{case}` | {old:.2f} | {new:.2f} | {old / new:.1f}x |')
    new_help = seconds[('distilser --help', 'this checkout')]
    lines += ['', f"`distilser --help`: {new_help:.2f} s, goal <= {HELP_GOAL_SECONDS} s: "
              f"{'met' if new_help <= HELP_GOAL_SECONDS else 'NOT met'}."]
    text = '\n'.join(lines) + '\n'
    (REPO/'bench'/'results'/'cli_speed.md').write_text(text)
    print(text)


if __name__ == '__main__':
    main()
