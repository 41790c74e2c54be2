"""int8 against fp32 on a full-size DistilHuBERT whose classification head has been fitted to real speech.

The bar for int8 (>= 98 % argmax agreement with fp32 on real clips) is about a trained model. A randomly initialised
model's four logits hardly depend on the clip, so its agreement figure is mostly noise. Without the hub's weights the
nearest we can get here is a linear probe: the random full-size backbone stays as it is, and only the head (projector
and classifier) is fitted, with distilser's focal loss, to the backbone's features of RAVDESS actors 1-16. Its logits
then separate the clips by what the backbone's features say about them, and int8 must keep those differences.
Agreement is measured on clips of actors 17-24, which neither the head nor the calibration (actors 1-8) saw.

    nice .venv/bin/python bench/probe_agreement.py     # about 10 minutes on 2 quiet cores; needs the full RAVDESS copy

Writes bench/results/probe_agreement.md (+ .csv). Random backbone with a fitted head: a stress test of quantisation,
not a result of the method."""
import argparse, os, sys, time, warnings
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from distilser.data import LABEL2ID, full_ravdess_root, ravdess_manifest
from distilser.export import calibration_windows, export_fp32, model_metadata, quantization_study, write_metadata
from distilser.loso import compute_metrics
from distilser.loss import FocalLoss, balanced_alpha
from distilser.model import OFFLINE_DISTILHUBERT, load_model
from distilser.preprocessing import fix_length, load_audio, preprocess
from benchmark import cpu_name
from quant_study import write_study

HERE = Path(__file__).resolve().parent
ACTOR = lambda speaker: int(speaker.split('_')[1])


def pooled_features(model, paths, batch_size=8) -> torch.Tensor:
    "The backbone's last hidden state averaged over the frames of each 8 s window, as the exported graph pools it."
    feats = []
    with torch.inference_mode():
        for i in tqdm(range(0, len(paths), batch_size), desc='backbone features', unit='batch'):
            x = np.stack([fix_length(preprocess(load_audio(p)))[0] for p in paths[i:i + batch_size]])
            feats.append(model.hubert(torch.from_numpy(x)).last_hidden_state.mean(1))
    return torch.cat(feats)


def fit_head(model, features, labels, epochs=400, lr=1e-2, seed=0):
    """Fit the projector and classifier on pooled features (mean pooling commutes with the linear projector), with the
    features standardised inside the projector so that the optimiser sees unit-scale inputs."""
    torch.manual_seed(seed)
    y = torch.tensor(np.asarray(labels))
    mu, sd = features.mean(0), features.std(0) + 1e-6
    proj, clf = model.projector, model.classifier
    loss_fn = FocalLoss(balanced_alpha(y.numpy()), gamma=2.0, label_smoothing=0.1)
    opt = torch.optim.AdamW([*proj.parameters(), *clf.parameters()], lr=lr, weight_decay=1e-2)
    z = (features - mu) / sd
    for _ in range(epochs):
        opt.zero_grad(); loss_fn(clf(proj(z)), y).backward(); opt.step()
    with torch.no_grad():  # fold the standardisation into the projector: W((x - mu) / sd) + b
        proj.bias -= proj.weight @ (mu / sd)
        proj.weight /= sd
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--clips', type=int, default=48, help='clips of actors 17-24 for the agreement figures')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--work', default='runs/probe_agreement', help='where the ONNX files go')
    ap.add_argument('--out', default=str(HERE/'results'/'probe_agreement'))
    args = ap.parse_args(argv)
    root = full_ravdess_root()
    if root is None:
        print('probe_agreement: needs the full RAVDESS copy ($DISTILSER_RAVDESS or ../shared/data/ravdess)', file=sys.stderr)
        return 2
    t0, load = time.time(), os.getloadavg()[0]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the offline configuration announces its random weights; the note says so
        model = load_model(OFFLINE_DISTILHUBERT, freeze_feature_encoder=False).eval()
    df = ravdess_manifest(root)
    train, test = df[df.speaker.map(ACTOR) <= 16], df[df.speaker.map(ACTOR) > 16]
    fit_head(model, pooled_features(model, list(train.path)), train.label.map(LABEL2ID).values)
    with torch.inference_mode():
        logits = model.classifier(model.projector(pooled_features(model, list(test.path))))
    probe = compute_metrics(test.label.map(LABEL2ID).values, logits.argmax(1).numpy())
    print(f"probe on actors 17-24 (random backbone, fitted head): UA {probe['ua']:.3f}, WA {probe['wa']:.3f}")

    work = Path(args.work); work.mkdir(parents=True, exist_ok=True)
    fp32 = write_metadata(export_fp32(model, work/'model.onnx'),
                          model_metadata(model, training_data='head fitted on RAVDESS actors 1-16; backbone random'))
    windows = calibration_windows(test, n=args.clips, seed=1)
    table = quantization_study(fp32, windows, work, repeats=args.repeats)
    note = (f"DistilHuBERT architecture, **random backbone with a head fitted to RAVDESS actors 1-16** "
            f"(focal loss; UA {probe['ua']:.3f} on actors 17-24, chance 0.25): a stress test of quantisation, not a result "
            f"of the method. Agreement and max probability difference against fp32 ONNX on {len(windows)} real clips of "
            f"actors 17-24; latency on one 8 s window, median of {args.repeats} interleaved runs. CPU: {cpu_name()}, "
            f"{os.cpu_count()} cores, load average {load:.1f} at the start; {time.strftime('%Y-%m-%d')}; "
            f"`nice .venv/bin/python bench/probe_agreement.py`, {(time.time() - t0) / 60:.0f} min.")
    write_study(table, note, Path(args.out))


if __name__ == '__main__': sys.exit(main())
