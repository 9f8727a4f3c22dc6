/** Worker thread that runs the codecs, so a WASM abort or a hang cannot take the server down. */
import { parentPort } from 'node:worker_threads';
import { decodeFrameSync, initCodecs, type FrameGeometry } from './codecs.ts';
import type { CodecFamily } from './uids.ts';
import type { J2kDecoder } from './openjpeg-native.ts';
import type { SampleRange } from './pixels.ts';

export interface DecodeRequest {
  id: number;
  family: CodecFamily;
  geometry: FrameGeometry;
  encoded: Uint8Array;
  /** JPEG 2000 resolution levels to drop (rendering); 0 = full size. */
  reduce?: number;
  /** JPEG 2000 decoder, chosen by the caller's thread (default: this thread's j2kDecoder()). */
  j2k?: J2kDecoder;
}
export type DecodeResponse =
  | { ready: true }
  | { id: number; ok: true; bytes: Uint8Array; photometricInterpretation: string; range?: SampleRange }
  | { id: number; ok: false; message: string };

const port = parentPort;
if (port) {
  const init = initCodecs();
  void init.then(() => port.postMessage({ ready: true }), () => undefined);
  port.on('message', (req: DecodeRequest) => {
    init
      .then(() => {
        const r = decodeFrameSync(req.family, req.encoded, req.geometry, req.reduce ?? 0, req.j2k);
        const msg: DecodeResponse = { id: req.id, ok: true, bytes: r.bytes, photometricInterpretation: r.photometricInterpretation, ...(r.range ? { range: r.range } : {}) };
        port.postMessage(msg, [r.bytes.buffer as ArrayBuffer]);
      })
      .catch((e: unknown) => {
        const message = e instanceof Error ? e.message : String(e);
        port.postMessage({ id: req.id, ok: false, message } satisfies DecodeResponse);
      });
  });
}
