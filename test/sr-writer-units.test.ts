/** Report writer pieces that need no external tools: SD table, ages, SDS, UIDs, colour map, DS. */
import { afterEach, describe, expect, it } from 'vitest';
import { assess, chronologicalAge, parseAs, parseDa } from '../src/sr-writer/age.ts';
import { GP_SD_MONTHS, GP_TABLE_AGES_MONTHS, gpSd, verdictOf } from '../src/sr-writer/gp-sd.ts';
import { deterministicUid, deviceObserverUid, isValidUid, newUid, uidRoot } from '../src/sr-writer/uid.ts';
import { COLOUR_LUT } from '../src/sr-writer/colormap.ts';
import { ds } from '../src/sr-writer/dataset.ts';
import { CODES, PRIVATE_SCHEME } from '../src/sr-writer/codes.ts';
import { formatAge } from '../src/sr-writer/format.ts';
import { headerSvg, wrapText } from '../src/sr-writer/sc.ts';

describe('Greulich-Pyle SD table', () => {
  it('has one SD per tabulated age, boys to 17 y and girls to 16 y', () => {
    expect(GP_TABLE_AGES_MONTHS.M.length).toBe(GP_SD_MONTHS.M.length);
    expect(GP_TABLE_AGES_MONTHS.F.length).toBe(GP_SD_MONTHS.F.length);
    expect(GP_TABLE_AGES_MONTHS.M.at(-1)).toBe(204);
    expect(GP_TABLE_AGES_MONTHS.F.at(-1)).toBe(192);
  });

  it('pins the published values (a correction must be a deliberate change)', () => {
    expect(GP_SD_MONTHS.M).toEqual([0.69, 1.13, 1.43, 1.97, 3.52, 3.92, 4.52, 5.08, 5.4, 6.66, 8.36, 8.79, 9.17, 8.91, 9.1, 9.0, 9.79, 10.09, 10.38, 10.44, 10.72, 11.32, 12.86, 13.05]);
    expect(GP_SD_MONTHS.F).toEqual([0.72, 1.16, 1.36, 1.77, 3.49, 4.64, 5.37, 5.97, 7.48, 8.98, 10.73, 11.65, 10.23, 9.64, 10.23, 10.74, 11.73, 11.94, 10.24, 10.67, 11.3, 9.23, 7.31]);
  });

  it('returns tabulated values at tabulated ages and interpolates linearly between them', () => {
    expect(gpSd('M', 120)).toEqual({ sdMonths: 9.79, how: 'tabulated' });
    expect(gpSd('F', 60)).toEqual({ sdMonths: 11.65, how: 'tabulated' });
    const mid = gpSd('F', 186);
    expect('sdMonths' in mid && mid.sdMonths).toBeCloseTo((9.23 + 7.31) / 2, 10);
    const q = gpSd('M', 126);
    expect('sdMonths' in q && q.sdMonths).toBeCloseTo(9.79 + 0.5 * (10.09 - 9.79), 10);
  });

  it('clamps below 3 months and up to 12 months past the table, then gives no SD', () => {
    expect(gpSd('M', 1)).toEqual({ sdMonths: 0.69, how: 'clamped-low' });
    expect(gpSd('F', 200)).toEqual({ sdMonths: 7.31, how: 'clamped-high' });
    expect(gpSd('F', 204)).toEqual({ sdMonths: 7.31, how: 'clamped-high' });
    expect(gpSd('F', 205)).toHaveProperty('reason');
    expect(gpSd('M', 216)).toEqual({ sdMonths: 13.05, how: 'clamped-high' });
    expect(gpSd('M', 217)).toHaveProperty('reason');
  });

  it('gives no SD when sex is unknown', () => {
    expect(gpSd('unknown', 100)).toEqual({ reason: expect.stringContaining('sex unknown') });
  });

  it('calls delayed/advanced beyond ±2 SD only', () => {
    expect(verdictOf(-2.01)).toBe('delayed');
    expect(verdictOf(-2)).toBe('normal');
    expect(verdictOf(2)).toBe('normal');
    expect(verdictOf(2.01)).toBe('advanced');
  });
});

