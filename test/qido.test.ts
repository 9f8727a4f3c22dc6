import fs from 'node:fs';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import { parseInstance } from '../src/dicom/part10.ts';
import { openDb } from '../src/db/index.ts';
import { migrate, SQL_DIR } from '../src/db/migrate.ts';
import { startTestNode, stow, sharedDicomFiles, type TestNode } from './helpers/node.ts';

const { DicomMetaDictionary, DicomDict } = dcmjs.data;

const ROOT = '1.2.826.0.1.3680043.10.4242';
const CR = '1.2.840.10008.5.1.4.1.1.1';
const SC = '1.2.840.10008.5.1.4.1.1.7';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const MR = '1.2.840.10008.5.1.4.1.1.4';

/** A small, valid Part 10 instance (4x4, 8 bits) built from keyword → value. */
function makeInstance(ds: Record<string, unknown>): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: `${ROOT}.1`,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 100',
    Rows: 4,
    Columns: 4,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    PixelData: [new Uint8Array(16).fill(7).buffer],
    ...ds,
  });
  return Buffer.from(dict.write());
}

// Synthetic studies: A and D belong to one patient; C's name holds a literal %; E has no date.
const S = { A: `${ROOT}.2.1`, B: `${ROOT}.2.2`, C: `${ROOT}.2.3`, D: `${ROOT}.2.4`, E: `${ROOT}.2.5` };
const SE = { A1: `${ROOT}.3.1`, A2: `${ROOT}.3.2`, B1: `${ROOT}.3.3`, C1: `${ROOT}.3.4`, D1: `${ROOT}.3.5`, E1: `${ROOT}.3.6` };
const I = {
  A1a: `${ROOT}.4.1`,
  A1b: `${ROOT}.4.2`,
  A2a: `${ROOT}.4.3`,
  B1a: `${ROOT}.4.4`,
  C1a: `${ROOT}.4.5`,
  D1a: `${ROOT}.4.6`,
  E1a: `${ROOT}.4.7`,
};
const studyA = {
  StudyInstanceUID: S.A,
  PatientName: 'Doe^Jane',
  PatientID: 'QIDO-1',
  PatientBirthDate: '20100301',
  PatientSex: 'F',
  StudyDate: '20200115',
  StudyTime: '101500',
  AccessionNumber: 'ACC-100',
  StudyID: 'S1',
  ReferringPhysicianName: 'Welby^Marcus',
  StudyDescription: 'HAND LEFT',
  TimezoneOffsetFromUTC: '+0100',
};
const studyB = {
  StudyInstanceUID: S.B,
  PatientName: 'DOE^JOHN',
  PatientID: 'QIDO-2',
  PatientBirthDate: '20120615',
  PatientSex: 'M',
  StudyDate: '20201231',
  StudyTime: '235959',
  AccessionNumber: 'ACC_200',
  StudyID: 'S2',
  StudyDescription: 'HAND RIGHT',
};
const studyC = {
  StudyInstanceUID: S.C,
  PatientName: 'Smith%^Anna',
  PatientID: 'QIDO-3',
  PatientSex: 'F',
  StudyDate: '20210601',
  StudyTime: '080000',
  AccessionNumber: 'ACC-300',
  StudyDescription: 'KNEE',
};
const studyD = { ...studyA, StudyInstanceUID: S.D, StudyDate: '20190101', StudyTime: '120000', AccessionNumber: 'ACC-400', StudyID: 'S4' };
const studyE = { StudyInstanceUID: S.E, PatientName: 'Nodate^Ned', PatientID: 'QIDO-4' };

