"""Issue 41, point 4, as a user has it: the heads of the two scenarios that bench/whisper_loco.py's rule offers (a
folder's statistics, a speaker profile), trained by the chosen recipe (bench/results/whisper_choice.json) on all five
corpora as bench/whisper_export.py trains the single-clip head (10 % of each corpus's speakers validate), each clip
standardised as chapter 05b's `standardise` does in training (by its corpus's, or its speaker's, statistics), and
exported as small ONNX files beside the shipped model: `head.folder.onnx` and `head.speaker.onnx` (input: the shipped
file's `statistics` output already standardised by the group's statistics; output: logits). RAVDESS (never trained
on, never used to choose) is reported for each: on the cached statistics (as the study scored it), and end to end
through the shipped file's `statistics` output and chapter 07c's numpy code (`--model`).

    nice -n 5 .venv/bin/python bench/whisper_scenarios.py --cache /work/cache --corpora /work/corpora \\
        --ravdess /work/shared/data/ravdess --model models/whisper-base-five-corpora-v1/model.onnx

`--heads-only` trains and exports the heads (torch); `--end-to-end-only` reads them and scores RAVDESS through the
shipped file (numpy and ONNX Runtime only). Writes bench/results/whisper_scenarios.md and .json.
"""
import argparse, json, time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from distilser.core import LABELS, write_atomic
from distilser.data import REPO_ROOT

from whisper_loco import BACKBONE, RESULTS, TARGETS, WINDOW

NAME = "whisper-base-five-corpora-v1"
MODEL_DIR = REPO_ROOT/"models"/NAME
SCENARIOS = ("folder", "speaker")
JSON = RESULTS/"whisper_scenarios.json"


def head_file(scenario: str) -> Path: return MODEL_DIR/f"head.{scenario}.onnx"


def train_scenario(rows, stats, recipe, scenario):
    "The chosen recipe on all five corpora in `scenario`: 10 % of each corpus's speakers validate (early stopping)."
    from distilser.loco import validation_speakers
    from distilser.whisper_heads import standardise, train_head
    fit = standardise(stats, rows, scenario)  # training: every clip of a group counts (chapter 05b's `_views`)
    pool = rows[rows.corpus.isin(TARGETS)]
    held = pool.speaker.isin(validation_speakers(pool, 0.1, recipe.seed))
    (head, record) = train_head(fit[pool[~held].i], pool[~held], fit[pool[held].i], pool[held], recipe)
    return head, record, pool[~held]


def ravdess_cached(head, rows, stats, scenario) -> dict:
    "RAVDESS as the study scored it: the cached statistics, a profile from the speaker's other clips."
    from distilser.loco import corpus_scores
    from distilser.whisper_heads import head_predictions, standardise
    z = standardise(stats, rows, scenario, leave_one_out=scenario == "speaker")
    rav = rows[rows.corpus == "ravdess"]
    return corpus_scores(head_predictions(head, z[rav.i], rav)).loc["ravdess"].to_dict()


def export_head(head, path: Path, metadata: dict) -> Path:
    "`head` (a `LayerHead`: its own centre and scale inside) as ONNX: `statistics` [batch, 7, 2, 512] -> `logits`."
    import torch, warnings
    from distilser.core import write_metadata
    from distilser.whisper_heads import WHISPER_OPSET
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(head.eval(), (torch.zeros(1, *head.center.shape),), str(tmp), input_names=["statistics"],
                          output_names=["logits"], opset_version=WHISPER_OPSET, dynamo=False,
                          dynamic_axes={"statistics": {0: "batch"}, "logits": {0: "batch"}})
    write_metadata(tmp, metadata)
    tmp.replace(path)
    return path


