#!/usr/bin/env bash
# The body of `make demo`: the whole method, end to end, on the RAVDESS subset committed with the repository: a
# random-weights smoke run of training and export, then the default model (Whisper base's frozen encoder under a
# head trained on five corpora) on held-out actors.
# Offline, CPU only, a few minutes on 2 cores. Everything goes to runs/demo/; runs/demo/report.md (and report.html)
# says what ran and links the figures.
#   DEMO_BACKBONE=ntu-spml/distilhubert make demo   # the real DistilHuBERT (needs the hub, or a local copy's path)
#   DEMO_EPOCHS=25 DEMO_TRAIN_ARGS= make demo        # the paper's number of epochs and its recipe
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=runs/demo
SUBSET=data/ravdess_subset
ACTORS=Audio_Speech_Actors_01-24
BACKBONE=${DEMO_BACKBONE:-offline:tiny}
EPOCHS=${DEMO_EPOCHS:-8}
# Random weights barely move at the paper's learning rate (5e-5, frozen encoder: that recipe fine-tunes pretrained
# weights), so the demo trains the random model's encoder too, at 1e-3, on 4 s windows (RAVDESS clips are ~3.5 s).
TRAIN_ARGS=${DEMO_TRAIN_ARGS---lr 1e-3 --train-encoder --window-seconds 4}
TRAIN_ACTORS=(01 02 03 04 05 06)
HELD_OUT_ACTORS=(07 08)   # one man, one woman: never seen in training, validation or calibration of the split
DISTILSER=.venv/bin/distilser
PY=.venv/bin/python

step() { printf '\n== %s\n' "$*"; }
logged() { local name=$1; shift; "$@" | tee "$OUT/logs/$name.txt"; }   # stdout kept for the report; pipefail keeps failures
actors_root() {  # a RAVDESS root that holds only some actors of the subset (links, no copies)
  local root=$1; shift
  mkdir -p "$root/$ACTORS"
  for a in "$@"; do ln -s "$(realpath "$SUBSET/$ACTORS/Actor_$a")" "$root/$ACTORS/Actor_$a"; done
}

start=$SECONDS
rm -rf "$OUT"
mkdir -p "$OUT/logs"

step "1/8 manifest of the committed RAVDESS subset"
logged manifest $DISTILSER manifest ravdess "$SUBSET" --out "$OUT/manifest.csv"

step "2/8 speaker-independent split: actors ${HELD_OUT_ACTORS[*]} held out"
actors_root "$OUT/train_actors" "${TRAIN_ACTORS[@]}"
actors_root "$OUT/held_out_actors" "${HELD_OUT_ACTORS[@]}"
echo "training actors: ${TRAIN_ACTORS[*]}; held-out actors: ${HELD_OUT_ACTORS[*]}"

step "3/8 training ($BACKBONE, $EPOCHS epochs) on actors ${TRAIN_ACTORS[*]}"
logged train $DISTILSER train --ravdess "$OUT/train_actors" --backbone "$BACKBONE" --epochs "$EPOCHS" $TRAIN_ARGS --out "$OUT/checkpoint"

# the smoke model's logits hardly depend on the clip, so int8 cannot agree with fp32 on it: the guard is off (--floor 0)
step "4/8 ONNX export: fp32 and int8, checked against PyTorch"
logged export $DISTILSER export "$OUT/checkpoint" --out "$OUT/onnx" --calibration "$OUT/train_actors" --floor 0 --training-data "RAVDESS subset, actors ${TRAIN_ACTORS[*]}"

step "5/8 evaluation of the smoke model (int8) on the held-out actors"
logged evaluate $DISTILSER evaluate "$OUT/onnx/model.int8.onnx" --ravdess "$OUT/held_out_actors" --out "$OUT/evaluation" --threads 2

step "6/8 distilser's default model (Whisper base's frozen encoder, a head trained on five corpora) on the same actors"
logged evaluate_default $DISTILSER evaluate --ravdess "$OUT/held_out_actors" --out "$OUT/evaluation_default" --threads 2

step "7/8 a voice note from held-out clips, with silences between them"
logged voice_note $PY - "$OUT" <<'EOF'
import sys
from pathlib import Path
from distilser.data import ravdess_manifest
from distilser.pipeline import make_voice_note
out = Path(sys.argv[1])
clips = ravdess_manifest(out / 'held_out_actors')
clips = clips.assign(turn=clips.groupby(['label', 'speaker']).cumcount()).sort_values(['turn', 'speaker'])  # actors alternate
# a little story: calm start, getting angry, then sad; pauses of 1-4 s
story = ['neutral', 'neutral', 'happiness', 'anger', 'anger', 'anger', 'sadness', 'sadness']
picked = [clips[clips.label == label].iloc[story[:i].count(label)] for i, label in enumerate(story)]
gaps = [1.0, 2.0, 1.5, 4.0, 1.0, 1.0, 3.0, 2.0, 1.5]
truth = make_voice_note([c.path for c in picked], gaps, out / 'voice_note.flac')
truth.assign(label=[c.label for c in picked], speaker=[c.speaker for c in picked]).to_csv(out / 'voice_note_truth.csv', index=False)
print(f"{out / 'voice_note.flac'}: {truth.end.iloc[-1] + gaps[-1]:.1f} s, {len(truth)} held-out clips "
      f"({', '.join(story)}); where each sits: {out / 'voice_note_truth.csv'}")
EOF

step "8/8 distilser analyze on the voice note, with the default model"
logged analyze $DISTILSER analyze "$OUT/voice_note.flac" --plot "$OUT/timeline.png" --threads 2
$DISTILSER analyze "$OUT/voice_note.flac" --json --threads 2 > "$OUT/voice_note.json"

step "report"
$PY scripts/demo_report.py "$OUT" "$BACKBONE" "$EPOCHS" "$((SECONDS - start))"
echo "demo finished in $((SECONDS - start)) s: open $OUT/report.md (or report.html)"
