// distilser.pipeline.analyze_file in the page: VAD, windows of the model's length over the speech, the model on
// each window, the windows' probabilities averaged by their seconds of speech. A recording from the microphone
// is analysed as it grows (LiveAnalysis), then once more as a whole, exactly as a file is.
import { speechRegions, windowBounds, speechLength, speechToFile, speechSamples, prepareWindow, softmax,
         noteProbabilities, verdict } from './pipeline.js';

// One window of speech positions [s0, s1): its place in the recording (seconds), probabilities and model time.
export async function classifyWindow(x, regions, [s0, s1], model) {
  const c = model.contract, rate = c.sampleRate;
  const {logits, ms} = await model.logits(prepareWindow(speechSamples(x, regions, s0, s1), c.preprocessing));
  const probabilities = softmax(logits, c.temperature);
  return {start: speechToFile(s0, regions) / rate, end: (speechToFile(s1 - 1, regions) + 1) / rate,
          speech: (s1 - s0) / rate, probabilities, ms, ...verdict(probabilities, c.labels, c.minConfidence.window)};
}

// What `distilser analyze` reports for the 16 kHz samples `x`; `onWindow(w)` sees each window as it is done.
export async function analyzeSamples(x, {vad, model, pipe}, onWindow = () => {}) {
  const rate = model.contract.sampleRate, t0 = performance.now();
  vad.reset();
  const regions = speechRegions(await vad.probabilities(x), x.length, pipe);
  const vadMs = performance.now() - t0;
  const window = Math.round(model.contract.windowSeconds * rate);
  const bounds = windowBounds(speechLength(regions), window, window, Math.round(pipe.min_tail_seconds * rate));
  const windows = [];
  for (const b of bounds) {
    windows.push(await classifyWindow(x, regions, b, model));
    onWindow(windows[windows.length - 1]);
  }
  return {...note(windows, model.contract, pipe), duration: x.length / rate, windows, vadMs,
          speech: regions.map(([a, b]) => [a / rate, b / rate]), ms: performance.now() - t0};
}

// The note's distribution, label and arousal (arousal_summary); no probabilities when there is no speech.
function note(windows, contract, pipe) {
  if (!windows.length) return {probabilities: null};
  const probabilities = noteProbabilities(windows.map(w => w.probabilities), windows.map(w => w.speech));
  const level = l => contract.labels.reduce((s, label, k) => s + (pipe.arousal[label] === l ? probabilities[k] : 0), 0);
  const high = level('high'), low = level('low');
  return {probabilities, ...verdict(probabilities, contract.labels, contract.minConfidence.note),
          arousal: {level: high >= low ? 'high' : 'low', high, low}};
}

// A recording analysed while it grows: the VAD runs on each new frame, and every time the speech so far fills
// one more window, that window is classified. `finish()` then analyses the whole recording as a file.
export class LiveAnalysis {
  constructor(parts, onWindow) {
    Object.assign(this, {parts, onWindow, x: new Float32Array(parts.model.contract.sampleRate * 30), n: 0});
    this.probs = [];
    this.windows = 0;
    this.work = Promise.resolve();
    parts.vad.reset();
  }

  push(samples) {
    if (this.n + samples.length > this.x.length) {  // doubling keeps appends cheap
      const bigger = new Float32Array(2 * (this.n + samples.length));
      bigger.set(this.x.subarray(0, this.n));
      this.x = bigger;
    }
    this.x.set(samples, this.n);
    this.n += samples.length;
    this.work = this.work.then(() => this.step());
  }

  get seconds() { return this.n / this.parts.model.contract.sampleRate; }

  async step() {
    const {vad, model, pipe} = this.parts, frame = pipe.vad_frame, done = this.probs.length * frame;
    const frames = Math.floor((this.n - done) / frame);
    if (!frames) return;
    this.probs.push(...await vad.probabilities(this.x.subarray(done, done + frames * frame)));
    const heard = this.probs.length * frame, regions = speechRegions(this.probs, heard, pipe);
    const window = Math.round(model.contract.windowSeconds * model.contract.sampleRate);
    for (; (this.windows + 1) * window <= speechLength(regions); this.windows++) {
      this.onWindow(await classifyWindow(this.x, regions, [this.windows * window, (this.windows + 1) * window], model));
    }
  }

  async finish() {
    await this.work;
    return analyzeSamples(this.x.slice(0, this.n), this.parts);
  }
}
