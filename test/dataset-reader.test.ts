import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import { dcmjsMetadata, parseInstance, parseStructure, readMetadata } from '../src/dicom/part10.ts';
import { readDataSetLikeDcmjs } from '../src/dicom/dataset-reader.ts';

// The metadata read from dicom-parser's walk (src/dicom/dataset-reader.ts) must equal dcmjs's own
// reading, element by element, wherever it is used; where it is not, parseInstance reads with dcmjs.

const DICOM_DIR = path.resolve(import.meta.dirname, '../../shared/data/dicom');

function dicomFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? dicomFiles(p) : e.name.endsWith('.dcm') ? [p] : [];
  });
}

function transferSyntax(structure: ReturnType<typeof parseStructure>): string {
  return structure.string('x00020010')!.replace(/\0/g, '').trim();
}

/** Both readings of one file; `fast` is undefined where the reader leaves the file to dcmjs. */
function both(bytes: Uint8Array): { fast: unknown; reference: unknown } {
  const structure = parseStructure(bytes);
  const ts = transferSyntax(structure);
  const fast = readDataSetLikeDcmjs(structure, ts) ? readMetadata(bytes, structure, ts) : undefined;
  return { fast, reference: dcmjsMetadata(bytes, structure, ts) };
}

const { DicomDict, DicomMetaDictionary } = dcmjs.data;
const CT = path.join(DICOM_DIR, 'ts-matrix-ct/CTImage.dcm');

