"""Test-time adaptation across corpora: does re-estimating a model's batch-norm statistics on the clips it scores
(unlabelled) help it on a corpus it never heard?

Every model here normalises with statistics it learned from its training corpora: the log-mel bands' mean and spread
(`input_norm`) and each conv block's. A corpus heard through another microphone, room and language shifts those
statistics, and the model then sees every clip through the wrong ones. AdaBN (Li et al. 2016, "Revisiting batch
normalization for practical domain adaptation") re-estimates them on the target's own clips, with no label: the
per-corpus normalisation that the issue lists among the field's levers, applied at scoring time. It cannot help a
voice note alone (one clip has no corpus), so it changes no recipe and no choice of bench/loco.py's rules; it is an
option for scoring a folder of clips from one source, and ADAPT_RULE decides whether distilser offers it.

The models: every LOCO fold model of the two-stage recipe (bench/loco.py, seeds 0, 1 and 2; the only recipe whose
three seeds' fold models are kept on the machine that ran them), each on the corpus its fold left out; and the
CREMA-D-only default model (cremad-melcnn-v2, its PyTorch checkpoint) on the four training corpora it never heard.
Each is scored as it is, and again after `adapt_batchnorm` on that corpus's clips. RAVDESS and TurEV-DB (never
trained on) are reported after, by the two shipped models, and never enter the rule. Writes
bench/results/loco_adapt.csv (one row per model, target and mode) and loco_adapt.md.

    nice .venv/bin/python bench/loco_adapt.py --runs /work/runs --corpora /work/corpora --ravdess ../shared/data/ravdess
"""

# Declared 2026-12-05 (eighth session), before any adapted figure was computed: what the adaptation must do on the
# training corpora for distilser to offer it.
ADAPT_GAIN = 0.01  # the least rise in mean UA that counts: seeds alone move a recipe's mean by about this much
ADAPT_RULE = ("Adaptation is offered (scoring a folder of clips from one source) only if, on the LOCO targets, it "
              f"raises the mean UA by at least {ADAPT_GAIN} and does not lower the mean lowest class recall, for both "
              "model families: the two-stage recipe's fold models (each seed's mean over the five targets, then the "
              "mean over seeds 0, 1 and 2) and CREMA-D-only training (cremad-melcnn-v2, over the four targets it "
              "never heard). RAVDESS and TurEV-DB are reported after and never used for it.")
