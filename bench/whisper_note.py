"""A 5-minute voice note as a whole process: `distilser analyze NOTE --json` with the default model (Whisper base's
frozen encoder, int8) against the CREMA-D CNN (`--model cremad-melcnn-v2`), at 1 and 2 ONNX Runtime threads, each
run a new process (interpreter start, imports, the model's loading, the VAD over the whole note, every window),
interleaved round by round; the median wall time and the real-time factor (seconds per second of audio). Memory is
bench/voice_note_rtf.py's and bench/peak_memory.py's to measure. The note is voice_note_rtf.py's: RAVDESS sentences of the
committed subset, 0.5 s apart. Writes bench/results/whisper_note.md with the CPU's flags and the load.

    .venv/bin/python bench/whisper_note.py [--minutes 5] [--repeats 3]
"""
import argparse, os, statistics, subprocess, tempfile, time
from datetime import date
from pathlib import Path

import soundfile as sf

from distilser.data import REPO_ROOT
from distilser.export import DEFAULT_MODEL
from distilser.int8_speed import cpu_label

from voice_note_rtf import build_note

MODELS = {DEFAULT_MODEL: [], "cremad-melcnn-v2": ["--model", "cremad-melcnn-v2"]}
DISTILSER = REPO_ROOT/".venv"/"bin"/"distilser"


def run_once(note: Path, model_args: list, threads: int) -> float:
    "Wall seconds of one `distilser analyze` process."
    t = time.perf_counter()
    r = subprocess.run([DISTILSER, "analyze", note, "--json", "--threads", str(threads), *model_args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode: raise SystemExit(f"distilser analyze failed: {r.stderr}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        note = build_note(Path(d)/"note.flac", args.minutes)
        audio = sf.info(note).duration
        runs = {(m, t): [] for m in MODELS for t in (1, 2)}
        for r in range(args.repeats):
            for (m, t), out in runs.items():
                out.append(run_once(note, MODELS[m], t))
            print(f"round {r + 1}/{args.repeats}", {k: round(v[-1], 1) for k, v in runs.items()}, flush=True)
    median = {k: statistics.median(v) for k, v in runs.items()}
    rows = [f"| {m} | {t} | {s:.1f} | {s / audio:.3f} |" for (m, t), s in median.items()]
    ratio = {t: median[(DEFAULT_MODEL, t)] / median[("cremad-melcnn-v2", t)] for t in (1, 2)}
    text = "\n".join([
        f"# A {audio / 60:.1f}-minute voice note as a whole process: the default model against the CNN", "",
        f"`distilser analyze NOTE --json --threads N`, each run a new process (start, imports, loading the model, the "
        f"VAD over {audio:.0f} s, every window), interleaved, median of {args.repeats} rounds. CPU: {cpu_label()}; load "
        f"average {os.getloadavg()[0]:.1f} at the end; {date.today()}. Written by `bench/whisper_note.py`.", "",
        "| model | threads | seconds | real-time factor |", "|---|---:|---:|---:|", *rows, "",
        f"The default model's whole process takes {ratio[1]:.1f}x the CNN's at 1 thread and {ratio[2]:.1f}x at 2.", ""])
    (REPO_ROOT/"bench"/"results"/"whisper_note.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
