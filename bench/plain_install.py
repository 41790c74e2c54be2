"""The plain install (`pip install distilser`, no extras): its size, and how long `distilser analyze` takes on a 5 s
clip.

Builds the wheel from a copy of this checkout (the files git would commit), installs it without extras into a fresh
virtual environment outside the checkout, measures its site-packages, times `distilser analyze CLIP` (the whole
command: interpreter start, imports, the default model, the VAD, the answer) and `import distilser.pipeline`, and
writes bench/results/plain_install.md. tests/test_install.py builds the same environment with these functions.

    .venv/bin/python bench/plain_install.py
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time
from datetime import date
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
PLAIN_INSTALL_LIMIT_MB = 300  # issue 13: site-packages of `pip install distilser` without extras
ANALYZE_GOAL_SECONDS = 1.0    # issue 13: `distilser analyze` on a 5 s clip, on this machine


def checkout_copy(dest: Path) -> Path:
    "The files git would commit (tracked and untracked, not ignored), copied with their symlinks: what a clone holds."
    names = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split('\0')
    for name in filter(None, names):
        src = REPO/name
        if not src.exists() and not src.is_symlink(): continue  # deleted in the working tree, not yet committed
        (dest/name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest/name, follow_symlinks=False)
    return dest


def plain_install(root: Path) -> dict:
    "Build the wheel from a copy of the checkout and install it, without extras, in `root`/venv."
    src = checkout_copy(root/'src')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', root/'dist',
                    src], check=True, capture_output=True)
    wheel = next((root/'dist').glob('distilser-*.whl'))
    subprocess.run([sys.executable, '-m', 'venv', root/'venv'], check=True)
    pip = subprocess.run([root/'venv'/'bin'/'pip', 'install', '-q', '--disable-pip-version-check', wheel],
                         capture_output=True, text=True)
    if pip.returncode: raise RuntimeError(f'pip install {wheel.name} failed:\n{pip.stderr[-2000:]}')
    return dict(wheel=wheel, venv=root/'venv', bin=root/'venv'/'bin')


def install_model_package(root: Path, name: str = 'whisper-base-five-corpora-v1') -> Path:
    """Build the wheel of a model that ships as a package of its own (its folder's pyproject.toml) from the checkout
    copy in `root`/src, and install it into `root`/venv, as `pip install distilser-...` would. Its wheel's path."""
    import tomllib
    folder = root/'src'/'models'/name
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w',
                    root/'dist', folder], check=True, capture_output=True)
    project = tomllib.loads((folder/'pyproject.toml').read_text())['project']['name']
    wheel = next((root/'dist').glob(f"{project.replace('-', '_')}-*.whl"))
    pip = subprocess.run([root/'venv'/'bin'/'pip', 'install', '-q', '--disable-pip-version-check', wheel],
                         capture_output=True, text=True)
    if pip.returncode: raise RuntimeError(f'pip install {wheel.name} failed:\n{pip.stderr[-2000:]}')
    return wheel


def site_packages_mb(venv: Path) -> float:
    "Megabytes of files in the environment's site-packages."
    return sum(f.stat().st_size for f in next(venv.glob('lib/python*/site-packages')).rglob('*') if f.is_file()) / 1e6


def five_second_clip(path: Path) -> Path:
    "Two RAVDESS clips from the repository end to end, cut to 5 s, at 16 kHz."
    sys.path.insert(0, str(REPO))
    from distilser.data import ravdess_manifest, sample_ravdess_root
    from distilser.preprocessing import SAMPLE_RATE, load_audio
    clips = ravdess_manifest(sample_ravdess_root()).path[:2]
    sf.write(path, np.concatenate([load_audio(p) for p in clips])[:5 * SAMPLE_RATE], SAMPLE_RATE)
    return path


def timed(command: list) -> tuple[float, str]:
    "Wall-clock seconds of `command` and what it printed; fails loudly if it fails."
    start = time.perf_counter()
    r = subprocess.run(command, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    if r.returncode: raise RuntimeError(f'{command} failed: {r.stderr[-1000:]}')
    return seconds, r.stdout


def main():
    sys.path.insert(0, str(REPO))
    from distilser.int8_speed import cpu_label
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        env = plain_install(Path(d))
        install_s = time.perf_counter() - start
        size = site_packages_mb(env['venv'])
        clip = five_second_clip(Path(d)/'clip.wav')
        runs = [timed([env['bin']/'distilser', 'analyze', clip, '--json']) for _ in range(5)]
        imports = [timed([env['bin']/'python', '-c', 'import distilser.pipeline'])[0] for _ in range(5)]
        result = json.loads(runs[0][1])[0]
        listing = subprocess.run([env['bin']/'pip', 'list', '--format=freeze', '--disable-pip-version-check'],
                                 capture_output=True, text=True).stdout.split()
    analyze_s = statistics.median(s for s, _ in runs)
    rows = [('site-packages of the plain install', f'{size:.0f} MB', f'<= {PLAIN_INSTALL_LIMIT_MB} MB',
             size <= PLAIN_INSTALL_LIMIT_MB),
            ('`distilser analyze` on a 5 s clip, whole command (median of 5)', f'{analyze_s:.2f} s',
             f'<= {ANALYZE_GOAL_SECONDS:g} s', analyze_s <= ANALYZE_GOAL_SECONDS),
            ('`import distilser.pipeline` in a new interpreter (median of 5)', f'{statistics.median(imports):.2f} s',
             '', None)]
    table = '\n'.join(['| measure | value | target | |', '|---|---|---|---|'] +
                      [f'| {m} | {v} | {t} | {"" if ok is None else "met" if ok else "**missed**"} |'
                       for m, v, t, ok in rows])
    text = (f"# The plain install: `pip install distilser`, no extras\n\n{table}\n\n"
            f"The clip's answer: {result['emotion']} "
            f"({', '.join(f'{l} {p:.0%}' for l, p in result['probabilities'].items())}), from the default model.\n\n"
            f"Installed packages: {', '.join(listing)}.\n\n"
            f"Wheel built from a copy of the checkout and installed with pip into a fresh venv outside it "
            f"({install_s:.0f} s, packages from the registry or pip's cache). CPU: {cpu_label()}, load average "
            f"{os.getloadavg()[0]:.1f}; {date.today()}, `.venv/bin/python bench/plain_install.py`.\n")
    (REPO/'bench'/'results').mkdir(exist_ok=True)
    (REPO/'bench'/'results'/'plain_install.md').write_text(text)
    print(text)


if __name__ == '__main__':
    main()
