/**
 * A test inference backend (CARPUS_ANALYSIS_INFERENCE_MODULE) for the queue, idempotency,
 * delivery and crash tests, which must run without model weights. It is never used by default
 * and its numbers are labelled with the model name "test-stub": the end-to-end tests use the
 * real engine. Behaviour from the node's environment:
 *   CARPUS_STUB_DELAY_MS       time each inference takes (default 50)
 *   CARPUS_STUB_VERSION        model version (default "1.0.0")
 *   CARPUS_STUB_FAIL_FIRST     the first N inferences of this process throw
 *   CARPUS_STUB_FAIL_ALWAYS    every inference throws
 *   CARPUS_STUB_BONE_AGE       months (default 120)
 *   CARPUS_STUB_REJECT         reject with this reason
 * and per instance from its AccessionNumber: "FAILALWAYS" throws, "REJECT" is rejected.
 */
import { createHash } from 'node:crypto';
import { parseInstance } from '../../src/dicom/part10.ts';
import { int, str } from '../../src/dicom/json.ts';
import { T } from '../../src/dicom/dictionary.ts';
import type { InferenceBackend, InferenceOutcome } from '../../src/analysis/analyzer.ts';

export default function stub(env: NodeJS.ProcessEnv): InferenceBackend {
  const delay = Number(env.CARPUS_STUB_DELAY_MS ?? 50);
  const version = env.CARPUS_STUB_VERSION ?? '1.0.0';
  let failFirst = Number(env.CARPUS_STUB_FAIL_FIRST ?? 0);
  let calls = 0;
  return {
    async model() {
      return { name: 'test-stub', version, sha256: createHash('sha256').update(`test-stub ${version}`).digest('hex') };
    },
    async infer(part10): Promise<InferenceOutcome> {
      calls++;
      await new Promise((r) => setTimeout(r, delay));
      const p = parseInstance(Buffer.from(part10));
      const accession = str(p.metadata, T.AccessionNumber);
      if (env.CARPUS_STUB_FAIL_ALWAYS || accession === 'FAILALWAYS') throw new Error('stub inference failure (always)');
      if (failFirst > 0) {
        failFirst--;
        throw new Error(`stub inference failure ${calls}`);
      }
      if (env.CARPUS_STUB_REJECT || accession === 'REJECT') return { status: 'rejected', reason: env.CARPUS_STUB_REJECT ?? 'stub rejection', code: 'stub', executionProvider: 'stub' };
      const width = int(p.metadata, T.Columns) ?? 64;
      const height = int(p.metadata, T.Rows) ?? 64;
      const data = new Float32Array(width * height);
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = (x / width) * (y / height);
      return { status: 'ok', boneAgeMonths: Number(env.CARPUS_STUB_BONE_AGE ?? 120), sex: 'F', executionProvider: 'stub', heatmap: { width, height, data, method: 'stub gradient' } };
    },
    async close() {},
  };
}
