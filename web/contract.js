// The model's contract, read from its own ONNX file, as distilser.export.OnnxClassifier reads it in Python.
// ONNX Runtime Web does not expose an ONNX file's metadata_props, so the few protobuf fields that hold them
// are read here: ModelProto field 14, repeated {1: key, 2: value}; every other field is skipped unread.
const METADATA_PROPS = 14;
const text = new TextDecoder();

function varint(bytes, pos) {
  let value = 0, scale = 1, b;
  do {
    if (pos >= bytes.length) throw new Error('truncated');
    b = bytes[pos++];
    value += (b & 0x7f) * scale;  // multiplication, not <<: lengths may pass 2^31
    scale *= 128;
  } while (b & 0x80);
  return [value, pos];
}

// Yield [field number, bytes] of the length-delimited fields of one protobuf message; skip the others.
function* fields(bytes) {
  let pos = 0, key, n;
  while (pos < bytes.length) {
    [key, pos] = varint(bytes, pos);
    const wire = key % 8;
    if (wire === 0) [, pos] = varint(bytes, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      [n, pos] = varint(bytes, pos);
      if (pos + n > bytes.length) throw new Error('truncated');
      yield [Math.floor(key / 8), bytes.subarray(pos, pos + n)];
      pos += n;
    } else throw new Error(`protobuf wire type ${wire}`);
  }
}

// {key: value} of the metadata_props of the ONNX file `bytes` (a Uint8Array).
export function onnxMetadata(bytes) {
  const meta = {};
  for (const [field, entry] of fields(bytes)) {
    if (field !== METADATA_PROPS) continue;
    const kv = Object.fromEntries([...fields(entry)].map(([f, b]) => [f, text.decode(b)]));
    meta[kv[1]] = kv[2] ?? '';
  }
  return meta;
}

// What the page needs from a distilser model's metadata; `name` says which file in errors.
// `calibration` is optional (distilser.export.read_calibration): without it the temperature is 1 and no
// probability is too low to report.
export function modelContract(meta, name) {
  if (!('distilser_labels' in meta)) {
    throw new Error(`${name}: not a distilser model (an ONNX file without distilser metadata)`);
  }
  let calibration = {};
  try {
    if (meta.calibration) calibration = JSON.parse(meta.calibration);
  } catch {
    throw new Error(`${name}: unreadable calibration metadata (expected JSON with a temperature)`);
  }
  return {
    labels: JSON.parse(meta.distilser_labels),
    sampleRate: Number(meta.sample_rate),
    windowSeconds: Number(meta.window_seconds),
    preprocessing: JSON.parse(meta.preprocessing),
    randomWeights: meta.random_weights === 'true',
    description: meta.description || '',
    temperature: calibration.temperature ?? 1,
    minConfidence: calibration.min_confidence ?? {},
  };
}
