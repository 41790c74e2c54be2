// ONNX Runtime Web, served from the site itself (web/ort/, copied from node_modules by the docs build).
// The wasm files lie beside ort.wasm.min.mjs; threads need a cross-origin isolated page (COOP/COEP headers),
// so on a plain static server ONNX Runtime runs on one thread.
import * as ort from './ort/ort.wasm.min.mjs';

ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
const threads = Number(new URLSearchParams(location.search).get('threads'));
if (threads) ort.env.wasm.numThreads = threads;  // ?threads=N: what bench/web_speed.py compares

export { ort };
export const numThreads = () => ort.env.wasm.numThreads;

export async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}