def heads(args) -> dict:
    import torch
    from distilser.whisper import provenance
    from distilser.whisper_heads import SCENARIOS as MEANS, VARIANCE_FLOOR, HeadRecipe, head_logits
    from whisper_loco import load_all
    torch.set_num_threads(1)
    choice = json.loads((RESULTS/"whisper_choice.json").read_text())
    recipe = HeadRecipe(**choice["recipe"])
    rows, stats, _ = load_all(args.cache)
    out = {}
    for scenario in SCENARIOS:
        t0 = time.time()
        head, record, train = train_scenario(rows, stats, recipe, scenario)
        counts = train.groupby("corpus").size().to_dict()
        training = ("; ".join(f"{c}: {n} clips" for c, n in counts.items())
                    + " (10 % of each corpus's speakers validated)")
        group = "its corpus" if scenario == "folder" else "its speaker (all of the speaker's clips)"
        meta = dict(distilser_labels=json.dumps(LABELS), distilser_head=scenario, scenario=scenario,
                    scenario_means=MEANS[scenario], variance_floor=repr(VARIANCE_FLOOR),
                    statistics_shape=json.dumps(list(stats.shape[1:])),
                    input=("the model's `statistics` output standardised by its group's: (x - mean) / sqrt(variance "
                           f"+ variance_floor), the variance over the group's clips (divided by n); in training, each "
                           f"clip by {group}"),
                    recipe=choice["chosen"], options=json.dumps(asdict(recipe)), training_data=training,
                    head=json.dumps(dict(record, recipe=choice["chosen"])), weights=json.dumps(provenance(BACKBONE)),
                    backbone=BACKBONE, window_seconds=str(float(WINDOW)), model=NAME,
                    description=f"the {scenario} scenario's head of {NAME} (bench/whisper_scenarios.py)")
        path = export_head(head, head_file(scenario), meta)
        # ONNX Runtime against torch on RAVDESS's standardised statistics: the same float32 graph, other orders
        from distilser.export import ort_session
        from distilser.whisper_heads import standardise
        rav = rows[rows.corpus == "ravdess"]
        z = standardise(stats, rows, scenario, leave_one_out=scenario == "speaker")[rav.i]
        got = ort_session(path).run(["logits"], {"statistics": z})[0]
        diff = float(np.abs(got - head_logits(head, z)).max())
        out[scenario] = dict(file=str(path.relative_to(REPO_ROOT)), size_mb=path.stat().st_size / 1e6,
                             training=counts, best_epoch=record["best_epoch"], validation_ua=record["validation_ua"],
                             layer_weights=record["layer_weights"], onnx_vs_torch_max_logit_diff=diff,
                             ravdess_cached=ravdess_cached(head, rows, stats, scenario),
                             seconds=round(time.time() - t0, 1))
        print(scenario, json.dumps(out[scenario], default=float), flush=True)
    return dict(recipe=choice["chosen"], options=asdict(recipe), heads=out)


def end_to_end(args) -> dict:
    "RAVDESS through the shipped file's `statistics` output and chapter 07c's numpy code, every scenario."
    from distilser.data import load_corpora
    from distilser.export import open_model
    from distilser.int8_speed import cpu_label
    from distilser.loco import corpus_scores
    from distilser.preprocessing import load_clip
    from distilser.scenarios import MIN_PROFILE_NOTES, GroupStatistics, clip_statistics, scenario_head
    t0 = time.time()
    model = open_model(args.model, num_threads=args.threads)
    manifest = load_corpora({"ravdess": args.ravdess})
    clips = [load_clip(p, model.window_seconds, model.preprocessing) for p in manifest.path]
    logits, stats = clip_statistics(model, clips)
    scores = {"clip": (logits, None)}
    folder = scenario_head(model, "folder")
    scores["folder"] = (folder.logits(GroupStatistics.of(stats).standardise(stats, folder.floor)), None)
    speaker = scenario_head(model, "speaker")
    z = np.empty_like(stats)
    for _, idx in manifest.groupby("speaker").indices.items():  # each clip by a profile of its speaker's other clips
        for i in idx:
            z[i] = GroupStatistics.of(stats[idx[idx != i]]).standardise(stats[i:i + 1], speaker.floor)[0]
    scores["speaker"] = (speaker.logits(z), None)
    # as a user has it: each actor's clips in a random (seeded) order, each heard through the profile of the clips
    # before it (chapter 07c's SpeakerProfile rule: the single-clip head until MIN_PROFILE_NOTES earlier notes)
    rng, running = np.random.default_rng(0), logits.copy()
    for _, idx in manifest.groupby("speaker").indices.items():
        order = rng.permutation(idx)
        for k, i in enumerate(order):
            if k >= MIN_PROFILE_NOTES:
                group = GroupStatistics.of(stats[order[:k]])
                running[i] = speaker.logits(group.standardise(stats[i:i + 1], speaker.floor))[0]
    scores[f"speaker, notes in order (single clip for the first {MIN_PROFILE_NOTES})"] = (running, None)
    out = {}
    for name, (z, _) in scores.items():
        preds = manifest.assign(predicted=[LABELS[i] for i in z.argmax(1)])
        out[name] = corpus_scores(preds).loc["ravdess"].to_dict()
    return dict(model=str(Path(args.model)), clips=len(clips), cpu=cpu_label(), seconds=round(time.time() - t0, 1),
                ravdess=out)


