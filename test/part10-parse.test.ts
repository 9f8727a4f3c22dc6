import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { instanceFields, parseInstance } from '../src/dicom/part10.ts';
import { int, str, toDicomJson } from '../src/dicom/json.ts';
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

  /** The file with a Data Set Trailing Padding (FFFC,FFFC) element of 6 bytes appended, in its transfer syntax. */
  function withTrailingPadding(bytes: Buffer, transferSyntaxUID: string): Buffer {
    const value = Buffer.from([1, 2, 3, 4, 5, 6]);
    let header: Buffer;
    if (transferSyntaxUID === '1.2.840.10008.1.2') {
      header = Buffer.from([0xfc, 0xff, 0xfc, 0xff, 6, 0, 0, 0]); // implicit VR little endian
    } else if (transferSyntaxUID === '1.2.840.10008.1.2.2') {
      header = Buffer.from([0xff, 0xfc, 0xff, 0xfc, 0x4f, 0x42, 0, 0, 0, 0, 0, 6]); // explicit VR big endian
    } else {
      header = Buffer.from([0xfc, 0xff, 0xfc, 0xff, 0x4f, 0x42, 0, 0, 6, 0, 0, 0]); // explicit VR little endian
    }
    return Buffer.concat([bytes, header, value]);
  }

  // Elements after Pixel Data are parsed on their own (dcmjs still skips the pixel data): native
  // and encapsulated (undefined length) pixel data, implicit, explicit and big endian syntaxes.
  const notDeflated = files.filter((f) => !/deflate/i.test(f));
  it.each(notDeflated.map((f) => [path.relative(DICOM_DIR, f), f]))('gives the metadata of a full parse with an element after Pixel Data: %s', (_name, file) => {
    const original = fs.readFileSync(file);
    const bytes = withTrailingPadding(original, parseInstance(original).TransferSyntaxUID);
    const metadata = parseInstance(bytes).metadata;
    const full = fullParseMetadata(bytes);
    expect(full).toHaveProperty('FFFCFFFC');
    expect(metadata).toEqual(full);
    expect(Object.keys(metadata)).toEqual(Object.keys(full));
  });

  // The index row and the audit take these from `fields` instead of re-parsing the metadata.
  it.each(files.map((f) => [path.relative(DICOM_DIR, f), f]))('reads the instance fields at parse time as the metadata gives them: %s', (_name, file) => {
    const p = parseInstance(fs.readFileSync(file));
    const m = p.metadata;
    expect(p.fields).toEqual({
      InstanceNumber: int(m, T.InstanceNumber),
      NumberOfFrames: int(m, T.NumberOfFrames),
      Rows: int(m, T.Rows),
      Columns: int(m, T.Columns),
      AccessionNumber: str(m, T.AccessionNumber),
    });
    expect(p.fields?.Rows).toBeGreaterThan(0);
    expect(instanceFields({ ...p, fields: undefined, metadata: m })).toEqual(p.fields);
  });

  it('keeps the elements that follow Pixel Data', () => {
    const metadata = parseInstance(fs.readFileSync(path.join(DICOM_DIR, 'cr-wg04/RG3_UNC.dcm'))).metadata;
    expect(Object.keys(metadata)).toContain('FFFCFFFC'); // Data Set Trailing Padding after Pixel Data
    expect(metadata['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: 'bulkdata/7FE00010' });
  });
});
