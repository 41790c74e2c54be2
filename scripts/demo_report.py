"""Write runs/demo/report.md and report.html from what scripts/demo.sh left in runs/demo/ (its logs and figures).

    python scripts/demo_report.py OUT BACKBONE EPOCHS SECONDS
"""
import json, os, platform, sys, time
from pathlib import Path

import mistune
import pandas as pd

from distilser.core import pyplot
from distilser.default_model import plot_learning_curve
from distilser.evaluate import comparison_table
from distilser.production import production_table

out, backbone, epochs, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
random_init = backbone.startswith('offline:')

def log(name) -> str:
    "A step's printed output as a code block."
    return f"```\n{(out / 'logs' / f'{name}.txt').read_text().strip(chr(10))}\n```"

def figure(path, caption) -> str:
    return f"![{caption}]({path})" if (out / path).exists() else f"*({path} was not written)*"

def table(df: pd.DataFrame, **options) -> str:
    "A table in Markdown, '-' where there is no figure."
    return df.astype(object).where(df.notna(), None).to_markdown(missingval='-', **options)

def training() -> str:
    """The training as the learning curve (training.png, drawn here from the checkpoint's training.json) and a short
    table, rather than the Trainer's per-epoch log dictionaries (kept in logs/train.txt)."""
    record = json.loads((out / 'checkpoint' / 'training.json').read_text())
    result = json.loads((out / 'checkpoint' / 'metrics.json').read_text())
    fig = plot_learning_curve(out / 'checkpoint')
    fig.axes[0].set_title(f"{backbone}: validation clips (a random 5 % of the training actors')")
    fig.savefig(out / 'training.png', dpi=120)
    pyplot().close(fig)
    history = pd.DataFrame(record['history']).set_index('epoch')
    best = history.loc[record['best_epoch']]
    held = production_table(result)
    held.columns = [held.columns[0], 'this run']  # the run's long note is said once, below, not as a header
    return f"""{figure('training.png', 'validation UA and WA per epoch, the best epoch marked')}

{record['epochs_run']} epochs run (most {record['settings']['epochs']}, early stopping after
{record['settings']['patience']} without a better validation UA); the best, epoch {record['best_epoch']} (validation
UA {best.ua:.1%}, WA {best.wa:.1%}, loss {best.loss:.3f}), is the model kept. On its {result['n_held_out']} held-out
clips, beside the paper's production model:

{table(held, floatfmt='.2f')}

Caveat: {result['caveat']}.{f" This run: {result['note']}." if result['note'] else ''} The Trainer's own log, epoch by
epoch: [logs/train.txt](logs/train.txt)."""

def evaluation(folder: str, log_name: str) -> str:
    "What `distilser evaluate` wrote to `folder` (its output in logs/`log_name`.txt): the model named once, its figures."
    metrics = json.loads((out / folder / 'metrics.json').read_text())
    return f"""Model: {metrics['description']}. {metrics['n_clips']} clips of the held-out actors, figures in percent
(the command's own output: [logs/{log_name}.txt](logs/{log_name}.txt)):

{table(comparison_table(metrics, 'this model'), floatfmt='.2f')}"""

note = json.loads((out / 'voice_note.json').read_text())[0]
truth = pd.read_csv(out / 'voice_note_truth.csv')
truth['path'] = truth.path.map(lambda p: Path(p).name)
windows = pd.DataFrame(note['windows'])
def heard(start, end) -> str:
    "The true labels of the clips a window overlaps, in order (a window spans every pause inside it)."
    return ', '.join(truth.label[(truth.start < end) & (truth.end > start)])
if len(windows):
    windows = windows.assign(truth=[heard(a, b) for a, b in zip(windows.start, windows.end)],
                             **{l: windows.probabilities.map(lambda p, l=l: round(p[l], 3))
                                for l in note['probabilities']})
    windows = windows.drop(columns='probabilities').rename(columns=dict(emotion='predicted'))
default = pd.read_csv(out / 'evaluation_default' / 'predictions.csv')
clip_table = default.assign(clip=default.path.map(lambda p: Path(p).name))[['clip', 'speaker', 'label', 'prediction']]
default_metrics = json.loads((out / 'evaluation_default' / 'metrics.json').read_text())

