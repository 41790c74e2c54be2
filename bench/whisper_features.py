"""Whisper's frozen encoder run once over every corpus: the per-layer statistics the heads of chapter 05b train on,
cached under --cache (never in the repository), one file per corpus and contract (backbone, window, peak level).
The five corpora that may train, RAVDESS (test-only) and TurEV-DB (never trained on: calibration reports it). Files
already there are kept; one corpus at a time, the fp32 torch encoder (the one the ONNX file runs), batched.

    nice -n 5 .venv/bin/python bench/whisper_features.py --corpora /work/corpora --ravdess ../shared/data/ravdess \\
        --cache /work/cache
"""
import argparse, json, time
from pathlib import Path

import torch

from distilser.data import load_corpora
from distilser.whisper import WHISPER_WINDOW, load_whisper_encoder
from distilser.whisper_heads import cache_corpus, cache_file, load_cached

from corpora import FOLDERS  # bench/corpora.py: where each corpus lies below --corpora

CORPORA = ["urdu", "emovo", "emodb", "ased", "cremad", "ravdess", "turev"]  # smallest first; TurEV: reported only


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", type=Path, required=True)
    ap.add_argument("--ravdess", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--backbone", default="whisper-base")
    ap.add_argument("--window-seconds", type=float, default=WHISPER_WINDOW)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    ap.add_argument("--only", nargs="*", default=CORPORA)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    encoder = load_whisper_encoder(args.backbone, args.window_seconds)
    for corpus in [c for c in CORPORA if c in args.only]:
        out = cache_file(corpus, args.backbone, args.window_seconds, args.cache)
        if out.is_file(): print(corpus, "kept", out); continue
        root = args.ravdess if corpus == "ravdess" else args.corpora/FOLDERS[corpus]
        t0 = time.time()
        cache_corpus(load_corpora({corpus: root}), out, args.backbone, args.window_seconds, encoder=encoder,
                     progress=False)
        rows, _, meta = load_cached(out)
        print(corpus, len(rows), "clips", f"{time.time() - t0:.0f} s", "skipped", len(meta["skipped"]), flush=True)


if __name__ == "__main__":
    main()
