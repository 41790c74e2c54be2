"""distilser's preprocessing, log-mel CNN and feature extractor, for `trust_remote_code=True`.

Written by `distilser.model.hub_code()` from distilser's own source: change distilser, not this file."""
from __future__ import annotations
import logging, math

import numpy as np
import soxr
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from transformers import BatchFeature, PretrainedConfig, PreTrainedModel, SequenceFeatureExtractor
from transformers.modeling_outputs import SequenceClassifierOutput

log = logging.getLogger("distilser")

SAMPLE_RATE = 16000
WINDOW_SECONDS = 8.0
MIN_SAMPLES = 400
PREPROCESSING = {'sample_rate': 16000, 'mono': True, 'trim_top_db': 20.0, 'pre_emphasis': 0.97, 'peak': 0.95}


def input_contract(window_seconds: float = WINDOW_SECONDS) -> dict:
    "What a model is trained on and must be fed: the preprocessing, its window in seconds, and no padding."
    return {**PREPROCESSING, 'window_seconds': float(window_seconds), 'padding': 'none'}


def to_mono(x: np.ndarray) -> np.ndarray:  # samples `[frames, channels]`
    "One channel of `x`, by `mono_channel`'s rule: the mean of its channels, or the louder one where the mean cancels."
    if x.shape[1] == 1: return x[:, 0]
    keep = mono_channel(*channel_powers(x))
    return x.mean(axis=1) if keep is None else x[:, keep]


def trim_silence(x: np.ndarray, top_db: float = 20.0, frame: int = 2048, hop: int = 512) -> np.ndarray:
    "`x` without leading and trailing frames quieter than `top_db` dB below its loudest frame."
    if not np.any(x): return x
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, frame // 2), frame)[::hop]
    power = np.maximum(np.mean(np.square(frames, dtype=np.float64), axis=1), 1e-10)
    loud = np.flatnonzero(10 * np.log10(power / power.max()) > -top_db)
    return x[loud[0] * hop: min(len(x), (loud[-1] + 1) * hop)]


def pre_emphasis(x: np.ndarray, coef: float = 0.97) -> np.ndarray:
    "The pre-emphasis filter y[n] = x[n] - coef * x[n-1] (y[0] = x[0])."
    x = np.asarray(x, np.float32)
    return np.concatenate([x[:1], x[1:] - np.float32(coef) * x[:-1]])


def peak_normalize(x: np.ndarray, peak: float = 0.95) -> np.ndarray:
    "`x` scaled so that max |x| = `peak` (silence is returned unchanged)."
    m = np.abs(x).max() if len(x) else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0 else x


def preprocess(x: np.ndarray, preprocessing: dict = PREPROCESSING) -> np.ndarray:
    """Steps 1-3: trim at `trim_top_db` below the peak, pre-emphasis, peak normalisation (the paper's: 20 dB, 0.97,
    0.95)."""
    p = preprocessing
    return peak_normalize(pre_emphasis(trim_silence(x, p['trim_top_db']), p['pre_emphasis']), p['peak'])


