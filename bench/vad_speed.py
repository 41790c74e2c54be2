"""The VAD in one call per block, against silero's published model run frame by frame, and `distilser analyze` as a
whole process against the code of another commit (`--baseline`, HEAD by default).

    .venv/bin/python bench/vad_speed.py [--minutes 5] [--repeats 5] [--notes 6]

1. Decisions: voice notes of real sentences (the full RAVDESS copy and CREMA-D when present, else the committed
   RAVDESS sample) with pauses of 0.3-3 s between them, each run through silero's published ONNX file one 32 ms frame
   per call (the reference) and through `StreamingVAD` in 16 s blocks. Per 32 ms frame: does speech probability >= 0.5
   agree, and is the frame inside a speech region (`speech_regions`) in both? (target: >= 99 %)
2. VAD speed on a `--minutes` note: the published model frame by frame, and `StreamingVAD` with one thread and with
   every core (as `distilser analyze` runs it on a file), CPU seconds and wall seconds, timed interleaved.
3. Whole process: `distilser analyze NOTE` (the shipped default model) with this checkout and with the code of
   `--baseline` (default HEAD; `git archive` unpacked into a temporary folder, first on PYTHONPATH), interleaved,
   `--repeats` runs each:
   median wall time, real-time factor (target <= 0.002), and the CPU time of the child; the same for
   `python -c "import distilser.batch"` (the import cost alone).
Writes bench/results/vad_speed.md with the CPU's flags and load beside the figures.
"""
import argparse, os, resource, subprocess, sys, tarfile, tempfile, time, io
from datetime import date
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf

from distilser.data import REPO_ROOT, full_ravdess_root, ravdess_manifest, sample_ravdess_root
from distilser.int8_speed import cpu_label
from distilser.pipeline import (SAMPLE_RATE, VAD_CONTEXT, VAD_FRAME, StreamingVAD, make_voice_note, silero_vad_path,
                                speech_regions, stream_audio)

CREMAD = Path('/work/corpora/CREMA-D')


