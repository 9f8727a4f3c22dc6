/**
 * The bone-age SR and heat-map SC against real tools: dciodvfy (dicom3tools) finds 0 errors,
 * dsrdump (DCMTK) renders the SR exactly as the golden file, both objects store into Orthanc
 * and come back byte for byte, and the SR carries the numbers it was made from.
 * UPDATE_GOLDEN=1 rewrites test/fixtures/sr-writer-golden.dsrdump.txt.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dcmjs from 'dcmjs';
import { writeBoneAgeReports, AI_STATEMENT, CODES, COMPREHENSIVE_SR, SECONDARY_CAPTURE, type WrittenReportsWithPng } from '../src/sr-writer/index.ts';
import { readPart10 } from '../src/sr-writer/dataset.ts';
import { orthancAvailable, startOrthanc, type OrthancPeer } from './helpers/orthanc.ts';
import { FIXTURE, projectRoot, radiographDicom, sampleResult, tmpDir } from './sr-writer-fixture.ts';

/** Long values, referenced UIDs, all codes and template ids: the whole tree is pinned. */
const DSRDUMP_ARGS = ['+Pl', '+Pu', '+Pc', '+Pt'];
const GOLDEN = path.join(projectRoot, 'test/fixtures/sr-writer-golden.dsrdump.txt');
const fixedOverrides = {
  now: FIXTURE.now,
  srSeriesInstanceUid: FIXTURE.srSeriesUid,
  srSopInstanceUid: FIXTURE.srInstanceUid,
  scSeriesInstanceUid: FIXTURE.scSeriesUid,
  scSopInstanceUid: FIXTURE.scInstanceUid,
  trackingUid: FIXTURE.trackingUid,
};

type Nat = Record<string, any>;
function naturalize(bytes: Uint8Array): Nat {
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(readPart10(bytes).dict) as Nat;
}
const asArray = (v: unknown): Nat[] => (Array.isArray(v) ? v : v ? [v] : []) as Nat[];

/** Every content item under `node`, depth first. */
function items(node: Nat): Nat[] {
  const out: Nat[] = [];
  for (const c of asArray(node.ContentSequence)) out.push(c, ...items(c));
  return out;
}
const conceptOf = (it: Nat) => asArray(it.ConceptNameCodeSequence)[0] ?? {};
function numValue(sr: Nat, code: { value: string; scheme: string }): number | undefined {
  const it = items(sr).find((i) => i.ValueType === 'NUM' && conceptOf(i).CodeValue === code.value && conceptOf(i).CodingSchemeDesignator === code.scheme);
  if (!it) return undefined;
  return Number(asArray(it.MeasuredValueSequence)[0]!.NumericValue);
}

function write(file: string, bytes: Uint8Array): string {
  fs.writeFileSync(file, bytes);
  return file;
}

/** dciodvfy's findings (it prints to stderr) minus the IOD name line. */
function dciodvfy(file: string): { errors: string[]; warnings: string[] } {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return { errors: lines.filter((l) => /^Error/.test(l)), warnings: lines.filter((l) => /^Warning/.test(l)) };
}

/** The warnings dciodvfy is expected to give (see docs/sr-validation.md). */
const EXPECTED_SR_WARNING = /^Warning - Unrecognized defined term <99CARPUS> for value 1 of attribute <Coding Scheme Designator>$/;

let dir: string;
let source: Buffer;
let reports: WrittenReportsWithPng;
let srFile: string;
let scFile: string;

