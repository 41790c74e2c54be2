"""Real-data learning check (not a timed test): does the LOSO training loop learn emotion from scratch?

Speaker-independent five-fold cross-validation on the full RAVDESS copy (24 actors, 672 four-class clips; actors
dealt into five folds, each fold validating on the next) with an *offline* configuration: random initial weights,
since no pretrained DistilHuBERT can be downloaded here. Prints UA per fold and the mean. Chance is UA 0.25.
Every number printed is of a model trained from random initial weights (offline configuration), not a result of the
method: it shows that data, loss, Trainer and metrics fit together well enough for a small model to learn, nothing
more.

A random HuBERT with a frozen convolutional encoder cannot learn (its features are random projections), and the full
DistilHuBERT is too slow to train from scratch on a shared CPU. The learner below keeps the HuBERT architecture
(convolutional feature encoder, transformer, masked mean pooling head) but with a 4-layer encoder of 64 channels
(kernels 20, 8, 4, 4, strides 10, 4, 4, 2: still one frame per 20 ms), layer normalisation in every convolution,
a 2-layer transformer of width 64, everything trained (encoder unfrozen), learning rate 1e-3, 10 epochs, 3-second
windows (RAVDESS clips last about 3.5 s, less after trimming silence) and no augmentation (so clips are decoded once
and cached).

    nice -n 10 .venv/bin/python bench/learning_check.py --out runs/learning_check

Writes bench/results/learning_check.md (a fold already in --out is kept, not retrained: use a new --out to time it).
"""
import argparse, json, os, sys, time, warnings
from datetime import date
from pathlib import Path

from distilser.data import full_ravdess_root, ravdess_manifest
from distilser.core import FROM_SCRATCH_NOTE
from distilser.data import REPO_ROOT
from distilser.int8_speed import cpu_label
from distilser.loso import TrainingConfig, run_loso
from distilser.model import OFFLINE_TINY, RandomWeightsWarning

LEARNER = dict(hidden_size=64, num_attention_heads=2, intermediate_size=128, classifier_proj_size=64,
               conv_dim=(64,) * 4, conv_kernel=(20, 8, 4, 4), conv_stride=(10, 4, 4, 2), conv_bias=True,
               feat_extract_norm="layer", num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ravdess", default=None, help="RAVDESS root (default: the full copy in ../shared/data/ravdess)")
    p.add_argument("--out", default="runs/learning_check")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--window-seconds", type=float, default=3.0)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    root = args.ravdess or full_ravdess_root()
    if root is None: raise SystemExit("no full RAVDESS copy: pass --ravdess ROOT or set DISTILSER_RAVDESS")
    manifest = ravdess_manifest(root)
    warnings.simplefilter("ignore", RandomWeightsWarning)  # said once, below, for every number
    start, load = time.time(), os.getloadavg()[0]
    config = TrainingConfig(backbone=OFFLINE_TINY, epochs=args.epochs, lr=args.lr, window_seconds=args.window_seconds,
                            patience=args.patience, seed=args.seed, augment=False, train_encoder=True)
    table = run_loso(manifest, args.out, n_folds=5, config=config, model_overrides=LEARNER, progress=False)
    minutes = (time.time() - start) / 60
    print(f"RAVDESS five-fold speaker-independent learning check, {len(manifest)} clips; {FROM_SCRATCH_NOTE}")
    print(table[["wa", "ua", "macro_f1"]].round(3).to_string())
    print(f"mean UA {table.loc['mean', 'ua']:.3f} (chance 0.25); {minutes:.1f} min for the folds run now")
    Path(args.out, "learning_check.json").write_text(json.dumps(
        dict(ua_per_fold=table["ua"].iloc[:-2].round(4).tolist(), mean_ua=round(table.loc["mean", "ua"], 4),
             minutes=round(minutes, 1), settings=vars(args), learner=LEARNER, note=FROM_SCRATCH_NOTE), indent=2))
    sizes = json.loads(Path(args.out, "fold_1", "config.json").read_text())["sizes"]
    table_md = Path(args.out, "summary.md").read_text().split("\n\n", 2)[-1]  # the summary without its title
    note = (f"{len(manifest)} clips, five actor folds (fold 1: train {sizes['train']}, validate {sizes['validation']}, "
            f"test {sizes['test']} clips), a narrow HuBERT-layout model trained end to end from random weights "
            f"(encoder unfrozen, lr {args.lr:g}, {args.epochs} epochs, {args.window_seconds:g} s windows, no "
            f"augmentation). Chance UA is 0.25. It shows that the training loop learns from real audio. "
            f"CPU: {cpu_label()}; load average {load:.1f} at the start; {date.today()}; {minutes:.1f} min for the folds "
            f"trained by this run; `nice -n 10 .venv/bin/python bench/learning_check.py {' '.join(sys.argv[1:])}`.")
    md = "\n\n".join(["# Learning check: speaker-independent five folds on the full RAVDESS copy",
                       f"**{FROM_SCRATCH_NOTE}**", table_md, note]) + "\n"
    (REPO_ROOT/"bench"/"results"/"learning_check.md").write_text(md)

if __name__ == "__main__":
    main()