def report(result: dict) -> str:
    import pandas as pd
    h = result["heads"]
    lines = [f"# The scenario heads of {NAME}: a folder's statistics, a speaker profile\n",
             "Generated by `bench/whisper_scenarios.py`; never typed. Recipe: "
             f"{result['recipe']}, trained on all five corpora in each scenario (10 % of each corpus's speakers "
             "validate), exported as ONNX heads on the shipped file's `statistics` output. RAVDESS: 672 clips, never "
             "trained on, never used to choose; the speaker profile of each clip is built from that actor's other "
             "clips.\n"]
    rows = {}
    for s in SCENARIOS:
        r = h[s]["ravdess_cached"]
        rows[f"{s}: cached statistics (fp32 torch encoder)"] = dict(ua=r["ua"], min_recall=r["min_recall"],
                                                                     **{l: r[f"recall_{l}"] for l in LABELS})
    e2e = result.get("end_to_end")
    if e2e:
        for s, r in e2e["ravdess"].items():
            rows[f"{s}: shipped file end to end"] = dict(ua=r["ua"], min_recall=r["min_recall"],
                                                         **{l: r[f"recall_{l}"] for l in LABELS})
    lines += ["## RAVDESS\n", pd.DataFrame(rows).T.to_markdown(floatfmt=".3f"), ""]
    if e2e:
        lines.append(f"End to end: `{e2e['model']}`, {e2e['clips']} clips, {e2e['seconds']:.0f} s on {e2e['cpu']}.\n")
    else:
        lines.append("End to end through the shipped file: not run (no `--model` with a `statistics` output).\n")
    lines += ["## The heads\n",
              pd.DataFrame({s: dict(file=h[s]["file"], size_mb=round(h[s]["size_mb"], 2),
                                    best_epoch=h[s]["best_epoch"], validation_ua=round(h[s]["validation_ua"], 3),
                                    onnx_vs_torch=f"{h[s]['onnx_vs_torch_max_logit_diff']:.1e}",
                                    training="; ".join(f"{c} {n}" for c, n in h[s]["training"].items()))
                            for s in SCENARIOS}).T.to_markdown(), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--corpora", type=Path)
    ap.add_argument("--ravdess", type=Path, default=Path("/work/shared/data/ravdess"))
    ap.add_argument("--model", type=Path, help="the shipped file, with its `statistics` output")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--heads-only", action="store_true")
    ap.add_argument("--end-to-end-only", action="store_true")
    args = ap.parse_args()
    result = json.loads(JSON.read_text()) if JSON.is_file() else {}
    if not args.end_to_end_only:
        result |= heads(args)
        result.pop("end_to_end", None)  # scored with the heads before these
    if not args.heads_only and args.model:
        result["end_to_end"] = end_to_end(args)
    write_atomic(JSON, json.dumps(result, indent=2, default=float))
    write_atomic(RESULTS/"whisper_scenarios.md", report(result))
    print(report(result))


if __name__ == "__main__":
    main()
