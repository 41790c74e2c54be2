"""The corpora distilser reads, counted: clips per class (the paper's Table I layout), speakers, genders, what the
files are, and what each loader left out and why; and, for the stereo corpus (EMOVO), what averaging its two
channels would cost. Writes bench/results/corpora.md, which the data chapter shows. Nothing of the corpora is
committed; fetch them as `NAMED_CORPORA[...].source` says.

    .venv/bin/python bench/corpora.py --corpora CORPORA --ravdess ../shared/data/ravdess
"""
import argparse
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from distilser.core import LABELS
from distilser.data import NAMED_CORPORA, REPO_ROOT, class_balance, load_corpora

FOLDERS = dict(cremad="CREMA-D", ased="ASED", urdu="URDU", emovo="EMOVO", emodb="EmoDB", turev="TurEV")
TITLES = dict(cremad="CREMA-D", ravdess="RAVDESS", **{k: c.title for k, c in NAMED_CORPORA.items()})


def file_kinds(paths) -> str:
    "The sample rates and channel counts of `paths`, most common first, e.g. `48 kHz stereo 587, 48 kHz mono 1`."
    kinds = Counter()
    for p in paths:
        i = sf.info(p)
        kinds[f"{i.samplerate / 1000:g} kHz {'mono' if i.channels == 1 else 'stereo' if i.channels == 2 else f'{i.channels} ch'}"] += 1
    return ", ".join(f"{k} {n}" for k, n in kinds.most_common())


def averaging_loss_db(paths) -> np.ndarray:
    "Per stereo file: the level of the channels' mean against the louder channel, in dB (0: nothing lost)."
    out = []
    for p in paths:
        x = sf.read(p, dtype="float32", always_2d=True)[0]
        if x.shape[1] != 2: continue
        loud = np.mean(np.square(x, dtype=np.float64), axis=0).max()
        out.append(10 * np.log10(np.mean(np.square(x.mean(1), dtype=np.float64)) / loud))
    return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", type=Path, required=True, help="folder holding CREMA-D, ASED, URDU, EMOVO, EmoDB, TurEV")
    ap.add_argument("--ravdess", type=Path, required=True)
    args = ap.parse_args()
    roots = {c: args.corpora/f for c, f in FOLDERS.items()} | {"ravdess": args.ravdess}
    manifests = {c: load_corpora({c: r}) for c, r in roots.items()}
    balance = class_balance({TITLES[c]: m for c, m in manifests.items()})
    about = pd.DataFrame({TITLES[c]: dict(
        language=NAMED_CORPORA[c].language if c in NAMED_CORPORA else "English",
        speakers=m.speaker.nunique(),
        female_male=f"{(m.groupby('speaker').gender.first() == 'female').sum()}/"
                    f"{(m.groupby('speaker').gender.first() == 'male').sum()}",
        files=file_kinds(m.path),
        left_out=", ".join(f"{k} {n}" for k, n in m.attrs["excluded"].items()) or "none",
        skipped="; ".join(f"{Path(p).name}: {why}" for p, why in m.attrs["skipped"]) or "none",
        ships="no (licence)" if c in NAMED_CORPORA and not NAMED_CORPORA[c].shippable else
              "no (test only)" if c == "ravdess" else "yes")
        for c, m in manifests.items()}).T
    loss = averaging_loss_db(manifests["emovo"].path)
    lines = ["# The corpora, counted", "",
             "Four-class clips per corpus (the paper's Table I layout; the class weights of the combined counts):", "",
             balance.to_markdown(), "", about.to_markdown(), "",
             f"EMOVO's stereo files: the mean of the two channels is {-np.median(loss):.1f} dB below the louder channel "
             f"(median over {len(loss)} four-class files; 10th-90th percentile {-np.percentile(loss, 90):.1f} to "
             f"{-np.percentile(loss, 10):.1f} dB); {np.mean(loss < -3):.0%} lose more than 3 dB, so `to_mono` keeps "
             "their louder channel.", "",
             f"{date.today()}; `.venv/bin/python bench/corpora.py --corpora CORPORA --ravdess RAVDESS`."]
    (REPO_ROOT/"bench"/"results"/"corpora.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
