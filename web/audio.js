// Audio in: a file decoded by the browser, or the microphone; both as mono float32 at the model's rate.
// Channels become one by distilser.preprocessing.to_mono's rule: their mean, unless it keeps less than half the
// louder channel's power (two microphones that cancel), then the louder channel. The browser, not soxr, resamples:
// the one step where the page and Python may differ (measured in the chapter).

// The samples of `file` (a File or Blob with a name) at `rate` Hz, mono.
export async function decodeFile(file, rate) {
  if (!file.size) throw new Error(`${file.name}: empty file`);
  let buffer;
  try {
    buffer = await new OfflineAudioContext(1, 1, rate).decodeAudioData(await file.arrayBuffer());
  } catch {
    throw new Error(`${file.name}: cannot decode audio (not a WAV, FLAC, OGG or MP3 file that this browser reads)`);
  }
  if (!buffer.length) throw new Error(`${file.name}: no audio samples`);
  return mono(buffer);
}

function mono(buffer) {
  const channels = Array.from({length: buffer.numberOfChannels}, (_, c) => buffer.getChannelData(c));
  if (channels.length === 1) return channels[0];
  const mean = new Float32Array(buffer.length);
  for (const ch of channels) for (let i = 0; i < mean.length; i++) mean[i] += ch[i];
  for (let i = 0; i < mean.length; i++) mean[i] /= channels.length;  // summed, then divided: as numpy's mean
  const power = x => x.reduce((sum, v) => sum + v * v, 0);
  const powers = channels.map(power);
  const louder = powers.indexOf(Math.max(...powers));
  return power(mean) >= powers[louder] / 2 ? mean : channels[louder];
}

// Record from the microphone at `rate` Hz; `onSamples(Float32Array)` receives the audio as it comes.
// Returns a function that stops the recording. The audio never leaves the page.
export async function startMicrophone(rate, onSamples) {
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: {channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  const ctx = new AudioContext({sampleRate: rate});  // the browser resamples the microphone to `rate`
  await ctx.audioWorklet.addModule(new URL('./capture-worklet.js', import.meta.url));
  const source = ctx.createMediaStreamSource(stream);
  const capture = new AudioWorkletNode(ctx, 'distilser-capture');
  const mute = new GainNode(ctx, {gain: 0});  // a node is only pulled when it leads to the speakers: silently
  capture.port.onmessage = e => onSamples(e.data);
  source.connect(capture).connect(mute).connect(ctx.destination);
  await ctx.resume();
  return async () => {
    stream.getTracks().forEach(t => t.stop());
    capture.port.postMessage('flush');
    await new Promise(resolve => {
      capture.port.onmessage = e => e.data === 'flushed' ? resolve() : onSamples(e.data);
    });
    await ctx.close();
  };
}
