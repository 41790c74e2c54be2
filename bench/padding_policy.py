"""What the padding policy costs: a model trained one way and deployed the other, and the latency of a short clip.

distilser never pads (preprocessing chapter). The paper pads every clip to the window with an attention mask. This
script trains the learning check's narrow DistilHuBERT layout twice on RAVDESS actors 01-16 (random initial weights,
lr 1e-3, 10 epochs, 4 s windows, no augmentation): once as distilser does (batches cut to their shortest clip,
validation clip by clip) and once as the paper does (every clip zero-padded to 4 s, with the mask). Each model is
then deployed three ways on actors 17-24: the clip alone (what the exported ONNX model and the pipeline do), padded
with the mask (the paper's evaluation), and padded without a mask (what an ONNX graph without a mask input sees if a
caller pads). Each training is repeated with every seed of --seeds, so that a difference between the policies can be
told from a difference between seeds. Last, the latency of a 2 s clip for the full DistilHuBERT architecture (random
weights) alone and padded to the paper's 8 s window, timed interleaved.

    nice .venv/bin/python bench/padding_policy.py       # about 1 minute per training on 2 cores
"""
import argparse, os, tempfile, time, warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import distilser.loso as loso
from distilser.core import LABEL2ID, compute_metrics
from distilser.data import full_ravdess_root, ravdess_manifest
from distilser.int8_speed import cpu_label, median_times
from distilser.loso import TrainingConfig, train_model
from distilser.model import OFFLINE_DISTILHUBERT, OFFLINE_TINY, RandomWeightsWarning, load_model
from distilser.preprocessing import SAMPLE_RATE, CropCollator, load_clip

LEARNER = dict(hidden_size=64, num_attention_heads=2, intermediate_size=128, classifier_proj_size=64,
               conv_dim=(64,) * 4, conv_kernel=(20, 8, 4, 4), conv_stride=(10, 4, 4, 2), conv_bias=True,
               feat_extract_norm="layer", num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4)
WINDOW = 4.0
RESULTS = Path(__file__).parent/"results"


