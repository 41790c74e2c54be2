"""How each corpus acts each emotion: level and pitch against the same speaker's neutral clips.

Leave-one-corpus-out (bench/loco.py) found that most of ASED's sad clips are called happiness or anger by every model
trained here, and URDU's sad clips neutral. A model that has learnt emotion from the other corpora hears arousal
first: loud, high-pitched speech is anger or happiness, and quiet, low speech is sadness or neutral. This script
measures that arousal in each corpus: for up to `--speakers` speakers of each corpus and class (drawn with a fixed
seed), up to `--clips` clips per speaker, and the neutral clips of the same speakers, the recording as it was made
(trimmed of silence, no normalisation: `recording`) gives

- its speech level (median dB of the loudest half of 25 ms frames) against the same speaker's neutral clips: a
  speaker's emotions share a microphone and a gain in the acted corpora, so the difference is how loud the emotion
  was spoken;
- its median pitch against the same speaker's neutral clips, in semitones, and its share of voiced frames
  (librosa's pYIN, as bench/sadness_transfer.py measures them).

Beside them, the median peak of the recordings: a corpus whose files were each scaled to full scale (a peak of 1)
has lost its levels, and its level column says nothing.

URDU's clips are cut from talk shows, and most of its speakers have clips of one or two emotions only: a speaker
without neutral clips is compared with the neutral clips of the same gender in the sample (column `own neutral`
gives the share of clips compared with their own speaker), and its levels then mix shows and microphones.

Writes bench/results/corpus_voices.md and .csv (medians per corpus and class) and corpus_voices.png (each corpus's
classes on a level-pitch plane, neutral at the origin). A few minutes on one core.

    nice .venv/bin/python bench/corpus_voices.py --corpora CORPORA --ravdess ../shared/data/ravdess
"""
import argparse, time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from distilser.core import LABELS
from distilser.data import REPO_ROOT, load_corpora

from corpora import FOLDERS, TITLES
from sadness_transfer import levels, pitch, recording

RESULTS = REPO_ROOT/"bench"/"results"
MEASURES = ["level vs neutral (dB)", "pitch vs neutral (st)", "voiced share"]


def sample_clips(manifest: pd.DataFrame, speakers: int, clips: int) -> pd.DataFrame:
    """Per corpus and class, up to `speakers` of the speakers who have clips of that class (a fixed seed), up to `clips`
    clips of each; and up to `clips` neutral clips of every speaker drawn, the reference."""
    rng = np.random.default_rng(0)
    shuffled = manifest.sample(frac=1, random_state=0)
    chosen = []
    for (corpus, label), df in shuffled.groupby(["corpus", "label"]):
        have = sorted(df.speaker.unique())
        keep = rng.choice(have, min(speakers, len(have)), replace=False)
        chosen.append(df[df.speaker.isin(keep)].groupby("speaker").head(clips))
    drawn = pd.concat(chosen)
    neutral = shuffled[(shuffled.label == "neutral") & pd.MultiIndex.from_frame(shuffled[["corpus", "speaker"]]).isin(
        pd.MultiIndex.from_frame(drawn[["corpus", "speaker"]]))].groupby(["corpus", "speaker"]).head(clips)
    return pd.concat([drawn, neutral]).drop_duplicates("path").reset_index(drop=True)


def measure(clips: pd.DataFrame) -> pd.DataFrame:
    """Each clip's speech level and pitch against its speaker's neutral clips (medians; those of the speaker's gender
    in the corpus when the speaker has none), and its voiced share."""
    rows = []
    for r in tqdm(clips.itertuples(), total=len(clips), desc="clips"):
        x = recording(r.path)
        rows.append(dict(corpus=r.corpus, speaker=r.speaker, gender=r.gender, label=r.label,
                         speech_db=levels(x)["speech_db"], peak=np.abs(x).max(), **pitch(x)))
    d = pd.DataFrame(rows)
    neutral = d[d.label == "neutral"]
    own = d.join(neutral.groupby(["corpus", "speaker"])[["speech_db", "f0_hz"]].median().add_prefix("neutral_"),
                 on=["corpus", "speaker"])
    gender = d.join(neutral.groupby(["corpus", "gender"])[["speech_db", "f0_hz"]].median().add_prefix("neutral_"),
                    on=["corpus", "gender"])
    d["own neutral"] = own.neutral_speech_db.notna()  # a level is never missing: the speaker had neutral clips
    d = d.join(own.filter(like="neutral_").where(d["own neutral"], gender.filter(like="neutral_"), axis=0))
    d[MEASURES[0]] = d.speech_db - d.neutral_speech_db
    d[MEASURES[1]] = 12 * np.log2(d.f0_hz / d.neutral_f0_hz)
    return d.rename(columns={"voiced": MEASURES[2]})