const synthetic = [
  { ...studyA, SeriesInstanceUID: SE.A1, Modality: 'CR', SeriesNumber: 1, BodyPartExamined: 'HAND', SeriesDescription: 'PA', SOPClassUID: CR, SOPInstanceUID: I.A1a, InstanceNumber: 1 },
  { ...studyA, SeriesInstanceUID: SE.A1, Modality: 'CR', SeriesNumber: 1, BodyPartExamined: 'HAND', SeriesDescription: 'PA', SOPClassUID: CR, SOPInstanceUID: I.A1b, InstanceNumber: 2 },
  { ...studyA, SeriesInstanceUID: SE.A2, Modality: 'OT', SeriesNumber: 2, SeriesDescription: 'Bone age', SOPClassUID: SC, SOPInstanceUID: I.A2a, InstanceNumber: 1 },
  { ...studyB, SeriesInstanceUID: SE.B1, Modality: 'CR', SeriesNumber: 1, BodyPartExamined: 'HAND', SOPClassUID: CR, SOPInstanceUID: I.B1a, InstanceNumber: 1 },
  { ...studyC, SeriesInstanceUID: SE.C1, Modality: 'DX', SeriesNumber: 5, BodyPartExamined: 'KNEE', SOPClassUID: DX, SOPInstanceUID: I.C1a, InstanceNumber: 1 },
  { ...studyD, SeriesInstanceUID: SE.D1, Modality: 'CR', SeriesNumber: 1, BodyPartExamined: 'HAND', SOPClassUID: CR, SOPInstanceUID: I.D1a, InstanceNumber: 1 },
  { ...studyE, SeriesInstanceUID: SE.E1, Modality: 'MR', SeriesNumber: 1, SOPClassUID: MR, SOPInstanceUID: I.E1a, InstanceNumber: 1 },
];

let node: TestNode;
/** Shared files that were stored, as the archive indexed them. */
let sharedStored: { study: string; series: string; sop: string; date?: string }[] = [];

