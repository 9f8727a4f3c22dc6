import fs from 'node:fs';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { parseInstance } from '../src/dicom/part10.ts';
import { toDicomJson } from '../src/dicom/json.ts';
import { T } from '../src/dicom/dictionary.ts';
import { sharedDicomFiles } from './helpers/node.ts';

describe('parseInstance', () => {
  const files = sharedDicomFiles();

  it('keeps the data set as DICOM JSON text and gives the same full data set on every read of metadata', () => {
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      const p = parseInstance(bytes);
      // The tree dcmjs gives for the same file, built independently of parseInstance.
      const ref = toDicomJson(dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer).dict);
      ref[T.AvailableTransferSyntaxUID] = { vr: 'UI', Value: [p.TransferSyntaxUID] };
      expect(p.metadata, f).toEqual(ref);
      expect(JSON.parse(p.metadataJson!), f).toEqual(ref);
      expect(p.metadata[T.SOPInstanceUID]?.Value?.[0], f).toBe(p.SOPInstanceUID);
    }
  });

  it('gives each reader its own tree: changing one read changes neither the next read nor the text', () => {
    const p = parseInstance(fs.readFileSync(files[0]!));
    const text = p.metadataJson;
    const a = p.metadata;
    a[T.PatientName] = { vr: 'PN', Value: [{ Alphabetic: 'Changed^Name' }] };
    delete a[T.SOPInstanceUID];
    expect(p.metadata).not.toBe(a);
    expect(p.metadata[T.SOPInstanceUID]?.Value?.[0]).toBe(p.SOPInstanceUID);
    expect(p.metadata[T.PatientName]).not.toEqual(a[T.PatientName]);
    expect(p.metadataJson).toBe(text);
    // A copy made with spread keeps the data set (listeners and routing spread outcomes).
    expect({ ...p }.metadata).toEqual(p.metadata);
  });
});
