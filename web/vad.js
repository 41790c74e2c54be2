// silero's VAD (the ONNX file distilser.pipeline.vad_model_path() returns), as distilser.pipeline.StreamingVAD runs
// it: 512-sample frames, each with the 64 samples before it, the LSTM state carried from frame to frame and from
// call to call, the last frame zero-padded. distilser ships a form of the model that takes all the frames of a block
// in one call (inputs `input` [frames, 576] and `state`); silero's own file takes one frame per call and the rate
// (`sr`): the page runs whichever file the build copied.
import { ort, fetchBytes } from './runtime.js';

export class VAD {
  static async open(url, c) {
    const session = await ort.InferenceSession.create(await fetchBytes(url), {executionProviders: ['wasm']});
    return new VAD(session, c);
  }

  constructor(session, c) {
    this.session = session;
    this.frame = c.vad_frame;
    this.contextSize = c.vad_context;
    this.rate = session.inputNames.includes('sr') ?
      new ort.Tensor('int64', BigInt64Array.from([BigInt(c.sample_rate)]), []) : null;
    this.reset();
  }

  // Start a new recording.
  reset() {
    this.state = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
    this.context = new Float32Array(this.contextSize);
  }

  // Speech probability of each frame of the next 16 kHz `block` (a whole recording, or the next whole frames of one).
  async probabilities(block) {
    const n = Math.ceil(block.length / this.frame), width = this.contextSize + this.frame;
    const frames = new Float32Array(n * width);  // row i: the 64 samples before frame i, then frame i
    for (let i = 0; i < n; i++) {
      frames.set(i ? block.subarray(i * this.frame - this.contextSize, i * this.frame) : this.context, i * width);
      frames.set(block.subarray(i * this.frame, (i + 1) * this.frame), i * width + this.contextSize);
    }
    if (n) this.context = frames.slice(n * width - this.contextSize);
    if (!this.rate) return this.run(frames, n, width);
    const probs = new Float32Array(n);
    for (let i = 0; i < n; i++) probs[i] = (await this.run(frames.subarray(i * width, (i + 1) * width), 1, width))[0];
    return probs;
  }

  async run(frames, n, width) {
    const feeds = {input: new ort.Tensor('float32', frames, [n, width]), state: this.state};
    if (this.rate) feeds.sr = this.rate;
    const out = await this.session.run(feeds);
    this.state = out.stateN;
    return out.output.data;
  }
}