class PadCollator:
    "The paper's batches: every clip zero-padded to the window, with an attention mask of its real samples."
    def __init__(self, seed=0): pass
    def __call__(self, features):
        n = round(WINDOW * SAMPLE_RATE)
        x, mask = torch.zeros(len(features), n), torch.zeros(len(features), n, dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_values"]); x[i, :k], mask[i, :k] = torch.from_numpy(f["input_values"]), 1
        return dict(input_values=x, attention_mask=mask, labels=torch.tensor([f["labels"] for f in features]))


def logits(model, clips, how):
    "Logits of each clip deployed `how`: alone, padded with the mask, or padded without it."
    n, out = round(WINDOW * SAMPLE_RATE), []
    with torch.inference_mode():
        for c in clips:
            x = torch.from_numpy(c)[None]
            if how != "alone":
                mask = torch.cat([torch.ones(1, len(c), dtype=torch.long),
                                  torch.zeros(1, n - len(c), dtype=torch.long)], 1)
                x = torch.cat([x, torch.zeros(1, n - len(c))], 1)
            out.append(model.eval()(input_values=x, attention_mask=mask if how == "padded, with mask" else None).logits)
    return torch.cat(out).numpy()


def policy_runs(train, val, clips, y, seeds) -> pd.DataFrame:
    "Test UA of each training policy, seed and deployment: one row each."
    rows = []
    for seed in seeds:
        for policy, collator in [("unpadded (distilser)", CropCollator),
                                 ("padded to 4 s with mask (paper)", PadCollator)]:
            loso.CropCollator = collator  # the only difference between the two trainings
            config = TrainingConfig(backbone=OFFLINE_TINY, epochs=10, lr=1e-3, window_seconds=WINDOW,
                                    augment=False, train_encoder=True, seed=seed)
            try:
                with tempfile.TemporaryDirectory() as d:
                    trainer, _ = train_model(train, val, d, config, model_overrides=LEARNER, progress=False)
            finally: loso.CropCollator = CropCollator
            for how in ("alone", "padded, with mask", "padded, no mask"):
                ua = compute_metrics(y, logits(trainer.model, clips, how).argmax(1))["ua"]
                rows.append(dict(trained=policy, seed=seed, deployed=how, test_ua=ua))
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def padding_latency(clips, repeats: int = 5) -> pd.DataFrame:
    "Milliseconds of the full DistilHuBERT architecture on a 2 s clip alone and padded to 8 s, timed interleaved."
    model = load_model(OFFLINE_DISTILHUBERT).eval()
    torch.set_num_threads(2)
    two = torch.from_numpy(np.concatenate(clips)[:2 * SAMPLE_RATE])[None]
    inputs = {"2 s clip alone (distilser)": two,
              "2 s clip padded to the 8 s window (paper)": torch.cat([two, torch.zeros(1, 6 * SAMPLE_RATE)], 1)}
    with torch.inference_mode():
        seconds = median_times({k: (lambda x=x: model(input_values=x)) for k, x in inputs.items()}, repeats)
    first = next(iter(seconds.values()))
    return pd.DataFrame([dict(input=k, ms=1000 * v, ratio=v / first) for k, v in seconds.items()])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                    help="seeds of the trainings (default 0-4)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", RandomWeightsWarning)  # said in the table's note
    t0, load, label = time.time(), os.getloadavg()[0], cpu_label()
    manifest = ravdess_manifest(full_ravdess_root())
    actor = manifest.speaker.str[-2:].astype(int)
    train, test = manifest[actor <= 16].reset_index(drop=True), manifest[actor > 16].reset_index(drop=True)
    val = train[actor[actor <= 16].values > 13].reset_index(drop=True)  # actors 14-16 validate
    train = train[actor[actor <= 16].values <= 13].reset_index(drop=True)
    clips = [load_clip(p, WINDOW) for p in test.path]
    runs = policy_runs(train, val, clips, test.label.map(LABEL2ID).to_numpy(), args.seeds)
    stats = runs.groupby(["trained", "deployed"]).test_ua.agg(["mean", "std"])
    table = (stats["mean"].map("{:.3f}".format) + " ± " + stats["std"].map("{:.3f}".format)).unstack("deployed")
    per_seed = runs[runs.deployed == "alone"].pivot(index="trained", columns="seed", values="test_ua")
    per_seed.columns = [f"seed {s}" for s in per_seed.columns]
    load_timed = os.getloadavg()[0]
    latency = padding_latency(clips)
    note = (f"Learning check's narrow DistilHuBERT layout, **random initial weights trained on RAVDESS actors 01-13 "
            f"(validation 14-16) by this script, not a result of the method**; test UA on the {len(test)} four-class "
            f"clips of actors 17-24 (chance 0.25), mean ± standard deviation over {len(args.seeds)} seeds (first "
            f"table) and each seed's model deployed alone (second). Latency: full DistilHuBERT architecture (random "
            f"weights), PyTorch, 2 threads, median of 5 interleaved runs, ratio to the clip alone in the same run. "
            f"CPU: {label}; load average {load:.1f} at the start, {load_timed:.1f} when timed; {date.today()}; "
            f"`nice .venv/bin/python bench/padding_policy.py`, {(time.time() - t0) / 60:.0f} min.")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/"padding_policy.md").write_text("# Padding policy: trained one way, deployed another\n\n"
        + table.to_markdown() + "\n\n" + per_seed.to_markdown(floatfmt=".3f") + "\n\n"
        + latency.to_markdown(index=False, floatfmt=(".0f", ".0f", ".2f")) + "\n\n" + note + "\n")
    print(table.to_string()); print(per_seed.round(3).to_string()); print(latency.to_string())


if __name__ == "__main__":
    main()
