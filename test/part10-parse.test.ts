import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { parseInstance } from '../src/dicom/part10.ts';
import { toDicomJson } from '../src/dicom/json.ts';
import { T } from '../src/dicom/dictionary.ts';

const DICOM_DIR = path.resolve(import.meta.dirname, '../../shared/data/dicom');

function dicomFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? dicomFiles(p) : e.name.endsWith('.dcm') ? [p] : [];
  });
}

/** The metadata as a full dcmjs parse gives it (pixel data walked too). */
function fullParseMetadata(bytes: Buffer): Record<string, unknown> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  const msg = dcmjs.data.DicomMessage.readFile(ab, { noCopy: true });
  const meta = toDicomJson(msg.dict);
  const ts = String((msg.meta['00020010']?.Value as string[])[0]).replace(/\0/g, '').trim();
  meta[T.AvailableTransferSyntaxUID] = { vr: 'UI', Value: [ts] };
  return meta;
}

describe('parseInstance', () => {
  const files = dicomFiles(DICOM_DIR);

  it('finds the shared DICOM files', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  // parseInstance stops dcmjs at Pixel Data when it is the last element: the metadata must not change.
  it.each(files.map((f) => [path.relative(DICOM_DIR, f), f]))('gives the metadata of a full parse: %s', (_name, file) => {
    const bytes = fs.readFileSync(file);
    expect(parseInstance(bytes).metadata).toEqual(fullParseMetadata(bytes));
  });

  it('keeps the elements that follow Pixel Data (full parse then)', () => {
    const metadata = parseInstance(fs.readFileSync(path.join(DICOM_DIR, 'cr-wg04/RG3_UNC.dcm'))).metadata;
    expect(Object.keys(metadata)).toContain('FFFCFFFC'); // Data Set Trailing Padding after Pixel Data
    expect(metadata['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: 'bulkdata/7FE00010' });
  });
});