type Json = Record<string, { vr: string; Value?: any[] }>;
async function qido(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${node.dicomweb}${path}`, { headers: { accept: 'application/dicom+json', ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: (text ? JSON.parse(text) : undefined) as Json[] | undefined };
}
const v = (o: Json, tag: string) => o[tag]?.Value?.[0];
const uids = (r: { json?: Json[] }, tag = '0020000D') => (r.json ?? []).map((o) => v(o, tag) as string);
const set = (xs: string[]) => [...xs].sort();

beforeAll(async () => {
  node = await startTestNode();
  const files = sharedDicomFiles();
  const res = await stow(node.dicomweb, files);
  expect([200, 202]).toContain(res.status);
  const stored = new Set<string>((res.json?.['00081199']?.Value ?? []).map((i: any) => i['00081155'].Value[0]));
  const seen = new Set<string>();
  for (const f of files) {
    const p = parseInstance(fs.readFileSync(f));
    if (!stored.has(p.SOPInstanceUID) || seen.has(p.SOPInstanceUID)) continue;
    seen.add(p.SOPInstanceUID);
    sharedStored.push({ study: p.StudyInstanceUID, series: p.SeriesInstanceUID, sop: p.SOPInstanceUID, date: p.metadata['00080020']?.Value?.[0] as string | undefined });
  }
  const syn = await stow(node.dicomweb, synthetic.map(makeInstance));
  expect(syn.status).toBe(200);
});

afterAll(async () => {
  await node?.stop();
});

describe('QIDO-RS studies', () => {
  it('matches PatientID exactly and orders studies newest first', async () => {
    const r = await qido('/studies?PatientID=QIDO-1');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
    expect(uids(r)).toEqual([S.A, S.D]);
  });

  it('returns the default study attributes, computed ones included, with tags sorted', async () => {
    const r = await qido(`/studies?StudyInstanceUID=${S.A}`);
    expect(r.json).toHaveLength(1);
    const o = r.json![0]!;
    expect(Object.keys(o)).toEqual(Object.keys(o).sort());
    expect(v(o, '00100010')).toEqual({ Alphabetic: 'Doe^Jane' });
    expect(v(o, '00100020')).toBe('QIDO-1');
    expect(v(o, '00100030')).toBe('20100301');
    expect(v(o, '00100040')).toBe('F');
    expect(v(o, '00080020')).toBe('20200115');
    expect(v(o, '00080030')).toBe('101500');
    expect(v(o, '00080050')).toBe('ACC-100');
    expect(v(o, '00200010')).toBe('S1');
    expect(v(o, '00080090')).toEqual({ Alphabetic: 'Welby^Marcus' });
    expect(v(o, '00080201')).toBe('+0100');
    expect(v(o, '00080056')).toBe('ONLINE');
    expect(o['00080061']).toEqual({ vr: 'CS', Value: ['CR', 'OT'] });
    expect(o['00201206']).toEqual({ vr: 'IS', Value: [2] });
    expect(o['00201208']).toEqual({ vr: 'IS', Value: [3] });
    expect(v(o, '00081190')).toBe(`${node.dicomweb}/studies/${S.A}`);
    // Not a default attribute, not asked for:
    expect(o['00081030']).toBeUndefined();
    expect(o['00080062']).toBeUndefined();
    // A required key without a value is returned empty (study B has no referring physician).
    const b = (await qido(`/studies?StudyInstanceUID=${S.B}`)).json![0]!;
    expect(b['00080090']).toEqual({ vr: 'PN' });
    expect(b['00080201']).toBeUndefined();
  });

  it('counts series and instances of real data', async () => {
    const byStudy = new Map<string, { series: Set<string>; n: number }>();
    for (const s of sharedStored) {
      const e = byStudy.get(s.study) ?? { series: new Set(), n: 0 };
      e.series.add(s.series);
      e.n++;
      byStudy.set(s.study, e);
    }
    expect(byStudy.size).toBeGreaterThan(2);
    const list = [...byStudy.keys()];
    const r = await qido(`/studies?StudyInstanceUID=${list.join(',')}`);
    expect(set(uids(r))).toEqual(set(list));
    for (const o of r.json!) {
      const e = byStudy.get(v(o, '0020000D'))!;
      expect(v(o, '00201208')).toBe(e.n);
      expect(v(o, '00201206')).toBe(e.series.size);
    }
    // All studies: the shared ones and the five synthetic ones.
    const all = await qido('/studies');
    expect(set(uids(all))).toEqual(set([...list, ...Object.values(S)]));
  });

  it('matches PatientName with wildcards, case-insensitively', async () => {
    expect(set(uids(await qido('/studies?PatientName=doe*')))).toEqual(set([S.A, S.B, S.D]));
    expect(set(uids(await qido('/studies?PatientName=D%3FE%5EJ*')))).toEqual(set([S.A, S.B, S.D])); // D?E^J*
    expect(set(uids(await qido('/studies?PatientName=*%5Ejane')))).toEqual(set([S.A, S.D]));
    expect(uids(await qido('/studies?PatientName=doe%5Ejohn'))).toEqual([S.B]);
    // Single value matching is on the whole name, not a prefix.
    expect((await qido('/studies?PatientName=doe')).status).toBe(204);
    // % and _ are literal characters, not SQL wildcards.
    expect(uids(await qido('/studies?PatientName=smith%25*'))).toEqual([S.C]);
    expect((await qido('/studies?PatientName=S%25*')).status).toBe(204);
    expect(uids(await qido('/studies?AccessionNumber=ACC_*'))).toEqual([S.B]);
    expect((await qido('/studies?AccessionNumber=ACC%25')).status).toBe(204);
  });

  it('treats an empty value or * as universal matching and returns the key', async () => {
    const r = await qido('/studies?PatientID=QIDO-*&PatientName=');
    expect(set(uids(r))).toEqual(set(Object.values(S)));
    expect(r.json!.every((o) => o['00100010'] !== undefined)).toBe(true);
    const star = await qido('/studies?PatientID=QIDO-*&StudyDescription=*');
    expect(set(uids(star))).toEqual(set(Object.values(S)));
    const e = star.json!.find((o) => v(o, '0020000D') === S.E)!;
    expect(e['00081030']).toEqual({ vr: 'LO' }); // a matching key is returned, empty when unknown
    expect(v(star.json!.find((o) => v(o, '0020000D') === S.C)!, '00081030')).toBe('KNEE');
  });

  it('matches StudyDate singly and by ranges', async () => {
    expect(set(uids(await qido('/studies?StudyDate=20200101-20201231')))).toEqual(set([S.A, S.B]));
    expect(uids(await qido('/studies?StudyDate=20190101'))).toEqual([S.D]);
    expect(uids(await qido('/studies?StudyDate=20201231-'))).toEqual([S.C, S.B]);
    expect(uids(await qido('/studies?PatientID=QIDO-*&StudyDate=-20200115'))).toEqual([S.A, S.D]);
    const before2005 = sharedStored.filter((s) => s.date && s.date <= '20041231').map((s) => s.study);
    expect(before2005.length).toBeGreaterThan(0);
    expect(set(uids(await qido('/studies?StudyDate=-20041231')))).toEqual(set([...new Set(before2005)]));
  });

  it('matches StudyTime ranges, and StudyDate with StudyTime as one date-time range', async () => {
    expect(uids(await qido('/studies?StudyTime=2300-'))).toEqual([S.B]);
    expect(uids(await qido('/studies?PatientID=QIDO-*&StudyTime=1015'))).toEqual([S.A]);
    // Combined: from 2020-01-01 09:00 to 2020-12-31 10:00 takes A (01-15 10:15), not B (12-31 23:59:59).
    expect(uids(await qido('/studies?StudyDate=20200101-20201231&StudyTime=0900-1000'))).toEqual([S.A]);
    expect(uids(await qido('/studies?StudyDate=20200115-20201231&StudyTime=1200-2359'))).toEqual([S.B]);
  });

  it('matches the other study keys', async () => {
    expect(uids(await qido('/studies?AccessionNumber=ACC-100'))).toEqual([S.A]);
    expect(uids(await qido('/studies?StudyID=S2'))).toEqual([S.B]);
    expect(uids(await qido('/studies?00080090=welby*'))).toEqual([S.A, S.D]);
    expect((await qido('/studies?ReferringPhysicianName=welby')).status).toBe(204);
    expect(uids(await qido('/studies?PatientID=QIDO-*&PatientBirthDate=20100101-20101231'))).toEqual([S.A, S.D]);
    expect(set(uids(await qido('/studies?PatientID=QIDO-*&PatientSex=F')))).toEqual(set([S.A, S.C, S.D]));
    expect(uids(await qido('/studies?StudyDescription=HAND*'))).toEqual([S.B, S.A, S.D]);
    expect(uids(await qido('/studies?StudyDescription=HAND?LEFT'))).toEqual([S.A, S.D]);
    // Only PN matching ignores case.
    expect((await qido('/studies?StudyDescription=hand*')).status).toBe(204);
    expect(uids(await qido('/studies?00100020=QIDO-3'))).toEqual([S.C]);
  });

  it('matches ModalitiesInStudy against the series of a study', async () => {
    expect(uids(await qido('/studies?ModalitiesInStudy=DX'))).toEqual([S.C]);
    expect(set(uids(await qido('/studies?ModalitiesInStudy=DX,MR')))).toEqual(set([S.C, S.E]));
    expect(uids(await qido('/studies?PatientID=QIDO-*&ModalitiesInStudy=OT'))).toEqual([S.A]);
  });

  it('matches lists of StudyInstanceUIDs separated by comma or backslash', async () => {
    expect(set(uids(await qido(`/studies?StudyInstanceUID=${S.A},${S.B}`)))).toEqual(set([S.A, S.B]));
    expect(set(uids(await qido(`/studies?StudyInstanceUID=${S.A}%5C${S.C}`)))).toEqual(set([S.A, S.C]));
    expect((await qido('/studies?StudyInstanceUID=1.2.3.999')).status).toBe(204);
  });

  it('takes series and instance keys at study level as relational queries', async () => {
    expect(uids(await qido(`/studies?SeriesInstanceUID=${SE.A2}`))).toEqual([S.A]);
    expect(set(uids(await qido(`/studies?PatientID=QIDO-*&SOPClassUID=${CR}`)))).toEqual(set([S.A, S.B, S.D]));
    expect(uids(await qido(`/studies?PatientID=QIDO-*&Modality=CR&InstanceNumber=2`))).toEqual([S.A]);
    expect(uids(await qido(`/studies?PatientID=QIDO-*&Modality=OT&InstanceNumber=2`)).length).toBe(0);
  });

  it('adds includefield attributes, and all', async () => {
    const r = await qido(`/studies?StudyInstanceUID=${S.C}&includefield=StudyDescription&includefield=00080062`);
    const o = r.json![0]!;
    expect(v(o, '00081030')).toBe('KNEE');
    expect(o['00080062']).toEqual({ vr: 'UI', Value: [DX] });
    const all = (await qido(`/studies?StudyInstanceUID=${S.A}&includefield=all`)).json![0]!;
    expect(v(all, '00081030')).toBe('HAND LEFT');
    expect(all['00080062']).toEqual({ vr: 'UI', Value: [CR, SC].sort() });
    expect(v(all, '00080005')).toMatch(/^ISO_IR/); // SpecificCharacterSet: not a default attribute
    // Series-level attributes are not returned at study level.
    const ser = (await qido(`/studies?StudyInstanceUID=${S.A}&includefield=Modality,SeriesDescription`)).json![0]!;
    expect(ser['00080060']).toBeUndefined();
    expect(ser['0008103E']).toBeUndefined();
  });

  it('pages with limit and offset and says how many results remain', async () => {
    const order = [S.C, S.B, S.A, S.D, S.E]; // newest first, no date last
    const p1 = await qido('/studies?PatientID=QIDO-*&limit=2');
    expect(uids(p1)).toEqual(order.slice(0, 2));
    expect(p1.headers.get('warning')).toBe('299 carpus: "There are 3 additional results that can be requested"');
    const p2 = await qido('/studies?PatientID=QIDO-*&limit=2&offset=2');
    expect(uids(p2)).toEqual(order.slice(2, 4));
    expect(p2.headers.get('warning')).toMatch(/There are 1 additional results/);
    const p3 = await qido('/studies?PatientID=QIDO-*&limit=2&offset=4');
    expect(uids(p3)).toEqual([S.E]);
    expect(p3.headers.get('warning')).toBeNull();
    const whole = await qido('/studies?PatientID=QIDO-*');
    expect(uids(whole)).toEqual(order);
    expect(whole.headers.get('warning')).toBeNull();
    const past = await qido('/studies?PatientID=QIDO-*&offset=10');
    expect(past.status).toBe(204);
    expect(past.text).toBe('');
  });
});

describe('QIDO-RS series', () => {
  it('lists the series of a study with series attributes only', async () => {
    const r = await qido(`/studies/${S.A}/series`);
    expect(r.status).toBe(200);
    expect(uids(r, '0020000E')).toEqual([SE.A1, SE.A2]);
    const [a1, a2] = r.json!;
    expect(v(a1!, '00080060')).toBe('CR');
    expect(v(a1!, '00200011')).toBe(1);
    expect(v(a1!, '0008103E')).toBe('PA');
    expect(v(a1!, '00201209')).toBe(2);
    expect(v(a2!, '00201209')).toBe(1);
    expect(v(a1!, '00081190')).toBe(`${node.dicomweb}/studies/${S.A}/series/${SE.A1}`);
    expect(v(a1!, '00080201')).toBe('+0100');
    expect(v(a1!, '0020000D')).toBe(S.A);
    expect(a1!['00100010']).toBeUndefined(); // study attributes only for /series
    expect(a1!['00201208']).toBeUndefined();
    expect(Object.keys(a1!)).toEqual(Object.keys(a1!).sort());
    // includefield of a study attribute in a study's series
    const inc = await qido(`/studies/${S.A}/series?includefield=PatientID&Modality=OT`);
    expect(uids(inc, '0020000E')).toEqual([SE.A2]);
    expect(v(inc.json![0]!, '00100020')).toBe('QIDO-1');
  });

  it('searches all series with study keys and returns study attributes', async () => {
    const r = await qido('/series?Modality=DX');
    expect(uids(r, '0020000E')).toEqual([SE.C1]);
    const o = r.json![0]!;
    expect(v(o, '00100010')).toEqual({ Alphabetic: 'Smith%^Anna' });
    expect(v(o, '00201208')).toBe(1);
    expect(v(o, '00201209')).toBe(1);
    expect(v(o, '00081190')).toBe(`${node.dicomweb}/studies/${S.C}/series/${SE.C1}`);
    expect(set(uids(await qido('/series?PatientName=doe*&Modality=CR'), '0020000E'))).toEqual(set([SE.A1, SE.B1, SE.D1]));
    expect(set(uids(await qido('/series?BodyPartExamined=HAND&PatientID=QIDO-*'), '0020000E'))).toEqual(set([SE.A1, SE.B1, SE.D1]));
    expect(uids(await qido('/series?SeriesDescription=Bone*'), '0020000E')).toEqual([SE.A2]);
    expect(uids(await qido('/series?PatientID=QIDO-1&SeriesNumber=2'), '0020000E')).toEqual([SE.A2]);
    expect(uids(await qido(`/series?SeriesInstanceUID=${SE.B1}%5C${SE.E1}`), '0020000E')).toEqual([SE.B1, SE.E1]);
    expect(set(uids(await qido('/series?Modality=MR,DX'), '0020000E'))).toEqual(set([SE.C1, SE.E1]));
    expect(uids(await qido(`/series?PatientID=QIDO-*&SOPClassUID=${SC}`), '0020000E')).toEqual([SE.A2]);
  });

  it('answers 204 for a study with no series here', async () => {
    expect((await qido(`/studies/${ROOT}.9.9/series`)).status).toBe(204);
  });
});

describe('QIDO-RS instances', () => {
  it('lists the instances of a series with instance attributes', async () => {
    const r = await qido(`/studies/${S.A}/series/${SE.A1}/instances`);
    expect(uids(r, '00080018')).toEqual([I.A1a, I.A1b]);
    const o = r.json![0]!;
    expect(v(o, '00080016')).toBe(CR);
    expect(v(o, '00200013')).toBe(1);
    expect(v(o, '00280010')).toBe(4);
    expect(v(o, '00280011')).toBe(4);
    expect(v(o, '00280100')).toBe(8);
    expect(v(o, '00080056')).toBe('ONLINE');
    expect(v(o, '00081190')).toBe(`${node.dicomweb}/studies/${S.A}/series/${SE.A1}/instances/${I.A1a}`);
    expect(o['00080060']).toBeUndefined();
    expect(o['00100010']).toBeUndefined();
    expect(o['7FE00010']).toBeUndefined();
    expect(Object.keys(o)).toEqual(Object.keys(o).sort());
  });

  it('lists the instances of a study with series attributes', async () => {
    const r = await qido(`/studies/${S.A}/instances`);
    expect(uids(r, '00080018')).toEqual([I.A1a, I.A1b, I.A2a]);
    expect(r.json!.map((o) => v(o, '00080060'))).toEqual(['CR', 'CR', 'OT']);
    expect(r.json!.map((o) => v(o, '00201209'))).toEqual([2, 2, 1]);
    expect(r.json![0]!['00100010']).toBeUndefined();
    expect(uids(await qido(`/studies/${S.A}/instances?InstanceNumber=2`), '00080018')).toEqual([I.A1b]);
  });

  it('searches all instances with study, series and instance keys', async () => {
    const r = await qido(`/instances?PatientID=QIDO-*&SOPClassUID=${SC}`);
    expect(uids(r, '00080018')).toEqual([I.A2a]);
    const o = r.json![0]!;
    expect(v(o, '00100020')).toBe('QIDO-1');
    expect(v(o, '00080060')).toBe('OT');
    expect(v(o, '00201208')).toBe(3);
    expect(uids(await qido('/instances?PatientID=QIDO-1&InstanceNumber=2'), '00080018')).toEqual([I.A1b]);
    expect(set(uids(await qido(`/instances?SOPInstanceUID=${I.B1a},${I.E1a}`), '00080018'))).toEqual(set([I.B1a, I.E1a]));
    expect(uids(await qido('/instances?StudyDate=20210601&Modality=DX'), '00080018')).toEqual([I.C1a]);
    // Real data: every stored shared instance is found once.
    const shared = await qido(`/instances?StudyInstanceUID=${[...new Set(sharedStored.map((s) => s.study))].join(',')}`);
    expect(set(uids(shared, '00080018'))).toEqual(set(sharedStored.map((s) => s.sop)));
  });

  it('returns the instance metadata without bulk data for includefield=all', async () => {
    const r = await qido(`/studies/${S.C}/series/${SE.C1}/instances?includefield=all`);
    const o = r.json![0]!;
    expect(v(o, '00280101')).toBe(8); // BitsStored: not a default attribute
    expect(v(o, '00280004')).toBe('MONOCHROME2');
    expect(o['7FE00010']).toBeUndefined();
    const one = (await qido(`/studies/${S.C}/series/${SE.C1}/instances?includefield=00280004`)).json![0]!;
    expect(v(one, '00280004')).toBe('MONOCHROME2');
    expect(one['00280101']).toBeUndefined();
  });
});

describe('QIDO-RS errors and status codes', () => {
  it('answers 204 with no body when nothing matches', async () => {
    const r = await qido('/studies?PatientID=nobody');
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
  });

  it.each([
    ['/studies?NoSuchKeyword=1', /unknown attribute/],
    ['/studies?InstitutionName=x', /not supported/],
    ['/studies?00400275.00401001=x', /sequences/],
    ['/studies?StudyDate=2020', /StudyDate must be a date/],
    ['/studies?StudyDate=20201301', /StudyDate must be a date/],
    ['/studies?StudyDate=20201231-20200101', /starts after/],
    ['/studies?StudyDate=20200101-20200201-20200301', /StudyDate/],
    ['/studies?StudyTime=2500', /StudyTime/],
    ['/studies?StudyInstanceUID=abc', /UID/],
    ['/studies?StudyInstanceUID=1.2.*', /wildcards/],
    ['/series?SeriesNumber=two', /integer/],
    ['/studies?limit=0', /limit/],
    ['/studies?limit=ten', /limit/],
    ['/studies?offset=-1', /offset/],
    ['/studies?fuzzymatching=maybe', /fuzzymatching/],
    ['/studies?includefield=NotAnAttribute', /unknown attribute/],
    ['/studies?PatientID=a&PatientID=b', /more than once/],
    ['/studies/not-a-uid/series', /not a valid UID/],
  ])('400 for %s', async (path, message) => {
    const r = await qido(path);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).message).toMatch(message);
  });

  it('406 when the client takes no JSON', async () => {
    const r = await qido('/studies', { accept: 'multipart/related; type="application/dicom+xml"' });
    expect(r.status).toBe(406);
    expect((await qido('/studies?PatientID=QIDO-3', { accept: 'application/json' })).status).toBe(200);
    expect((await qido('/studies?PatientID=QIDO-3', { accept: '*/*' })).status).toBe(200);
  });

  it('says fuzzymatching is not supported, and matches literally', async () => {
    const r = await qido('/studies?PatientName=doe%5Ejohn&fuzzymatching=true');
    expect(uids(r)).toEqual([S.B]);
    expect(r.headers.get('warning')).toMatch(/^299 carpus: "The fuzzymatching parameter is not supported/);
  });
});

describe('QIDO-RS computed attributes', () => {
  it('stay exact when rows are deleted (triggers of sql/002_qido.sql)', async () => {
    const F = `${ROOT}.2.6`;
    const base = { StudyInstanceUID: F, PatientName: 'Counter^Carl', PatientID: 'QIDO-COUNT', StudyDate: '19990101' };
    const files = [
      { ...base, SeriesInstanceUID: `${ROOT}.3.61`, Modality: 'CR', SeriesNumber: 1, SOPClassUID: CR, SOPInstanceUID: `${ROOT}.4.61`, InstanceNumber: 1 },
      { ...base, SeriesInstanceUID: `${ROOT}.3.61`, Modality: 'CR', SeriesNumber: 1, SOPClassUID: CR, SOPInstanceUID: `${ROOT}.4.62`, InstanceNumber: 2 },
      { ...base, SeriesInstanceUID: `${ROOT}.3.62`, Modality: 'OT', SeriesNumber: 2, SOPClassUID: SC, SOPInstanceUID: `${ROOT}.4.63`, InstanceNumber: 1 },
    ];
    expect((await stow(node.dicomweb, files.map(makeInstance))).status).toBe(200);
    const before = (await qido(`/studies?StudyInstanceUID=${F}&includefield=SOPClassesInStudy`)).json![0]!;
    expect([v(before, '00201206'), v(before, '00201208')]).toEqual([2, 3]);
    expect(before['00080061']!.Value).toEqual(['CR', 'OT']);
    expect(before['00080062']!.Value).toEqual([CR, SC].sort());
    const db = node.node.ctx.db;
    await db.query('DELETE FROM instance WHERE sop_instance_uid = $1', [`${ROOT}.4.63`]);
    await db.query('DELETE FROM series WHERE series_instance_uid = $1', [`${ROOT}.3.62`]);
    await db.query('DELETE FROM instance WHERE sop_instance_uid = $1', [`${ROOT}.4.62`]);
    const after = (await qido(`/studies?StudyInstanceUID=${F}&includefield=SOPClassesInStudy`)).json![0]!;
    expect([v(after, '00201206'), v(after, '00201208')]).toEqual([1, 1]);
    expect(after['00080061']!.Value).toEqual(['CR']);
    expect(after['00080062']!.Value).toEqual([CR]);
    expect(v((await qido(`/studies/${F}/series`)).json![0]!, '00201209')).toBe(1);
  });

  it('are backfilled when the migration runs on an archive that already holds data', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-qido-mig-'));
    const only001 = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-qido-sql-'));
    fs.copyFileSync(path.join(SQL_DIR, '001_archive.sql'), path.join(only001, '001_archive.sql'));
    const db = await openDb({ dataDir });
    try {
      await migrate(db, undefined, only001);
      await db.query(`INSERT INTO study (study_instance_uid, attributes) VALUES ('1.2.3', '{}')`);
      await db.query(`INSERT INTO series (series_instance_uid, study_instance_uid, modality, attributes)
                      VALUES ('1.2.3.1', '1.2.3', 'CR', '{}'), ('1.2.3.2', '1.2.3', 'SR', '{}')`);
      await db.query(`INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
                        transfer_syntax_uid, size_bytes, sha256, storage_path, metadata)
                      SELECT '1.2.3.1.' || g, '1.2.3.1', '1.2.3', '1.2.840.10008.5.1.4.1.1.1', '1.2.840.10008.1.2.1', 1, 'x', 'x', '{}'
                      FROM generate_series(1, 3) g`);
      await migrate(db);
      const [st] = await db.query<any>('SELECT num_series, num_instances, modalities, sop_classes FROM study');
      expect(st).toEqual({ num_series: 2, num_instances: 3, modalities: ['CR', 'SR'], sop_classes: ['1.2.840.10008.5.1.4.1.1.1'] });
      const se = await db.query<any>('SELECT series_instance_uid AS uid, num_instances AS n FROM series ORDER BY 1');
      expect(se).toEqual([{ uid: '1.2.3.1', n: 3 }, { uid: '1.2.3.2', n: 0 }]);
    } finally {
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(only001, { recursive: true, force: true });
    }
  });
});