describe('chronological age', () => {
  it('parses DA and AS', () => {
    expect(parseDa('20200915')).toBe(Date.UTC(2020, 8, 15));
    expect(parseDa('2020.09.15')).toBe(Date.UTC(2020, 8, 15));
    expect(parseDa('20200231')).toBeUndefined();
    expect(parseDa('')).toBeUndefined();
    expect(parseAs('012Y')).toBe(144);
    expect(parseAs('006M')).toBe(6);
    expect(parseAs('010W')).toBeCloseTo(70 / 30.4375, 10);
    expect(parseAs('12Y')).toBeUndefined();
  });

  it('prefers birth date and study date, then PatientAge, else absent', () => {
    const a = chronologicalAge('20100101', '20200101', '099Y');
    expect(a.source).toBe('birth-date');
    expect(a.months).toBeCloseTo(3652 / 30.4375, 10);
    expect(chronologicalAge(undefined, '20200101', '010Y')).toEqual({ months: 120, source: 'patient-age' });
    expect(chronologicalAge('20210101', '20200101', undefined)).toEqual({ source: 'absent' });
    expect(chronologicalAge(undefined, undefined, undefined)).toEqual({ source: 'absent' });
  });
});

describe('assessment', () => {
  it('computes difference, SDS and verdict from the rounded ages', () => {
    const n = assess(150.004, 'M', { months: 120, source: 'birth-date' });
    expect(n).toEqual({ boneAgeMonths: 150, chronologicalAgeMonths: 120, chronologicalAgeSource: 'birth-date', differenceMonths: 30, sdMonths: 9.79, sds: 3.06, verdict: 'advanced' });
    const d = assess(90, 'F', { months: 120, source: 'patient-age' });
    expect(d.verdict).toBe('delayed');
    expect(d.sds).toBe(-2.56);
  });

  it('says why numbers are missing', () => {
    expect(assess(100, 'F', { source: 'absent' })).toEqual({ boneAgeMonths: 100, chronologicalAgeSource: 'absent', notComputedReason: expect.stringContaining('chronological age unknown') });
    const u = assess(100, 'unknown', { months: 100, source: 'birth-date' });
    expect(u.differenceMonths).toBe(0);
    expect(u.sds).toBeUndefined();
    expect(u.notComputedReason).toContain('sex unknown');
  });

  it('rejects impossible bone ages', () => {
    expect(() => assess(Number.NaN, 'F', { source: 'absent' })).toThrow();
    expect(() => assess(-1, 'F', { source: 'absent' })).toThrow();
  });
});

describe('UIDs', () => {
  const saved = process.env.CARPUS_UID_ROOT;
  afterEach(() => {
    if (saved === undefined) delete process.env.CARPUS_UID_ROOT;
    else process.env.CARPUS_UID_ROOT = saved;
  });

  it('are UUID-derived 2.25 UIDs without a root', () => {
    delete process.env.CARPUS_UID_ROOT;
    const u = newUid();
    expect(u).toMatch(/^2\.25\.[1-9][0-9]*$/);
    expect(isValidUid(u)).toBe(true);
    expect(newUid()).not.toBe(u);
  });

  it('use CARPUS_UID_ROOT when set, and reject a bad root', () => {
    process.env.CARPUS_UID_ROOT = '1.2.826.0.1.3680043.10.999';
    const u = newUid();
    expect(u.startsWith('1.2.826.0.1.3680043.10.999.1.')).toBe(true);
    expect(isValidUid(u)).toBe(true);
    process.env.CARPUS_UID_ROOT = '1.02.3';
    expect(() => uidRoot()).toThrow(/not a valid UID root/);
  });

  it('give a Device Observer UID that is stable per model and changes with version or weights', () => {
    delete process.env.CARPUS_UID_ROOT;
    const m = { name: 'RidgeNet', version: '1.0.0', sha256: 'ab'.repeat(32) };
    const a = deviceObserverUid(m);
    expect(deviceObserverUid({ ...m })).toBe(a);
    expect(deviceObserverUid({ ...m, version: '1.0.1' })).not.toBe(a);
    expect(deviceObserverUid({ ...m, sha256: 'cd'.repeat(32) })).not.toBe(a);
    expect(isValidUid(a)).toBe(true);
    const rooted = deviceObserverUid(m, '1.2.3.4');
    expect(rooted.startsWith('1.2.3.4.2.')).toBe(true);
    expect(deviceObserverUid(m, '1.2.3.4')).toBe(rooted);
    expect(isValidUid(deterministicUid(['x'], '1.2.3'))).toBe(true);
    expect(isValidUid(deterministicUid(['x'], '1.2.840.10008.999999.999999.999999.99999'))).toBe(true);
  });
});