/** A Part 10 file written by dcmjs from the shared CT's data set with `extra` (naturalized attributes) set. */
function synthetic(extra: Record<string, unknown>, transferSyntaxUID = '1.2.840.10008.1.2.1', vrMap: Record<string, string> = {}): Buffer {
  const f = fs.readFileSync(CT);
  const msg = dcmjs.data.DicomMessage.readFile(f.buffer.slice(f.byteOffset, f.byteOffset + f.length) as ArrayBuffer);
  const ds = DicomMetaDictionary.naturalizeDataset(msg.dict) as Record<string, unknown>;
  const meta = DicomMetaDictionary.naturalizeDataset(msg.meta) as Record<string, unknown>;
  Object.assign(ds, { Rows: 4, Columns: 4, PixelData: [new Uint16Array(16).buffer] }, extra);
  ds._vrMap = { ...((ds._vrMap as Record<string, string>) ?? {}), PixelData: 'OW', ...vrMap };
  meta.TransferSyntaxUID = transferSyntaxUID;
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

describe('metadata from dicom-parser\'s walk (dataset-reader)', () => {
  const files = dicomFiles(DICOM_DIR);

  it('finds the shared DICOM files (15 transfer syntaxes)', () => {
    expect(files.length).toBeGreaterThanOrEqual(26);
    const syntaxes = new Set(files.map((f) => transferSyntax(parseStructure(fs.readFileSync(f)))));
    expect(syntaxes.size).toBeGreaterThanOrEqual(15);
  });

  // Deflated data sets are left to dcmjs (see readDataSetLikeDcmjs); every other file is read by the reader.
  it.each(files.map((f) => [path.relative(DICOM_DIR, f), f]))('equals dcmjs\'s reading, deflated files left to dcmjs: %s', (_name, file) => {
    const bytes = fs.readFileSync(file);
    const deflated = transferSyntax(parseStructure(bytes)) === '1.2.840.10008.1.2.1.99';
    expect(/deflate/i.test(file)).toBe(deflated);
    const { fast, reference } = both(bytes);
    if (deflated) {
      expect(fast).toBeUndefined();
      expect(parseInstance(bytes).metadata).toEqual({ ...(reference as object), '00083002': { vr: 'UI', Value: ['1.2.840.10008.1.2.1.99'] } });
      return;
    }
    expect(fast).toBeDefined();
    expect(fast).toEqual(reference);
    expect(Object.keys(fast as object)).toEqual(Object.keys(reference as object));
  });

  const cases: [string, Buffer][] = [
    ['empty values of every string VR', synthetic({
      PatientName: '', PatientID: '', AccessionNumber: '', StudyDescription: '', ImageComments: '', PatientAge: '',
      StudyDate: '', StudyTime: '', AcquisitionDateTime: '', SliceThickness: '', SeriesNumber: '', ContentLabel: '',
      RetrieveURL: '', StationAETitle: '', PatientComments: '', TextValue: '',
    })],
    ['multi-valued strings and numbers, odd lengths, padding', synthetic({
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL', 'X'], PixelSpacing: [0.5, 0.25], ImagePositionPatient: [-125, '+1.5e2', ' 3.0 '],
      WindowCenter: ['40', '400'], WindowWidth: [350, 1500], ReferencedFrameNumber: [1, 2, 3], OtherPatientIDs: 'A\\B',
      PatientWeight: '70.', InstanceNumber: ' 7 ', NumberOfFrames: '1',
    })],
    ['DS and IS strings dcmjs reads as null or odd numbers', synthetic({
      PixelSpacing: ['1,5', 'abc'], ImagePositionPatient: ['+1.5E2', '-0', '1e400'], SliceThickness: ' 2.50 ', SliceLocation: '.5',
      WindowCenter: ['', '7'], InstanceNumber: '1.5', SeriesNumber: '+007', AcquisitionNumber: '-3', ReferencedFrameNumber: ['1', ' 2', 'x'],
    })],
    ['PN with components and several names', synthetic({
      PatientName: [{ Alphabetic: 'Yamada^Tarou', Ideographic: 'Y^T', Phonetic: 'ya^ta' }],
      ReferringPhysicianName: [{ Alphabetic: 'A^B' }, { Alphabetic: 'C^D' }],
      PerformingPhysicianName: '=Ideo^Only',
    })],
    ['binary and numeric VRs', synthetic({
      SmallestImagePixelValue: 0, LargestImagePixelValue: 4095, FrameIncrementPointer: 0x00181063,
      RedPaletteColorLookupTableDescriptor: [256, 0, 16], SharedFunctionalGroupsSequence: [],
      EncapsulatedDocument: new Uint8Array(2000).fill(7).buffer, IconImageSequence: [],
      FloatPixelData: undefined, RealWorldValueLUTData: [1.5, 2.5], ReferencedSamplePositions: [1, 2],
      SelectorFLValue: [1.25, -2.5], SelectorFDValue: [Math.PI], SelectorSLValue: [-5, 6], SelectorSSValue: [-3],
      SelectorULValue: [4000000000], SelectorUSValue: [65535], SelectorOBValue: new Uint8Array([1, 2, 3]).buffer,
      SelectorOWValue: new Uint16Array([1, 2]).buffer, SelectorOFValue: new Float32Array([1.5]).buffer,
      SelectorODValue: new Float64Array([2.5]).buffer,
      SelectorATValue: [0x00100010, 0x7fe00010], SelectorUCValue: ['long value \\ with'], SelectorURValue: 'http://example.org/a b ',
      SelectorUTValue: 'text\\with backslash  ', SelectorLTValue: ' lt ', SelectorSTValue: 'st\\x ',
    }, '1.2.840.10008.1.2.1', { SmallestImagePixelValue: 'US', LargestImagePixelValue: 'US', RedPaletteColorLookupTableDescriptor: 'US', SelectorOBValue: 'OB', SelectorOWValue: 'OW', SelectorOFValue: 'OF', SelectorODValue: 'OD', EncapsulatedDocument: 'OB' })],
    ['nested sequences, empty items, empty sequences', synthetic({
      ReferencedStudySequence: [],
      ProcedureCodeSequence: [{ CodeValue: 'X1', CodingSchemeDesignator: 'L', CodeMeaning: 'x', ConceptNameCodeSequence: [{ CodeValue: 'Y', CodeMeaning: 'y\\z', ContentSequence: [{ TextValue: 'deep', NumericValue: '1.5' }, {}] }] }, {}],
      OtherPatientIDsSequence: [{ PatientID: 'A', IssuerOfPatientID: '' }, { PatientID: 'B' }],
    })],
    ['ISO_IR 192 with non-ASCII text (also in an item)', synthetic({
      SpecificCharacterSet: 'ISO_IR 192', PatientName: 'Müller^Zoë', StudyDescription: 'Hand — links',
      ProcedureCodeSequence: [{ CodeValue: 'X', CodeMeaning: 'Handröntgen' }],
    })],
    ['ISO_IR 100', synthetic({ SpecificCharacterSet: 'ISO_IR 100', PatientName: 'Muller^Zoe', StudyDescription: 'plain' })],
    ['implicit VR little endian with sequences and private elements', synthetic({
      ProcedureCodeSequence: [{ CodeValue: 'X1', CodeMeaning: 'x', ConceptNameCodeSequence: [{ CodeValue: 'Y' }] }], PixelSpacing: [0.5, 0.5],
    }, '1.2.840.10008.1.2')],
    ['explicit VR big endian', synthetic({ ReferencedFrameNumber: [1, 2], SelectorFDValue: [Math.E], SelectorOWValue: new Uint16Array([1, 258]).buffer }, '1.2.840.10008.1.2.2', { SelectorOWValue: 'OW' })],
  ];

  it.each(cases)('equals dcmjs\'s reading: %s', (_name, bytes) => {
    const { fast, reference } = both(bytes);
    expect(fast).toBeDefined();
    expect(fast).toEqual(reference);
    expect(Object.keys(fast as object)).toEqual(Object.keys(reference as object));
    // parseInstance keeps the metadata as JSON text (which writes -0 as 0).
    const expected = JSON.parse(JSON.stringify({ ...(reference as object), '00083002': { vr: 'UI', Value: [transferSyntax(parseStructure(bytes))] } }));
    expect(parseInstance(bytes).metadata).toEqual(expected);
  });

  // Character sets other than the default, Latin-1 and UTF-8 (and several sets) are left to dcmjs.
  it.each([['ISO_IR 101'], ['ISO 2022 IR 87'], [['ISO 2022 IR 6', 'ISO 2022 IR 100']]])('leaves SpecificCharacterSet %j to dcmjs, with the same result', (scs) => {
    const bytes = synthetic({ SpecificCharacterSet: scs, PatientName: 'Dvořák^Antonín' });
    const structure = parseStructure(bytes);
    const ts = transferSyntax(structure);
    expect(readDataSetLikeDcmjs(structure, ts)).toBeUndefined();
    let reference: unknown;
    let referenceError: unknown;
    try {
      reference = dcmjsMetadata(bytes, structure, ts);
    } catch (err) {
      referenceError = err;
    }
    if (referenceError) {
      expect(() => parseInstance(bytes)).toThrow((referenceError as Error).message);
    } else {
      expect(readMetadata(bytes, structure, ts)).toEqual(reference);
    }
  });

  // A UN element of a known tag is re-read by dcmjs with the dictionary's VR: left to dcmjs.
  it('leaves a UN element of a known tag to dcmjs, with the same result', () => {
    const bytes = synthetic({ StudyDescription: [new TextEncoder().encode('as UN ').buffer] }, '1.2.840.10008.1.2.1', { StudyDescription: 'UN' });
    const structure = parseStructure(bytes);
    expect(structure.elements.x00081030?.vr).toBe('UN');
    expect(readDataSetLikeDcmjs(structure, transferSyntax(structure))).toBeUndefined();
    expect(readMetadata(bytes, structure, transferSyntax(structure))).toEqual(dcmjsMetadata(bytes, structure, transferSyntax(structure)));
  });
});
