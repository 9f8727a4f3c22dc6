/**
 * The decode pool moves a handed-over encoded frame to its worker only when the caller's array is
 * the whole of its ArrayBuffer (a frame joined from several fragments); a view into the file is
 * copied, so the file stays usable, and a frame not handed over is never detached. Decoded samples
 * are the same either way (RG3_J2KR: 16 fragments; the CT JPEG 2000 file: one fragment, a view).
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodePool } from '../src/pixel/decode-pool.ts';
import { decode, parsePart10 } from '../src/pixel/index.ts';
import { encapsulatedFrame } from '../src/pixel/parse.ts';
import { countDiffs, dataFile } from './pixel-helpers.ts';

const pool = new DecodePool();
afterAll(() => pool.close());

function geometryOf(file: string) {
  const parsed = parsePart10(fs.readFileSync(file));
  const p = parsed.pixel;
  const g = { rows: p.rows, columns: p.columns, samplesPerPixel: p.samplesPerPixel, bitsAllocated: p.bitsAllocated, bitsStored: p.bitsStored, pixelRepresentation: p.pixelRepresentation, photometricInterpretation: p.photometricInterpretation };
  return { parsed, g };
}

describe('decode pool hand-over of the encoded frame', () => {
  it('moves a joined frame (whole buffer) when handed over, copies it otherwise; same samples', async () => {
    const { parsed, g } = geometryOf(dataFile('cr-wg04/RG3_J2KR.dcm'));
    expect(parsed.pixelDataElement.fragments!.length).toBeGreaterThan(1);
    const kept = encapsulatedFrame(parsed, 0);
    expect(kept.byteOffset === 0 && kept.byteLength === kept.buffer.byteLength).toBe(true);
    const length = kept.byteLength;
    const a = await pool.decode('jpeg2000', kept, g); // not handed over: copied
    expect(kept.byteLength).toBe(length);
    const moved = encapsulatedFrame(parsed, 0);
    const b = await pool.decode('jpeg2000', moved, g, 0, true);
    expect(moved.byteLength).toBe(0); // transferred to the worker, not copied
    expect(b.bytes.length).toBe(a.bytes.length);
    expect(countDiffs(b.bytes, a.bytes)).toBe(0);
  });

  it('copies a handed-over view into the file, which stays readable', async () => {
    const file = dataFile('ts-matrix-ct/CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm');
    const { parsed, g } = geometryOf(file);
    const view = encapsulatedFrame(parsed, 0);
    expect(view.byteLength).toBeLessThan(view.buffer.byteLength); // a view into the file
    const length = parsed.byteArray.byteLength;
    await pool.decode('jpeg2000', view, g, 0, true);
    expect(parsed.byteArray.byteLength).toBe(length);
    expect(view.byteLength).toBeGreaterThan(0);
    // decode() hands its frames over: the parsed file decodes again afterwards.
    const first = await decode(parsed, { decoder: pool });
    const again = await decode(parsed, { decoder: pool });
    expect(countDiffs(first.frames[0]!, again.frames[0]!)).toBe(0);
  });
});
