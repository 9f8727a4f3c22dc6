/**
 * carpus report writers: from a source radiograph (Part 10) and a BoneAgeResult, a TID 1500
 * Comprehensive SR and an RGB Secondary Capture heat map, both in the source's study, each in a
 * new series.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readPart10, dictStr } from './dataset.ts';
import { assess, chronologicalAge } from './age.ts';
import { buildSr, COMPREHENSIVE_SR } from './sr.ts';
import { buildSc, composeImage, sourceGray, SECONDARY_CAPTURE, toPng } from './sc.ts';
import { deviceObserverUid, newUid, uidRoot } from './uid.ts';
import type { BoneAgeResult, WriteOptions, WrittenReports } from './types.ts';

export * from './types.ts';
export { assess, chronologicalAge, parseAs, parseDa } from './age.ts';
export { gpSd, verdictOf, GP_SD_MONTHS, GP_TABLE_AGES_MONTHS } from './gp-sd.ts';
export { CODES, PRIVATE_SCHEME } from './codes.ts';
export { AI_STATEMENT, COMPREHENSIVE_SR } from './sr.ts';
export { SECONDARY_CAPTURE } from './sc.ts';
export { deviceObserverUid, newUid, deterministicUid, isValidUid } from './uid.ts';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version?: string };
    return `carpus ${pkg.version ?? 'unknown'}`;
  } catch {
    return 'carpus unknown';
  }
}

function validateResult(r: BoneAgeResult): void {
  if (!Number.isFinite(r.boneAgeMonths) || r.boneAgeMonths < 0 || r.boneAgeMonths > 300) throw new Error(`boneAgeMonths out of range: ${r.boneAgeMonths}`);
  if (!['M', 'F', 'unknown'].includes(r.sex)) throw new Error(`sex must be M, F or unknown, got ${String(r.sex)}`);
  if (!r.model?.name || !r.model.version || !/^[0-9a-fA-F]{64}$/.test(r.model.sha256 ?? '')) throw new Error('model needs a name, a version and a 64-hex-digit sha256');
}

export interface WrittenReportsWithPng extends WrittenReports {
  /** The SC's pixels as PNG (only when asked for with `png: true`). */
  png?: Buffer;
}

/** Writes the SR and the SC for one radiograph. */
export async function writeBoneAgeReports(sourcePart10: Uint8Array, result: BoneAgeResult, opts: WriteOptions & { png?: boolean } = {}): Promise<WrittenReportsWithPng> {
  validateResult(result);
  const root = uidRoot(opts.uidRoot);
  const o = opts.overrides ?? {};
  const now = o.now ?? new Date();
  const { meta, dict } = readPart10(sourcePart10);
  const need = (tag: string, name: string) => {
    const v = dictStr(dict, tag);
    if (!v) throw new Error(`source has no ${name} (${tag})`);
    return v;
  };
  const sourceRef = {
    classUid: need('00080016', 'SOPClassUID'),
    instanceUid: need('00080018', 'SOPInstanceUID'),
    seriesUid: need('0020000E', 'SeriesInstanceUID'),
    studyUid: need('0020000D', 'StudyInstanceUID'),
  };
  const chrono = chronologicalAge(dictStr(dict, '00100030'), dictStr(dict, '00080020'), dictStr(dict, '00101010'));
  const numbers = assess(result.boneAgeMonths, result.sex, chrono);
  const softwareVersion = opts.softwareVersion ?? packageVersion();

  const scUids = { series: o.scSeriesInstanceUid ?? newUid(root), instance: o.scSopInstanceUid ?? newUid(root) };
  const srUids = {
    series: o.srSeriesInstanceUid ?? newUid(root),
    instance: o.srSopInstanceUid ?? newUid(root),
    deviceObserver: deviceObserverUid(result.model, root ?? ''),
    tracking: o.trackingUid ?? newUid(root),
  };

  const gray = await sourceGray(sourcePart10, opts.decoder ?? 'inline');
  const image = await composeImage(gray, result, numbers);
  const scBytes = buildSc({
    source: dict,
    sourceTransferSyntaxUid: dictStr(meta, '00020010'),
    sourceRef,
    image,
    result,
    uids: scUids,
    now,
    seriesNumber: opts.scSeriesNumber ?? 9902,
    softwareVersion,
  });
  const srBytes = buildSr({
    source: dict,
    sourceRef,
    scRef: { classUid: SECONDARY_CAPTURE, instanceUid: scUids.instance, seriesUid: scUids.series },
    result,
    numbers,
    uids: srUids,
    now,
    seriesNumber: opts.srSeriesNumber ?? 9901,
    softwareVersion,
    deviceName: opts.deviceName ?? 'carpus',
  });
  const out: WrittenReportsWithPng = {
    sr: { part10: srBytes, sopClassUid: COMPREHENSIVE_SR, sopInstanceUid: srUids.instance, seriesInstanceUid: srUids.series },
    sc: { part10: scBytes, sopClassUid: SECONDARY_CAPTURE, sopInstanceUid: scUids.instance, seriesInstanceUid: scUids.series },
    studyInstanceUid: sourceRef.studyUid,
    deviceObserverUid: srUids.deviceObserver,
    trackingUid: srUids.tracking,
    numbers,
  };
  if (opts.png) out.png = await toPng(image);
  return out;
}
