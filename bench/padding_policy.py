"""What the padding policy costs: a model trained one way and deployed the other, and the latency of a short clip.

distilser never pads (preprocessing chapter). The paper pads every clip to the window with an attention mask. This
script trains the learning check's narrow DistilHuBERT layout twice on RAVDESS actors 01-16 (random initial weights,
lr 1e-3, 10 epochs, 4 s windows, no augmentation): once as distilser does (batches cut to their shortest clip,
validation clip by clip) and once as the paper does (every clip zero-padded to 4 s, with the mask). Each model is
then deployed three ways on actors 17-24: the clip alone (what the exported ONNX model and the pipeline do), padded
with the mask (the paper's evaluation), and padded without a mask (what an ONNX graph without a mask input sees if a
caller pads). Last, the latency of a 2 s clip for the full DistilHuBERT architecture (random weights) alone and
padded to the paper's 8 s window.

    nice .venv/bin/python bench/padding_policy.py
"""
import os, platform, tempfile, time, warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import distilser.loso as loso
from distilser.core import LABEL2ID
from distilser.data import full_ravdess_root, ravdess_manifest
from distilser.core import compute_metrics
from distilser.loso import TrainingConfig, make_folds, train_model
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


def main():
    warnings.simplefilter("ignore", RandomWeightsWarning)  # said in the table's note
    manifest = ravdess_manifest(full_ravdess_root())
    actor = manifest.speaker.str[-2:].astype(int)
    train, test = manifest[actor <= 16].reset_index(drop=True), manifest[actor > 16].reset_index(drop=True)
    val = train[actor[actor <= 16].values > 13].reset_index(drop=True)  # actors 14-16 validate
    train = train[actor[actor <= 16].values <= 13].reset_index(drop=True)
    clips = [load_clip(p, WINDOW) for p in test.path]
    y = test.label.map(LABEL2ID).to_numpy()
    rows = []
    for policy, collator in [("unpadded (distilser)", CropCollator), ("padded to 4 s with mask (paper)", PadCollator)]:
        loso.CropCollator = collator  # the only difference between the two trainings
        with tempfile.TemporaryDirectory() as d:
            config = TrainingConfig(backbone=OFFLINE_TINY, epochs=10, lr=1e-3, window_seconds=WINDOW, augment=False,
                                    train_encoder=True)
            trainer, _ = train_model(train, val, d, config, model_overrides=LEARNER, progress=False)
        for how in ("alone", "padded, with mask", "padded, no mask"):
            ua = compute_metrics(y, logits(trainer.model, clips, how).argmax(1))["ua"]
            rows.append(dict(trained=policy, deployed=how, test_ua=ua))
            print(rows[-1], flush=True)
    loso.CropCollator = CropCollator
    table = pd.DataFrame(rows).pivot(index="trained", columns="deployed", values="test_ua")
    model = load_model(OFFLINE_DISTILHUBERT).eval()
    torch.set_num_threads(2)
    two = torch.from_numpy(np.concatenate(clips)[:2 * SAMPLE_RATE])[None]
    padded = torch.cat([two, torch.zeros(1, 6 * SAMPLE_RATE)], 1)
    def ms(x, repeats=5):
        with torch.inference_mode():
            model(input_values=x); times = []
            for _ in range(repeats):
                t = time.perf_counter(); model(input_values=x); times.append(time.perf_counter() - t)
        return 1000 * float(np.median(times))
    latency = pd.DataFrame([dict(input="2 s clip alone (distilser)", ms=ms(two)),
                            dict(input="2 s clip padded to the 8 s window (paper)", ms=ms(padded))])
    note = (f"Learning check's narrow DistilHuBERT layout, **random initial weights trained on RAVDESS actors 01-13 "
            f"(validation 14-16) by this script, not a result of the method**; test UA on the {len(test)} four-class "
            f"clips of actors 17-24 (chance 0.25). Latency: full DistilHuBERT architecture (random weights), PyTorch, "
            f"2 threads, median of 5, load average {os.getloadavg()[0]:.1f} when timed (other jobs slow both rows "
            f"alike). "
            f"{platform.processor() or platform.machine()}, 2 cores, {date.today()}; "
            f"`nice .venv/bin/python bench/padding_policy.py`.")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/"padding_policy.md").write_text("# Padding policy: trained one way, deployed another\n\n"
        + table.to_markdown(floatfmt=".3f") + "\n\n" + latency.to_markdown(index=False, floatfmt=".0f")
        + "\n\n" + note + "\n")
    print(table.round(3).to_string()); print(latency.to_string())


if __name__ == "__main__":
    main()
