"""Which small model learns emotion from scratch on two CPU cores? Measured on CREMA-D validation actors only.

Fold 1 of the speaker-independent CREMA-D cross-validation (actors dealt into five buckets: bucket 1 is the fold's
test set and is not used here, bucket 2 validates, buckets 3-5 train). Each candidate is trained with the default
model's recipe (focal loss, balanced class weights, label smoothing, augmentation, AdamW at 1e-3 with a cosine
schedule, batch 16, 4 s windows, never padded) for the same number of epochs, every layer trained, once with each
seed of --seeds (a candidate that stays at chance with one seed may learn with another), and the best validation UA
and the wall time are reported. RAVDESS, the cross-corpus test, is never used.

    nice .venv/bin/python bench/architecture_choice.py --cremad /path/to/CREMA-D     # about 25 minutes on 2 cores
"""
import argparse, os, tempfile, time, warnings
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

from distilser.data import cremad_manifest
from distilser.default_model import DEFAULT_RECIPE
from distilser.int8_speed import cpu_label
from distilser.loso import make_folds, split_fold, train_model
from distilser.model import OFFLINE_MELCNN, OFFLINE_TINY, RandomWeightsWarning, count_parameters

LEARNING_CHECK_LEARNER = dict(  # bench/learning_check.py's narrow DistilHuBERT layout
    hidden_size=64, num_attention_heads=2, intermediate_size=128, classifier_proj_size=64, conv_dim=(64,) * 4,
    conv_kernel=(20, 8, 4, 4), conv_stride=(10, 4, 4, 2), conv_bias=True, feat_extract_norm="layer",
    num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4)
CANDIDATES = {  # name: (backbone, model_overrides)
    "log-mel CNN, 16-32-64-128 channels (offline:melcnn)": (OFFLINE_MELCNN, None),
    "log-mel CNN, 16-32-64-128 channels, per-clip mean removal": (OFFLINE_MELCNN, dict(utterance_cmn=True)),
    "DistilHuBERT layout, narrow (64 wide, 4 conv + 2 transformer layers)": (OFFLINE_TINY, LEARNING_CHECK_LEARNER),
}
RESULTS = Path(__file__).parent/"results"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cremad", required=True, help="CREMA-D root")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds of each candidate (default 0 1)")
    args = p.parse_args(argv)
    args.load = os.getloadavg()[0]
    warnings.simplefilter("ignore", RandomWeightsWarning)  # every candidate starts from random weights, by design
    manifest = cremad_manifest(args.cremad)
    fold = make_folds(manifest.group, 5)[0]
    train, val, _ = split_fold(manifest, fold)
    rows = []
    for seed in args.seeds:
        for name, (backbone, overrides) in CANDIDATES.items():
            start = time.time()
            config = replace(DEFAULT_RECIPE, backbone=backbone, epochs=args.epochs, patience=args.epochs,
                             train_encoder=True, seed=seed)  # every layer trained, no early stop
            with tempfile.TemporaryDirectory() as d:
                trainer, metrics = train_model(train, val, d, config, model_overrides=overrides, progress=False)
            history = [h["eval_ua"] for h in trainer.state.log_history if "eval_ua" in h]
            rows.append(dict(model=name, seed=seed, parameters=count_parameters(trainer.model),
                             best_validation_ua=metrics["ua"], best_epoch=metrics["best_epoch"],
                             ua_after_1_epoch=history[0], minutes=(time.time() - start) / 60))
            print(rows[-1], flush=True)
            write_table(rows, train, val, fold, args)  # after each training: a stopped run keeps what it measured
    print(pd.DataFrame(rows).set_index(["model", "seed"]).round(3).to_string())


def write_table(rows, train, val, fold, args):
    "bench/results/architecture_choice.md with the candidates measured so far."
    table = pd.DataFrame(rows).sort_values(["model", "seed"], key=lambda c: c.map(list(CANDIDATES).index)
                                           if c.name == "model" else c).set_index("model")
    missing = len(CANDIDATES) * len(args.seeds) - len(rows)
    note = (("**incomplete: " + str(missing) + " training(s) not measured yet.** ") if missing else "") + (
            f"CREMA-D fold 1: {len(train)} training clips ({len(fold['train'])} actors), {len(val)} validation "
            f"clips ({len(fold['validation'])} actors); {args.epochs} epochs each, every layer trained, lr 1e-3, "
            f"4 s windows; best validation UA over the epochs (chance 0.25). Random initial weights trained on "
            f"CREMA-D by this script; RAVDESS never used. Minutes: wall time of each training, one after the other. "
            f"CPU: {cpu_label()}; load average {args.load:.1f} at the start; {date.today()}; "
            f"`nice .venv/bin/python bench/architecture_choice.py --cremad CREMA-D`.")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/"architecture_choice.md").write_text("# Architecture choice on CREMA-D validation actors\n\n"
        + table.to_markdown(floatfmt=("", ".0f", ",.0f", ".3f", ".0f", ".3f", ".1f")) + "\n\n" + note + "\n")


if __name__ == "__main__":
    main()