def voice_table(d: pd.DataFrame) -> pd.DataFrame:
    "Medians per corpus and class, with the clips and speakers they come from."
    table = d.groupby(["corpus", "label"])[MEASURES].median().round(2)
    table["peak"] = d.groupby(["corpus", "label"]).peak.median().round(2)
    table.insert(0, "own neutral", d.groupby(["corpus", "label"])["own neutral"].mean().round(2))
    table.insert(0, "speakers", d.groupby(["corpus", "label"]).speaker.nunique())
    table.insert(0, "clips", d.groupby(["corpus", "label"]).size())
    return table


def plot_voices(table: pd.DataFrame, columns: int = 4):
    """One panel per corpus: each class's median level and pitch against the speaker's neutral (at the origin); a
    corpus with a class at full scale (median peak 0.99 or more) is marked, its levels lost."""
    import matplotlib.pyplot as plt
    corpora = table.index.get_level_values(0).unique()
    rows = -(-len(corpora) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), sharex=True, sharey=True, squeeze=False)
    colours = dict(zip(LABELS, plt.get_cmap("tab10").colors))
    for ax, corpus in zip(axes.flat, corpora):
        t = table.loc[corpus]
        ax.axhline(0, color="0.85", lw=1); ax.axvline(0, color="0.85", lw=1)
        for label in LABELS:
            if label not in t.index: continue
            ax.scatter(t.loc[label, MEASURES[0]], t.loc[label, MEASURES[1]], s=60, color=colours[label], label=label)
        lost = " (levels lost)" if (t.peak >= 0.99).any() else ""
        ax.set_title(TITLES.get(corpus, corpus) + lost, fontsize=10)
    for ax in axes[-1]: ax.set_xlabel(MEASURES[0])
    for ax in axes[:, 0]: ax.set_ylabel(MEASURES[1])
    for ax in axes.flat[len(corpora):]: ax.axis("off")
    handles = axes.flat[0].get_legend_handles_labels()
    (axes.flat[-1] if len(corpora) < axes.size else fig).legend(*handles, fontsize=9, loc="center")
    fig.suptitle("How each corpus acts each emotion: medians against the same speaker's neutral clips", fontsize=11)
    fig.tight_layout()
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpora", type=Path, required=True, help="folder holding the corpora (bench/corpora.py FOLDERS)")
    p.add_argument("--ravdess", type=Path, help="RAVDESS root, measured beside them")
    p.add_argument("--speakers", type=int, default=12, help="speakers per corpus and class (default 12)")
    p.add_argument("--clips", type=int, default=3, help="clips per speaker and class (default 3)")
    args = p.parse_args(argv)
    roots = {c: args.corpora/f for c, f in FOLDERS.items() if (args.corpora/f).is_dir()}
    if args.ravdess: roots["ravdess"] = args.ravdess
    start = time.perf_counter()
    d = measure(sample_clips(load_corpora(roots), args.speakers, args.clips))
    table = voice_table(d)
    RESULTS.mkdir(exist_ok=True)
    plot_voices(table).savefig(RESULTS/"corpus_voices.png", dpi=110)
    text = (f"# How each corpus acts each emotion\n\nMeasured {date.today()} by `bench/corpus_voices.py` "
            f"({time.perf_counter() - start:.0f} s) on the recordings themselves (no model): up to {args.speakers} "
            f"speakers per corpus and class, up to {args.clips} clips per speaker; medians. Level and pitch are "
            f"against the same speaker's neutral clips (`own neutral`: the share of clips that had them; the others, "
            f"URDU's, against the neutral clips of their gender).\n\n"
            f"{table.reset_index().to_markdown(index=False)}\n\n"
            "Figure: `bench/results/corpus_voices.png` (chapter 05a shows it).\n")
    (RESULTS/"corpus_voices.md").write_text(text)
    table.to_csv(RESULTS/"corpus_voices.csv")
    print(text)


if __name__ == "__main__":
    main()