def published_probs(x) -> np.ndarray:
    "silero's published ONNX file, one frame per call with its 64-sample context, the last frame zero-padded."
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    session = ort.InferenceSession(str(silero_vad_path()), so, providers=['CPUExecutionProvider'])
    n = -(-len(x) // VAD_FRAME)
    padded = np.concatenate([np.zeros(VAD_CONTEXT, np.float32), x, np.zeros(n * VAD_FRAME - len(x), np.float32)])
    state, rate, out = np.zeros((2, 1, 128), np.float32), np.array(SAMPLE_RATE, np.int64), np.empty(n, np.float32)
    for i in range(n):
        p, state = session.run(None, {'input': padded[None, i * VAD_FRAME:(i + 1) * VAD_FRAME + VAD_CONTEXT],
                                      'state': state, 'sr': rate})
        out[i] = p[0, 0]
    return out


def block_probs(path) -> np.ndarray:
    "`StreamingVAD` over the file's 16.4 s blocks, as `distilser analyze` runs it."
    vad = StreamingVAD()
    return np.concatenate([vad(b) for b in stream_audio(path)] + [vad.finish()])


def in_regions(probs, n) -> np.ndarray:
    "Per frame: is its middle inside a speech region?"
    mids, inside = np.arange(len(probs)) * VAD_FRAME + VAD_FRAME // 2, np.zeros(len(probs), bool)
    for a, b in speech_regions(probs, n): inside |= (mids >= a) & (mids < b)
    return inside


def sentence_pools() -> dict:
    "Clip lists by corpus: the full RAVDESS (or the committed sample) and CREMA-D when present."
    root = full_ravdess_root() or sample_ravdess_root()
    pools = {'RAVDESS' if root != sample_ravdess_root() else 'RAVDESS sample': ravdess_manifest(root).path.tolist()}
    if (CREMAD / 'AudioWAV').is_dir(): pools['CREMA-D'] = sorted(map(str, (CREMAD / 'AudioWAV').glob('*.wav')))
    return pools


def decisions(work: Path, n_notes: int, seed=0) -> list[dict]:
    "Agreement of the two VADs, per note of 24 random sentences with random pauses."
    rng, rows = np.random.default_rng(seed), []
    for corpus, pool in sentence_pools().items():
        for k in range(n_notes):
            clips = list(rng.choice(pool, 24, replace=False))
            path = work / f'{corpus}_{k}.wav'
            make_voice_note(clips, list(rng.uniform(0.3, 3.0, len(clips) + 1)), path)
            x = sf.read(path, dtype='float32')[0]
            ref, new = published_probs(x), block_probs(path)
            rows.append(dict(corpus=corpus, seconds=len(x) / SAMPLE_RATE, frames=len(ref),
                             threshold=float(np.mean((ref >= 0.5) == (new >= 0.5))),
                             regions=float(np.mean(in_regions(ref, len(x)) == in_regions(new, len(x)))),
                             max_diff=float(np.abs(ref - new).max())))
            print(rows[-1])
    return rows


def note_of(minutes: float, path: Path) -> Path:
    "About `minutes` of the committed RAVDESS sentences with 0.5 s pauses (bench/voice_note_rtf.py's note)."
    if not path.exists():
        clips = ravdess_manifest(sample_ravdess_root()).path.tolist()
        n = int(minutes * 60 / (sf.info(clips[0]).duration + 0.5)) + 1
        make_voice_note([clips[i % len(clips)] for i in range(n)], 0.5, path)
    return path


def timed_child(cmd, env) -> tuple[float, float]:
    "Wall and CPU seconds (user + system) of a child process."
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0: sys.exit(f'{cmd} failed:\n{done.stderr}')
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def interleaved(commands: dict, repeats: int) -> dict:
    "name -> (median wall, median CPU) of each (cmd, env), run in turn `repeats` times after one untimed run each."
    for cmd, env in commands.values(): timed_child(cmd, env)
    runs = {k: [] for k in commands}
    for _ in range(repeats):
        for k, (cmd, env) in commands.items():
            time.sleep(0.2)
            runs[k].append(timed_child(cmd, env))
    return {k: tuple(np.median(np.array(v), axis=0)) for k, v in runs.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--minutes', type=float, default=5.0)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--notes', type=int, default=6, help='notes per corpus for the agreement')
    p.add_argument('--baseline', default='HEAD', help='the commit whose code the whole process is compared with')
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = decisions(tmp, args.notes)
        note = note_of(args.minutes, tmp / f'note_{args.minutes:g}min.flac')
        x = sf.read(note, dtype='float32')[0]
        duration = len(x) / SAMPLE_RATE
        cores = len(os.sched_getaffinity(0))
        def sequence(vad): vad.reset(); [vad(b) for b in stream_audio(note)]; vad.finish()
        one, every = StreamingVAD(num_threads=1), StreamingVAD(num_threads=cores)
        vad_times = {}
        for _ in range(3):  # interleaved: the CPU's moods fall on all
            for name, f in [('published, one frame per call', lambda: published_probs(x)),
                            ('StreamingVAD, one call per 16 s block, 1 thread', lambda: sequence(one)),
                            (f'StreamingVAD, one call per 16 s block, {cores} threads', lambda: sequence(every))]:
                t, c = time.perf_counter(), time.process_time()
                f()
                vad_times.setdefault(name, []).append((time.perf_counter() - t, time.process_time() - c))
        vad_times = {k: tuple(np.median(np.array(v), axis=0)) for k, v in vad_times.items()}

        head = tmp / 'head'
        head.mkdir()
        archive = subprocess.run(['git', 'archive', args.baseline], cwd=REPO_ROOT, capture_output=True,
                                 check=True).stdout
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(head)
        commit = subprocess.run(['git', 'rev-parse', '--short', args.baseline], cwd=REPO_ROOT, capture_output=True,
                                text=True).stdout.strip()
        for tree in (head, REPO_ROOT):  # bytecode, as pip writes it at install (PYTHONDONTWRITEBYTECODE may be set)
            subprocess.run([sys.executable, '-m', 'compileall', '-q', str(tree / 'distilser')], check=True)
        env_new = {**os.environ, 'PYTHONPATH': str(REPO_ROOT)}
        env_old = {**os.environ, 'PYTHONPATH': str(head)}
        run = [sys.executable, '-c', 'import sys; from distilser.cli import main; sys.exit(main())', 'analyze',
               str(note)]
        imp = [sys.executable, '-c', 'import distilser.batch']
        whole = interleaved({'baseline': (run, env_old), 'this checkout': (run, env_new),
                             'import baseline': (imp, env_old), 'import this checkout': (imp, env_new)}, args.repeats)

    load = os.getloadavg()[0]
    lines = ['# VAD speed and decisions, and `distilser analyze` on a voice note', '',
             '## Decisions: the one-call-per-block VAD against silero\'s published model, frame by frame', '',
             '| corpus | notes | audio | 32 ms frames | p >= 0.5 agrees | inside a speech region agrees | '
             'largest probability difference |', '|---|---|---|---|---|---|---|']
    for corpus in dict.fromkeys(r['corpus'] for r in rows):
        rs = [r for r in rows if r['corpus'] == corpus]
        frames = sum(r['frames'] for r in rs)
        lines.append(f"| {corpus} | {len(rs)} | {sum(r['seconds'] for r in rs) / 60:.1f} min | {frames} | "
                     f"{sum(r['threshold'] * r['frames'] for r in rs) / frames:.4%} | "
                     f"{sum(r['regions'] * r['frames'] for r in rs) / frames:.4%} | "
                     f"{max(r['max_diff'] for r in rs):.1e} |")
    lines += ['', 'Each note: 24 random sentences of the corpus with random pauses of 0.3-3 s (seed 0); target >= 99 % '
              'of frames agree.', '', f'## VAD alone on a {duration / 60:.1f}-minute note', '',
              '| VAD | wall | CPU | real-time factor (wall) |', '|---|---|---|---|']
    lines += [f'| {k} | {w:.3f} s | {c:.3f} s | {w / duration:.5f} |' for k, (w, c) in vad_times.items()]
    (w_old, c_old), (w_new, c_new) = whole['baseline'], whole['this checkout']
    (w_pub, _), (w_seq, _), (w_all, _) = vad_times.values()
    lines += ['', f'One call per block is {w_pub / w_seq:.1f}x faster (wall) on one thread, {w_pub / w_all:.1f}x on '
              f'{cores}; median of 3 interleaved runs.', '',
              f'## Whole process: `distilser analyze` on the {duration / 60:.1f}-minute note', '',
              '| code | wall (median) | real-time factor | CPU of the process | `import distilser.batch` wall / CPU |',
              '|---|---|---|---|---|',
              f'| {args.baseline} ({commit}) | {w_old:.2f} s | {w_old / duration:.4f} | {c_old:.2f} s | '
              f'{whole["import baseline"][0]:.2f} s / {whole["import baseline"][1]:.2f} s |',
              f'| this checkout | {w_new:.2f} s | {w_new / duration:.4f} | {c_new:.2f} s | '
              f'{whole["import this checkout"][0]:.2f} s / {whole["import this checkout"][1]:.2f} s |', '',
              f'This checkout is {w_old / w_new:.1f}x faster in wall time and {c_old / c_new:.1f}x in CPU time '
              f'(target: real-time factor <= 0.002, {0.002 * duration:.2f} s for this note). The model is the shipped '
              'default (models/cremad-melcnn-v2, trained here on CREMA-D); the note is the committed RAVDESS sample\'s '
              f'sentences with 0.5 s pauses. {args.repeats} runs of each, interleaved; the CPU column is user + system '
              'time of the child, which a shared machine\'s load inflates less than wall time.', '',
              f'CPU: {cpu_label()}, load average {load:.1f}; {date.today()}, '
              f'`.venv/bin/python bench/vad_speed.py --minutes {args.minutes:g} --repeats {args.repeats} '
              f'--notes {args.notes} --baseline {args.baseline}`.', '']
    text = '\n'.join(lines)
    print(text)
    (REPO_ROOT / 'bench' / 'results' / 'vad_speed.md').write_text(text)


if __name__ == '__main__': main()
