// The page: load the models, then analyse a dropped or picked file or a recording from the microphone.
// Every step says what it does in the status line; any failure is one line there, and the page stays usable.
import { fetchBytes, numThreads } from './runtime.js';
import { VAD } from './vad.js';
import { EmotionModel } from './model.js';
import { decodeFile, startMicrophone } from './audio.js';
import { analyzeSamples, LiveAnalysis } from './analyze.js';
import { Timeline, noteText } from './timeline.js';

const here = new URL('./', import.meta.url);
const json = async name => JSON.parse(new TextDecoder().decode(await fetchBytes(new URL(name, here))));

export async function start(app) {
  const $ = id => app.querySelector(`#ds-${id}`);
  const status = $('status'), note = $('note'), select = $('model'), card = $('card'), record = $('record');
  const file = $('file'), drop = $('drop');
  const say = (text, state) => {
    status.textContent = text;
    status.classList.toggle('ds-error', state === 'error');
    app.dataset.state = state;
  };
  let parts, timeline, stopMicrophone = null;
  const enable = on => { for (const e of [select, record, file]) e.disabled = !on; };

  async function useModel(entry) {
    enable(false);
    say(`loading ${entry.name} (${(entry.bytes / 1e6).toFixed(1)} MB)…`, 'loading');
    const t0 = performance.now();
    const model = await EmotionModel.open(new URL(entry.file, here));
    // one silent window through both models: the browser compiles the WASM paths they take before any note comes
    const c = model.contract, silence = new Float32Array(Math.round(c.windowSeconds * c.sampleRate));
    await model.logits(silence);
    parts.vad.reset();
    await parts.vad.probabilities(silence);
    parts = {...parts, model};
    app.dataset.labels = JSON.stringify(c.labels);
    card.href = new URL(entry.card, here).href;
    card.hidden = false;
    say(`ready: ${entry.name}, ${c.windowSeconds} s windows, labels ${c.labels.join(', ')}` +
        `${c.randomWeights ? ' (random weights: its outputs mean nothing)' : ''}; ` +
        `ONNX Runtime Web on ${numThreads()} thread${numThreads() === 1 ? '' : 's'}, loaded in ` +
        `${(performance.now() - t0).toFixed(0)} ms`, 'ready');
    enable(true);
  }

  function show(result, what, decodeMs = 0) {
    note.textContent = `${what}: ${noteText(result, parts.model.contract.labels)}`;
    Object.assign(note.dataset, {emotion: result.emotion ?? '', uncertain: !!result.uncertain,
                                 probabilities: JSON.stringify(result.probabilities)});
    timeline.setDuration(result.duration);
    note.dataset.ms = decodeMs + result.ms;
    say(`${what}: analysed in ${(decodeMs + result.ms).toFixed(0)} ms (` +
        (decodeMs ? `decoding ${decodeMs.toFixed(0)} ms, ` : '') +
        `VAD ${result.vadMs.toFixed(0)} ms, model ` +
        `${result.windows.reduce((s, w) => s + w.ms, 0).toFixed(0)} ms for ${result.windows.length} windows)`, 'done');
  }

  function fresh() {
    timeline = new Timeline($('timeline'), parts.model.contract.labels);
    note.textContent = '';
    for (const k of Object.keys(note.dataset)) delete note.dataset[k];
  }

  async function analyzeFile(f) {
    enable(false);
    fresh();
    try {
      say(`${f.name}: decoding…`, 'busy');
      const t0 = performance.now(), x = await decodeFile(f, parts.model.contract.sampleRate);
      const decodeMs = performance.now() - t0;
      timeline.setDuration(x.length / parts.model.contract.sampleRate);
      say(`${f.name}: finding speech, then the emotion of each window…`, 'busy');
      show(await analyzeSamples(x, parts, w => timeline.add(w)), f.name, decodeMs);
    } catch (e) {
      say(e.message, 'error');
    } finally {
      enable(true);
    }
  }

  async function toggleRecording() {
    if (stopMicrophone) {  // second click: stop, then analyse the whole recording as a file is analysed
      const stop = stopMicrophone;
      stopMicrophone = null;
      record.disabled = true;
      try {
        const result = await stop();
        fresh();  // the live bars give way to the final analysis
        result.windows.forEach(w => timeline.add(w));
        show(result, 'recording');
      } catch (e) {
        say(`recording: ${e.message}`, 'error');
      }
      record.textContent = '● Record';
      enable(true);
      return;
    }
    enable(false);
    fresh();
    try {
      const live = new LiveAnalysis(parts, w => timeline.add(w));
      const stop = await startMicrophone(parts.model.contract.sampleRate, samples => {
        live.push(samples);
        timeline.setDuration(live.seconds);
        say(`recording: ${live.seconds.toFixed(1)} s (a bar appears for every ` +
            `${parts.model.contract.windowSeconds} s of speech)`, 'recording');
      });
      stopMicrophone = async () => {
        await stop();
        say('analysing the recording…', 'busy');
        return live.finish();
      };
      record.textContent = '■ Stop';
      record.disabled = false;
      say('recording: speak now', 'recording');
    } catch (e) {
      say(`microphone: ${e.message}`, 'error');
      enable(true);
    }
  }

  try {
    say('loading ONNX Runtime Web and silero\'s VAD…', 'loading');
    const [pipe, models] = await Promise.all([json('pipeline.json'), json('models.json')]);
    parts = {pipe, vad: await VAD.open(new URL(pipe.vad_model, here), pipe)};
    for (const m of models) select.add(new Option(m.name, m.file));
    select.onchange = () => useModel(models.find(m => m.file === select.value))
      .catch(e => { say(e.message, 'error'); enable(!!parts.model); });
    record.onclick = toggleRecording;
    file.onchange = () => file.files.length && analyzeFile(file.files[0]).finally(() => { file.value = ''; });
    drop.ondragover = e => e.preventDefault();
    drop.ondrop = e => {
      e.preventDefault();
      if (!file.disabled && e.dataTransfer.files.length) analyzeFile(e.dataTransfer.files[0]);  // not while busy
    };
    await useModel(models[0]);
  } catch (e) {
    say(e.message, 'error');
  }
}
