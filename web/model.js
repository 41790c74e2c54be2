// A distilser model in ONNX Runtime Web: its contract read from the file's metadata, logits for one window.
import { ort, fetchBytes } from './runtime.js';
import { onnxMetadata, modelContract } from './contract.js';

export class EmotionModel {
  static async open(url) {
    const bytes = await fetchBytes(url);
    const contract = modelContract(onnxMetadata(bytes), url);
    const session = await ort.InferenceSession.create(bytes, {executionProviders: ['wasm']});
    return new EmotionModel(session, contract, bytes.length);
  }

  constructor(session, contract, size) {
    Object.assign(this, {session, contract, size});
  }

  // The logits of one prepared window (prepareWindow), and the milliseconds the model took.
  async logits(x) {
    const t0 = performance.now();
    const input = new ort.Tensor('float32', x, [1, x.length]);
    const out = await this.session.run({[this.session.inputNames[0]]: input});
    return {logits: Array.from(out[this.session.outputNames[0]].data), ms: performance.now() - t0};
  }
}