class MelCnnConfig(PretrainedConfig):
    "Sizes of distilser's log-mel CNN: STFT and mel front end, channels of the four conv blocks, dropout."
    model_type = "distilser-melcnn"
    def __init__(self, sample_rate: int = 16_000, n_fft: int = 400, hop_length: int = 160, n_mels: int = 64,
                 channels=(16, 32, 64, 128), classifier_dropout: float = 0.2, utterance_cmn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.channels, self.classifier_dropout = list(channels), classifier_dropout
        self.utterance_cmn = utterance_cmn  # subtract each clip's mean log-mel per band (cepstral mean normalisation)


class LogMel(torch.nn.Module):
    "Waveform `[batch, samples]` -> log-mel `[batch, n_mels, frames]`: fixed DFT convolution, power, mel filters, log."
    def __init__(self, config: MelCnnConfig):
        super().__init__()
        n, bins = config.n_fft, config.n_fft // 2 + 1
        angle = 2 * math.pi * torch.arange(bins)[:, None] * torch.arange(n)[None] / n
        kernels = torch.cat([torch.cos(angle), -torch.sin(angle)]) * torch.hann_window(n, periodic=True)
        self.register_buffer("dft", kernels[:, None].float(), persistent=False)  # rebuilt, never saved
        mel = AF.melscale_fbanks(bins, 0.0, config.sample_rate / 2, config.n_mels, config.sample_rate)
        self.register_buffer("mel", mel.float(), persistent=False)
        self.hop, self.bins = config.hop_length, bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(x[:, None], self.dft, stride=self.hop)
        power = spec[:, :self.bins] ** 2 + spec[:, self.bins:] ** 2
        return torch.log(torch.matmul(power.transpose(1, 2), self.mel) + 1e-6).transpose(1, 2)


class MelCnnForSequenceClassification(PreTrainedModel):
    "Log-mel front end, four blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), mean and std over time, linear layer."
    config_class, base_model_prefix, main_input_name = MelCnnConfig, "body", "input_values"

    def __init__(self, config: MelCnnConfig):
        super().__init__(config)
        self.features, self.input_norm = LogMel(config), torch.nn.BatchNorm1d(config.n_mels)
        blocks, width = [], 1
        for c in config.channels:
            blocks += [torch.nn.Conv2d(width, c, 3, padding=1, bias=False), torch.nn.BatchNorm2d(c), torch.nn.ReLU(),
                       torch.nn.MaxPool2d(2, ceil_mode=True)]  # ceil: a 25 ms clip still has one frame at the end
            width = c
        self.body = torch.nn.Sequential(*blocks)
        self.dropout, self.classifier = (torch.nn.Dropout(config.classifier_dropout),
                                         torch.nn.Linear(2 * width, config.num_labels))
        self.post_init()

    def _init_weights(self, module): pass  # torch's own initialisation of each layer, which trains well from scratch

    def freeze_feature_encoder(self):
        "Nothing to freeze: the log-mel front end has no parameters."

    def forward(self, input_values, attention_mask=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("the log-mel CNN takes unpadded clips (distilser.preprocessing.CropCollator batches them)")
        features = self.features(input_values)
        if self.config.utterance_cmn: features = features - features.mean(-1, keepdim=True)  # a channel's fixed colour
        h = self.body(self.input_norm(features)[:, None]).mean(2)  # [batch, channels, frames]
        pooled = torch.cat([h.mean(-1), h.std(-1, correction=0)], -1)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))


class DistilserFeatureExtractor(SequenceFeatureExtractor):
    """distilser's input contract in `transformers`' form: each clip resampled to the model's rate with soxr, made
    mono, trimmed, pre-emphasised, peak-normalised and cut to the model's window, as `load_clip` does; never padded."""
    model_input_names = ["input_values"]

    def __init__(self, preprocessing: dict | None = None, **kwargs):  # `preprocessing`: an `input_contract`
        self.preprocessing = dict(preprocessing or input_contract())
        kwargs.update(feature_size=1, sampling_rate=self.preprocessing["sample_rate"], padding_value=0.0,
                      return_attention_mask=False)
        super().__init__(**kwargs)

    def clip(self, x, sampling_rate: int | None = None, name: str = "clip") -> np.ndarray:
        "One clip (`[samples]`, or `[samples, channels]`) at `sampling_rate` Hz as the model takes it."
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2: x = to_mono(x)
        if x.ndim != 1 or not len(x): raise ValueError(f"{name}: expected audio samples, got an array of {x.shape}")
        if not np.isfinite(x).all(): raise ValueError(f"{name}: contains NaN or infinite samples")
        if sampling_rate and sampling_rate != self.sampling_rate:
            x = soxr.resample(x, sampling_rate, self.sampling_rate, "HQ").astype(np.float32)
        x = preprocess(x, self.preprocessing)[:round(self.preprocessing["window_seconds"] * self.sampling_rate)]
        if len(x) < MIN_SAMPLES: raise ValueError(f"{name}: less than 25 ms of sound after trimming silence")
        return x

    def __call__(self, raw_speech,                    # a clip, a list of clips, or a `[clips, samples]` array
                 sampling_rate: int | None = None,    # the clips' rate (None: the model's, with a warning)
                 return_tensors: str | None = None,   # "pt" or "np" (clips of one length), None: a list of arrays
                ) -> BatchFeature:
        "The clips as the model takes them, as `input_values`."
        if sampling_rate is None:  # the same warning as transformers' own extractors give
            log.warning("no sampling_rate given to DistilserFeatureExtractor: the audio is taken to be at %d Hz",
                        self.sampling_rate)
        one = not isinstance(raw_speech, (list, tuple)) and np.ndim(raw_speech) == 1
        clips = [self.clip(x, sampling_rate, f"clip {i}") for i, x in enumerate([raw_speech] if one else raw_speech)]
        if return_tensors and len({len(x) for x in clips}) > 1:
            raise ValueError("clips of different lengths cannot share a tensor, and distilser never pads: "
                             "call the feature extractor once per clip (as pipeline() does)")
        return BatchFeature({"input_values": np.stack(clips) if return_tensors else clips}, tensor_type=return_tensors)
