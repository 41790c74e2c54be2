// distilser.pipeline's steps after the VAD, line for line: speech regions from the VAD's frame probabilities,
// windows over the concatenated speech, each window's model input, and one distribution for the note.
// `c` is pipeline.json, written from the Python constants and defaults by distilser.web.pipeline_contract.

// speech_regions: hysteresis (_hysteresis) then padding (_pad); positions in 16 kHz samples.
export function speechRegions(probs, n, c) {
  const ms = c.sample_rate / 1000, minSpeech = c.min_speech_ms * ms, minSilence = c.min_silence_ms * ms;
  // numpy compares float32 probabilities with float32 thresholds: Math.fround does the same here
  const threshold = Math.fround(c.threshold), low = Math.fround(Math.max(c.threshold - 0.15, 0.01));
  const regions = [];
  let start = null, quietSince = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i], at = c.vad_frame * i;
    if (p >= threshold) quietSince = 0;
    if (p >= threshold && start === null) { start = at; continue; }
    if (p < low && start !== null) {
      quietSince = quietSince || at;
      if (at - quietSince < minSilence) continue;
      if (quietSince - start > minSpeech) regions.push([start, quietSince]);
      start = null; quietSince = 0;
    }
  }
  if (start !== null && n - start > minSpeech) regions.push([start, n]);
  return pad(regions, c.pad_ms * ms, n);
}

// _pad: widen each region by `pad` samples, sharing a gap shorter than two pads between its neighbours.
function pad(regions, padding, n) {
  regions.forEach((r, i) => {
    if (i === 0) r[0] = Math.max(0, r[0] - padding);
    if (i === regions.length - 1) { r[1] = Math.min(n, r[1] + padding); return; }
    const gap = regions[i + 1][0] - r[1];
    const widen = gap < 2 * padding ? Math.floor(gap / 2) : padding;
    r[1] = Math.min(n, r[1] + widen);
    regions[i + 1][0] = Math.max(0, regions[i + 1][0] - widen);
  });
  return regions;
}

// window_bounds: `n` samples of speech cut into windows; a short tail overlaps the window before it.
export function windowBounds(n, window, hop = window, minTail = Math.floor(window / 4)) {
  if (n <= window) return n ? [[0, n]] : [];
  const bounds = [];
  for (let s = 0; s <= n - window; s += hop) bounds.push([s, s + window]);
  const tail = n - bounds[bounds.length - 1][1];
  if (tail >= minTail && tail > 0) bounds.push([bounds[bounds.length - 1][0] + hop, n]);
  else if (tail > 0) bounds.push([n - window, n]);
  return bounds;
}

export const speechLength = regions => regions.reduce((s, [a, b]) => s + b - a, 0);

// speech_to_file: a position in the concatenated speech as a sample position in the recording.
export function speechToFile(position, regions) {
  let offset = 0;
  for (const [a, b] of regions) {
    if (position < offset + b - a) return a + position - offset;
    offset += b - a;
  }
  throw new RangeError(`position ${position} is past the ${offset} samples of speech`);
}

// The samples of speech positions [s0, s1) of the recording `x` (speech_windows, without the streaming).
export function speechSamples(x, regions, s0, s1) {
  const out = new Float32Array(s1 - s0);
  let offset = 0, filled = 0;
  for (const [a, b] of regions) {
    const lo = Math.max(s0, offset), hi = Math.min(s1, offset + b - a);
    if (hi > lo) { out.set(x.subarray(a + lo - offset, a + hi - offset), filled); filled += hi - lo; }
    offset += b - a;
  }
  return out;
}

// prepare_window: pre-emphasis, then peak normalisation, with the coefficients stored in the model file.
export function prepareWindow(x, preprocessing) {
  const coef = Math.fround(preprocessing.pre_emphasis), y = new Float32Array(x.length);
  if (x.length) y[0] = x[0];
  for (let i = 1; i < x.length; i++) y[i] = x[i] - Math.fround(coef * x[i - 1]);
  let m = 0;
  for (const v of y) m = Math.max(m, Math.abs(v));
  if (m > 0) {
    const scale = Math.fround(Math.fround(preprocessing.peak) / m);  // numpy: float32 / float32
    for (let i = 0; i < y.length; i++) y[i] *= scale;
  }
  return y;
}

// Class probabilities of `logits`, divided by the calibration's temperature first (1 without calibration).
export function softmax(logits, temperature = 1) {
  const z = Array.from(logits, v => v / temperature), top = Math.max(...z);
  const e = z.map(v => Math.exp(v - top)), sum = e.reduce((s, v) => s + v, 0);
  return e.map(v => v / sum);
}

// note_probabilities: the windows' probabilities averaged, weighted by the seconds of speech in each.
export function noteProbabilities(probs, seconds) {
  const total = seconds.reduce((s, v) => s + v, 0);
  return probs[0].map((_, k) => probs.reduce((s, p, i) => s + p[k] * seconds[i], 0) / total);
}

// The label to report: the most probable one, `uncertain` when its probability is below `minConfidence`.
export function verdict(probs, labels, minConfidence) {
  const top = probs.indexOf(Math.max(...probs));
  const uncertain = minConfidence != null && probs[top] < minConfidence;
  return {emotion: labels[top], probability: probs[top], uncertain};
}