beforeAll(async () => {
  dir = tmpDir();
  source = await radiographDicom();
  reports = await writeBoneAgeReports(source, sampleResult(1514, 2044), { overrides: fixedOverrides, softwareVersion: 'carpus test', uidRoot: '' });
  srFile = write(path.join(dir, 'sr.dcm'), reports.sr.part10);
  scFile = write(path.join(dir, 'sc.dcm'), reports.sc.part10);
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('bone-age Structured Report', () => {
  it('passes dciodvfy with 0 errors (warnings only for the private coding scheme)', () => {
    const { errors, warnings } = dciodvfy(srFile);
    expect(errors).toEqual([]);
    for (const w of warnings) expect(w).toMatch(EXPECTED_SR_WARNING);
  });

  it('renders in dsrdump exactly as the golden file', () => {
    const out = execFileSync('dsrdump', DSRDUMP_ARGS.concat(srFile), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(GOLDEN, out);
    expect(out).toBe(fs.readFileSync(GOLDEN, 'utf8'));
  });

  it('is a COMPLETE, UNVERIFIED TID 1500 report in the source study, new series, modality SR', () => {
    const sr = naturalize(reports.sr.part10);
    const src = naturalize(source);
    expect(sr.SOPClassUID).toBe(COMPREHENSIVE_SR);
    expect(sr.Modality).toBe('SR');
    expect(sr.StudyInstanceUID).toBe(src.StudyInstanceUID);
    expect(sr.SeriesInstanceUID).not.toBe(src.SeriesInstanceUID);
    expect(sr.SeriesInstanceUID).not.toBe(reports.sc.seriesInstanceUid);
    expect(sr.CompletionFlag).toBe('COMPLETE');
    expect(sr.VerificationFlag).toBe('UNVERIFIED');
    expect(asArray(sr.ConceptNameCodeSequence)[0]).toMatchObject({ CodeValue: '126000', CodingSchemeDesignator: 'DCM' });
    expect(asArray(sr.ContentTemplateSequence)[0]).toMatchObject({ MappingResource: 'DCMR', TemplateIdentifier: '1500' });
    for (const k of ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'AccessionNumber', 'StudyID']) {
      expect(sr[k], k).toEqual(src[k]);
    }
    const texts = items(sr).filter((i) => i.ValueType === 'TEXT').map((i) => i.TextValue);
    expect(texts).toContain(AI_STATEMENT);
    const uidrefs = items(sr).filter((i) => i.ValueType === 'UIDREF').map((i) => i.UID);
    expect(uidrefs).toContain(reports.deviceObserverUid);
    expect(uidrefs).toContain(FIXTURE.trackingUid);
    const images = items(sr).filter((i) => i.ValueType === 'IMAGE').map((i) => asArray(i.ReferencedSOPSequence)[0]!.ReferencedSOPInstanceUID);
    expect(images).toContain(FIXTURE.instanceUid);
    expect(images).toContain(reports.sc.sopInstanceUid);
  });

  it('carries the numbers of the inference result', () => {
    const sr = naturalize(reports.sr.part10);
    const n = reports.numbers;
    expect(n.boneAgeMonths).toBe(Math.round(171.437 * 100) / 100);
    expect(numValue(sr, CODES.boneAge)).toBe(n.boneAgeMonths);
    expect(numValue(sr, CODES.age)).toBe(n.chronologicalAgeMonths);
    expect(numValue(sr, CODES.boneAgeMinusChronologicalAge)).toBe(n.differenceMonths);
    expect(numValue(sr, CODES.gpStandardDeviation)).toBe(n.sdMonths);
    expect(numValue(sr, CODES.boneAgeSds)).toBe(n.sds);
    // 2005-03-01 to 2020-09-15 is 5677 days.
    expect(n.chronologicalAgeMonths).toBe(Math.round((5677 / 30.4375) * 100) / 100);
    expect(n.differenceMonths).toBeCloseTo(n.boneAgeMonths - n.chronologicalAgeMonths!, 10);
    const verdict = items(sr).find((i) => conceptOf(i).CodeValue === CODES.boneAgeAssessment.value);
    expect(asArray(verdict!.ConceptCodeSequence)[0]!.CodeValue).toBe(CODES.normal.value);
    expect(n.verdict).toBe('normal');
    const params = items(sr).filter((i) => conceptOf(i).CodeValue === '111002').map((i) => i.TextValue);
    expect(params).toEqual(expect.arrayContaining(['sex=F', 'executionProvider=cpu', 'maskQuality.handFraction=0.41', 'inputSize=512']));
  });
});

describe('heat-map Secondary Capture', () => {
  it('passes dciodvfy with 0 errors and 0 warnings', () => {
    expect(dciodvfy(scFile)).toEqual({ errors: [], warnings: [] });
  });

  it('is a DERIVED\\SECONDARY RGB image of the source study with burned-in annotation and its source referenced', () => {
    const sc = naturalize(reports.sc.part10);
    const src = naturalize(source);
    expect(sc.SOPClassUID).toBe(SECONDARY_CAPTURE);
    expect(sc.StudyInstanceUID).toBe(src.StudyInstanceUID);
    expect(sc.SeriesInstanceUID).not.toBe(src.SeriesInstanceUID);
    expect(sc.ImageType).toEqual(['DERIVED', 'SECONDARY']);
    expect(sc.BurnedInAnnotation).toBe('YES');
    expect(sc.PhotometricInterpretation).toBe('RGB');
    expect(sc.SamplesPerPixel).toBe(3);
    expect(sc.Columns).toBe(1514);
    expect(sc.Rows).toBeGreaterThan(2044);
    expect(sc.Laterality).toBe('L');
    expect(sc.LossyImageCompression).toBe('01'); // the JPEG source was lossy: so is everything derived from it
    expect(sc.DerivationDescription).toMatch(/heat map/);
    expect(asArray(sc.SourceImageSequence)[0]).toMatchObject({ ReferencedSOPClassUID: src.SOPClassUID, ReferencedSOPInstanceUID: src.SOPInstanceUID });
  });

  it('shows the heat map in colour over the grey radiograph and the text band above it', () => {
    const sc = naturalize(reports.sc.part10);
    const px = new Uint8Array(asArray(sc.PixelData)[0] as unknown as ArrayBuffer);
    const w = sc.Columns as number;
    const band = (sc.Rows as number) - 2044;
    const at = (x: number, y: number) => [px[(y * w + x) * 3]!, px[(y * w + x) * 3 + 1]!, px[(y * w + x) * 3 + 2]!];
    const hot = at(Math.round(0.5 * 1514), band + Math.round(0.8 * 2044)); // centre of the main blob
    expect(Math.max(...hot) - Math.min(...hot)).toBeGreaterThan(40); // coloured
    const cold = at(20, band + 20); // a corner, far from any blob
    expect(Math.max(...cold) - Math.min(...cold)).toBeLessThanOrEqual(1); // grey
    let bright = 0;
    for (let y = 0; y < band; y++) for (let x = 0; x < w / 2; x++) if (at(x, y)[0]! > 200) bright++;
    expect(bright).toBeGreaterThan(1000); // burned-in text
  });
});

describe('variants', () => {
  it('without birth date or PatientAge: no chronological age, no SDS, and the SR says so', async () => {
    const src = await radiographDicom('1377', {}, ['PatientBirthDate'], 300);
    const rows = naturalize(src).Rows as number;
    const r = await writeBoneAgeReports(src, sampleResult(300, rows), { overrides: { now: FIXTURE.now } });
    expect(r.numbers.chronologicalAgeSource).toBe('absent');
    const sr = naturalize(r.sr.part10);
    expect(numValue(sr, CODES.age)).toBeUndefined();
    expect(numValue(sr, CODES.boneAgeSds)).toBeUndefined();
    expect(items(sr).some((i) => typeof i.TextValue === 'string' && i.TextValue.includes('chronological age unknown'))).toBe(true);
    const f = write(path.join(dir, 'noage.dcm'), r.sr.part10);
    expect(dciodvfy(f).errors).toEqual([]);
    expect(dciodvfy(write(path.join(dir, 'noage-sc.dcm'), r.sc.part10)).errors).toEqual([]);
  });

  it('with PatientAge only and sex unknown: age from PatientAge, no SDS', async () => {
    const src = await radiographDicom('1377', { PatientAge: '012Y', PatientSex: 'O' }, ['PatientBirthDate'], 300);
    const rows = naturalize(src).Rows as number;
    const r = await writeBoneAgeReports(src, sampleResult(300, rows, { sex: 'unknown', boneAgeMonths: 150 }), { overrides: { now: FIXTURE.now } });
    expect(r.numbers).toMatchObject({ chronologicalAgeMonths: 144, chronologicalAgeSource: 'patient-age', differenceMonths: 6 });
    expect(r.numbers.sds).toBeUndefined();
    const sr = naturalize(r.sr.part10);
    expect(numValue(sr, CODES.age)).toBe(144);
    expect(items(sr).some((i) => typeof i.TextValue === 'string' && i.TextValue.includes('sex unknown'))).toBe(true);
  });

  it('with CARPUS_UID_ROOT: every new UID under the root, still valid', async () => {
    const saved = process.env.CARPUS_UID_ROOT;
    process.env.CARPUS_UID_ROOT = '1.2.826.0.1.3680043.10.4242';
    try {
      const src = await radiographDicom('1377', {}, [], 300);
      const rows = naturalize(src).Rows as number;
      const r = await writeBoneAgeReports(src, sampleResult(300, rows));
      for (const u of [r.sr.sopInstanceUid, r.sr.seriesInstanceUid, r.sc.sopInstanceUid, r.sc.seriesInstanceUid, r.trackingUid, r.deviceObserverUid]) {
        expect(u.startsWith('1.2.826.0.1.3680043.10.4242.')).toBe(true);
        expect(u.length).toBeLessThanOrEqual(64);
      }
      expect(dciodvfy(write(path.join(dir, 'root.dcm'), r.sr.part10)).errors).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.CARPUS_UID_ROOT;
      else process.env.CARPUS_UID_ROOT = saved;
    }
  });

  it('from a real lossless MONOCHROME1 CR (NEMA WG04 RG3, an adult): bone-bright background, lossless SC, no SDS beyond the table', async () => {
    const src = fs.readFileSync(path.resolve(projectRoot, '../shared/data/dicom/cr-wg04/RG3_UNC.dcm'));
    const r = await writeBoneAgeReports(src, sampleResult(1760, 1760, { boneAgeMonths: 216 }), { overrides: { now: FIXTURE.now } });
    expect(r.numbers.chronologicalAgeSource).toBe('birth-date');
    expect(r.numbers.sds).toBeUndefined();
    expect(r.numbers.notComputedReason).toMatch(/beyond the Greulich-Pyle SD table/);
    const sc = naturalize(r.sc.part10);
    expect(sc.LossyImageCompression).toBe('00');
    expect(sc.Laterality).toBe('R');
    expect(dciodvfy(write(path.join(dir, 'rg3-sc.dcm'), r.sc.part10))).toEqual({ errors: [], warnings: [] });
    expect(dciodvfy(write(path.join(dir, 'rg3-sr.dcm'), r.sr.part10)).errors).toEqual([]);
    // MONOCHROME1 presented bone bright: the directly exposed area left of the leg comes out dark,
    // the bone (tibia shaft) bright.
    const px = new Uint8Array(asArray(sc.PixelData)[0] as unknown as ArrayBuffer);
    const band = (sc.Rows as number) - 1760;
    const mean = (x0: number, y0: number) => {
      let sum = 0;
      for (let d = 0; d < 20; d++) sum += px[((band + y0 + d) * 1760 + x0 + d) * 3]!;
      return sum / 20;
    };
    expect(mean(560, 200)).toBeLessThan(60);
    expect(mean(1000, 200)).toBeGreaterThan(150);
  });

  it('rejects a heat map of the wrong geometry and a bad model identity', async () => {
    const src = await radiographDicom('1377', {}, [], 300);
    await expect(writeBoneAgeReports(src, sampleResult(100, 100))).rejects.toThrow(/heat map is 100x100/);
    await expect(writeBoneAgeReports(src, { ...sampleResult(300, 405), model: { name: 'x', version: '1', sha256: 'nothex' } })).rejects.toThrow(/sha256/);
  });
});

const skipOrthanc = !orthancAvailable() && process.env.CI !== 'true';

describe.skipIf(skipOrthanc)('Orthanc round trip', () => {
  let orthanc: OrthancPeer;
  beforeAll(async () => {
    orthanc = await startOrthanc();
  });
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('stores the SR and the SC and returns them unchanged', async () => {
    for (const obj of [reports.sr, reports.sc]) {
      const id = await orthanc.upload(obj.part10);
      const res = await orthanc.request(`/instances/${id}/file`);
      expect(res.status).toBe(200);
      const back = Buffer.from(await res.arrayBuffer());
      expect(back.equals(obj.part10)).toBe(true);
      const tags = await orthanc.getJson<Record<string, string>>(`/instances/${id}/simplified-tags`);
      expect(tags.SOPInstanceUID).toBe(obj.sopInstanceUid);
      expect(tags.StudyInstanceUID).toBe(reports.studyInstanceUid);
    }
    const studies = await orthanc.getJson<string[]>('/studies');
    expect(studies).toHaveLength(1);
  });
});
