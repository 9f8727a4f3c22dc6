import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RoutingRules, RoutingRulesError, DEFAULT_RULES_FILE } from '../../src/routing/rules.ts';
import { dicomwebReadTarget } from '../../src/audit/index.ts';
import { upstreamAuthorization } from '../../src/analysis/config.ts';

const CR = '1.2.840.10008.5.1.4.1.1.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const SC = '1.2.840.10008.5.1.4.1.1.7';
const SR = '1.2.840.10008.5.1.4.1.1.88.33';
const ds = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { vr: 'CS', Value: [v] }]));
const M = '00080060';
const BODY = '00180015';
const DESC = '0008103E';
const MANUF = '00080070';

describe('routing rules', () => {
  const rules = RoutingRules.load();

  it('loads the shipped config/routing.json', () => {
    expect(rules.source).toBe(DEFAULT_RULES_FILE);
    expect(rules.enabled).toBe(true);
    expect(rules.stableMs).toBe(3000);
  });

  it('matches CR/DX/DR hand radiographs, with or without a body part', () => {
    expect(rules.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'HAND' })).match).toBe(true);
    expect(rules.evaluate(DX, ds({ [M]: 'DX', [BODY]: 'hand' })).match).toBe(true);
    expect(rules.evaluate(DX, ds({ [M]: 'DR', [BODY]: 'WRIST' })).match).toBe(true);
    expect(rules.evaluate(CR, ds({ [M]: 'CR' })).match).toBe(true);
    expect(rules.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'BONE AGE' })).match).toBe(true);
  });

  it('refuses other modalities, body parts, SOP classes, excluded series and carpus objects, saying why', () => {
    expect(rules.evaluate(CR, ds({ [M]: 'MR', [BODY]: 'HAND' })).reason).toMatch(/Modality "MR"/);
    expect(rules.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'CHEST' })).reason).toMatch(/not a hand/);
    expect(rules.evaluate(SC, ds({ [M]: 'CR', [BODY]: 'HAND' })).reason).toMatch(/not an analysed image class/);
    expect(rules.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'HAND', [DESC]: 'Dose Report' })).match).toBe(false);
    expect(rules.evaluate(SR, ds({ [M]: 'SR' })).reason).toBe('carpus result object');
    expect(rules.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'HAND', [MANUF]: 'carpus' })).reason).toBe('carpus result object');
    expect(rules.evaluate(CR, { ...ds({ [M]: 'CR', [BODY]: 'HAND' }), '00990010': { vr: 'LO', Value: ['CARPUS'] } }).match).toBe(false);
  });

  it('reads a rules file with overrides and rejects bad ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-rules-'));
    const f = path.join(dir, 'r.json');
    fs.writeFileSync(f, JSON.stringify({ stableSeconds: 10, seriesDescriptionInclude: ['^hand'], sopClasses: [CR, SC], allowEmptyBodyPart: false }));
    const r = RoutingRules.load(f);
    expect(r.stableMs).toBe(10_000);
    expect(r.evaluate(SC, ds({ [M]: 'CR', [BODY]: 'HAND', [DESC]: 'Hand PA' })).match).toBe(true);
    expect(r.evaluate(CR, ds({ [M]: 'CR', [BODY]: 'HAND', [DESC]: 'Wrist' })).reason).toMatch(/include/);
    expect(r.evaluate(CR, ds({ [M]: 'CR', [DESC]: 'Hand' })).reason).toMatch(/empty/);
    fs.writeFileSync(f, JSON.stringify({ stableSecond: 1 }));
    expect(() => RoutingRules.load(f)).toThrow(RoutingRulesError);
    fs.writeFileSync(f, JSON.stringify({ seriesDescriptionExclude: ['('] }));
    expect(() => RoutingRules.load(f)).toThrow(/bad regular expression/);
    expect(() => RoutingRules.load(path.join(dir, 'missing.json'))).toThrow(/cannot read/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('audit helpers', () => {
  it('classifies DICOMweb reads without the query string', () => {
    expect(dicomwebReadTarget('/dicom-web/studies?PatientName=X')).toEqual({ kind: 'qido', resource: '/studies' });
    expect(dicomwebReadTarget('/dicom-web/studies/1.2/series/3.4/instances')).toEqual({ kind: 'qido', study: '1.2', series: '3.4', resource: '/studies/{uid}/series/{uid}/instances' });
    expect(dicomwebReadTarget('/dicom-web/studies/1.2/series/3.4/instances/5.6/frames/1')).toMatchObject({ kind: 'wado', study: '1.2', series: '3.4', sop: '5.6' });
    expect(dicomwebReadTarget('/dicom-web/studies/1.2/metadata')).toMatchObject({ kind: 'wado', study: '1.2', resource: '/studies/{uid}/metadata' });
    expect(dicomwebReadTarget('/api/audit')).toBeUndefined();
  });

  it('builds upstream Authorization headers', () => {
    expect(upstreamAuthorization('basic:u:p:w')).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
    expect(upstreamAuthorization('bearer:abc')).toBe('Bearer abc');
    expect(upstreamAuthorization(undefined)).toBeUndefined();
  });
});