weights = (f"**Sections 2-4 are a random-weights smoke run.** The backbone is `{backbone}`, a randomly initialised "
           f"model of the DistilHuBERT layout, trained here for {epochs} epochs on 96 clips of 6 actors: its accuracy "
           f"and confusion matrix are **random weights (offline configuration), not a result of the method**; they "
           f"show that training, export and evaluation run end to end. **Sections 5 and 6 use distilser's default "
           f"model** ({default_metrics['description']}), which never heard RAVDESS: its predictions are real, "
           f"cross-corpus, and shown next to the truth."
           if random_init else
           f"The backbone is `{backbone}` with its pretrained weights, fine-tuned for {epochs} epochs on 96 clips of 6 "
           f"RAVDESS actors: a small demonstration, not the paper's protocol (IEMOCAP, CREMA-D).")

report = f"""# distilser demo

Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()} CPU with {os.cpu_count()} cores,
in {seconds // 60} min {seconds % 60} s, offline. Produced by `make demo` (scripts/demo.sh).

{weights}

## 1. Data

The RAVDESS subset committed with the repository (`data/ravdess_subset`), four classes.
Speaker-independent split: actors 01-06 train (with a random 5 % of their clips for validation), actors 07 and 08
are held out for the evaluation and the voice note; the int8 calibration uses training actors only.

{log('manifest')}

## 2. Training (`distilser train`): {'random-weights smoke run' if random_init else backbone}

{training()}

## 3. Export (`distilser export`): fp32 and int8 ONNX

{log('export')}

## 4. Evaluation of the smoke model on the held-out actors (`distilser evaluate`)

{evaluation('evaluation', 'evaluate')}

{figure('evaluation/confusion.png', 'confusion matrix on the held-out actors (smoke model, random weights)')}

## 5. The default model on the same held-out actors (`distilser evaluate`, no model given)

{evaluation('evaluation_default', 'evaluate_default')}

{figure('evaluation_default/confusion.png', 'confusion matrix of the default model on the held-out actors')}

Every clip, its true emotion and the default model's prediction:

{table(clip_table, index=False)}

## 6. A voice note (`distilser analyze`, default model)

Held-out clips strung together with pauses (`make_voice_note`), {note['duration']:.1f} s:

{table(truth, index=False, floatfmt='.2f')}

{log('analyze')}

{figure('timeline.png', 'timeline of the voice note')}

Per-window prediction next to the truth (the labels of the clips each window overlaps; times in the note's seconds;
a window spans every pause inside it):

{table(windows, index=False, floatfmt='.2f') if len(windows) else '*no speech detected*'}

Full result: [voice_note.json](voice_note.json).

## Running it for real

- The real DistilHuBERT: `DEMO_BACKBONE=ntu-spml/distilhubert make demo` where the Hugging Face hub is reachable, or
  `DEMO_BACKBONE=/path/to/distilhubert` for a local copy (any command takes `--backbone` the same way).
- The default model's recipe on Whisper's frozen encoder, with your corpora: `distilser train --backbone whisper-base
  --cremad CREMA-D --emodb EmoDB --out runs/whisper` (chapter 05d); the CREMA-D CNN's: `distilser default-model
  --cremad CREMA-D --ravdess RAVDESS --out models/my-model` (the chapter on the shipped CNN models).
- The paper's protocol with the real corpora: `distilser train --iemocap IEMOCAP_full_release --cremad CREMA-D
  --out runs/production` (25 epochs by default), `distilser export runs/production --out runs/onnx`,
  `distilser evaluate runs/onnx/model.int8.onnx --ravdess /path/to/RAVDESS --out runs/ravdess`, then
  `distilser analyze NOTE.wav --model runs/onnx`.
"""
(out / 'report.md').write_text(report)
html = mistune.html(report)
(out / 'report.html').write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>distilser demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
pre{{background:#f5f5f5;padding:.8em;white-space:pre-wrap}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}img{{max-width:100%}}</style></head>
<body>{html}</body></html>""")
print(f"{out / 'report.md'} and {out / 'report.html'} written")