describe('encoding details', () => {
  it('writes DS values of at most 16 characters', () => {
    expect(ds(171.437)).toBe('171.44');
    expect(ds(-15.0)).toBe('-15');
    expect(ds(-0.001)).toBe('0');
    expect(ds(123456789012.345)).toBe('123456789012.35');
    expect(ds(1e15)).toBe('1000000000000000');
    expect(() => ds(1e16)).toThrow();
    expect(() => ds(Number.NaN)).toThrow();
  });

  it('uses no code value over 16 characters and only the private designator for private codes', () => {
    for (const c of Object.values(CODES)) {
      expect(c.value.length).toBeLessThanOrEqual(16);
      expect(c.meaning.length).toBeLessThanOrEqual(64);
      expect(['DCM', 'SCT', 'LN', 'UCUM', 'UMLS', 'RFC5646', PRIVATE_SCHEME]).toContain(c.scheme);
    }
  });

  it('has a colour map whose lightness rises monotonically', () => {
    let prev = -1;
    for (let i = 0; i < 256; i++) {
      const [r, g, b] = [COLOUR_LUT[i * 3]!, COLOUR_LUT[i * 3 + 1]!, COLOUR_LUT[i * 3 + 2]!];
      const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      expect(y).toBeGreaterThanOrEqual(prev - 0.5);
      prev = y;
    }
  });

  it('formats ages for the burned-in text', () => {
    expect(formatAge(171.44)).toBe('14 y 3 mo');
    expect(formatAge(7)).toBe('7 mo');
    expect(formatAge(144)).toBe('12 y');
  });

  it('wraps header text by words and puts the legend below the text on narrow images', () => {
    expect(wrapText('AI RESULT NOT A DIAGNOSIS', 12)).toEqual(['AI RESULT', 'NOT A', 'DIAGNOSIS']);
    expect(wrapText('supercalifragilistic word', 5)).toEqual(['supercalifragilistic', 'word']);
    const result = { boneAgeMonths: 120, sex: 'F' as const, model: { name: 'M', version: '1', sha256: 'a'.repeat(64) }, executionProvider: 'cpu', heatmap: { width: 1, height: 1, data: new Float32Array(1) } };
    const n = { boneAgeMonths: 120, chronologicalAgeSource: 'absent' as const, notComputedReason: 'chronological age unknown' };
    const wide = headerSvg(1514, result, n);
    const narrow = headerSvg(300, result, n);
    expect(wide.svg).toContain('AI RESULT \u2014 NOT A DIAGNOSIS \u2014 TO BE VERIFIED BY A PHYSICIAN');
    expect(wide.svg).toContain('SDS not computed: chronological age unknown');
    expect(narrow.height).toBeGreaterThan((wide.height * 300) / 1514);
    const legendY = Number(/<rect x="\d+" y="(\d+)" width="\d+" height="\d+" fill="url\(#g\)"/.exec(narrow.svg)![1]);
    const textYs = [...narrow.svg.matchAll(/<text x="\d+" y="(\d+)"[^>]*font-size="(\d+)"[^>]*>(?!Heat|low|high)/g)].map((m) => Number(m[1]));
    expect(Math.max(...textYs)).toBeLessThan(legendY);
  });
});

