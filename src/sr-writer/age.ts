/**
 * Chronological age at the study and the bone-age assessment (difference, SDS, verdict).
 * Ages are in months; a month is 365.25/12 = 30.4375 days.
 */
import { gpSd, verdictOf } from './gp-sd.ts';
import type { AgeAssessment, Sex } from './types.ts';

export const DAYS_PER_MONTH = 365.25 / 12;

/** DICOM DA "YYYYMMDD" (also tolerates the ACR-NEMA "YYYY.MM.DD") → UTC ms, or undefined. */
export function parseDa(da: string | undefined): number | undefined {
  if (!da) return undefined;
  const m = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(da.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return t;
}

/** DICOM AS "nnnD|W|M|Y" → months, or undefined. */
export function parseAs(as: string | undefined): number | undefined {
  if (!as) return undefined;
  const m = /^(\d{3})([DWMY])$/.exec(as.trim().toUpperCase());
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'D':
      return n / DAYS_PER_MONTH;
    case 'W':
      return (n * 7) / DAYS_PER_MONTH;
    case 'M':
      return n;
    default:
      return n * 12;
  }
}

export interface ChronologicalAge {
  months?: number;
  source: 'birth-date' | 'patient-age' | 'absent';
}

/** From PatientBirthDate and StudyDate, else PatientAge, else absent. */
export function chronologicalAge(birthDate?: string, studyDate?: string, patientAge?: string): ChronologicalAge {
  const b = parseDa(birthDate);
  const s = parseDa(studyDate);
  if (b !== undefined && s !== undefined && s >= b) {
    return { months: (s - b) / 86_400_000 / DAYS_PER_MONTH, source: 'birth-date' };
  }
  const fromAge = parseAs(patientAge);
  if (fromAge !== undefined) return { months: fromAge, source: 'patient-age' };
  return { source: 'absent' };
}

/** Rounds to 2 decimals (what the SR's DS values carry). */
export function round2(x: number): number {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? 0 : r;
}

/** The assessment as written: every number rounded to 2 decimals, SDS computed from the rounded ages. */
export function assess(boneAgeMonths: number, sex: Sex, chrono: ChronologicalAge): AgeAssessment {
  if (!Number.isFinite(boneAgeMonths) || boneAgeMonths < 0) throw new Error(`boneAgeMonths must be a non-negative number, got ${boneAgeMonths}`);
  const ba = round2(boneAgeMonths);
  if (chrono.months === undefined) {
    return {
      boneAgeMonths: ba,
      chronologicalAgeSource: 'absent',
      notComputedReason: 'chronological age unknown: the source has neither PatientBirthDate with StudyDate nor PatientAge',
    };
  }
  const ca = round2(chrono.months);
  const diff = round2(ba - ca);
  const out: AgeAssessment = { boneAgeMonths: ba, chronologicalAgeMonths: ca, chronologicalAgeSource: chrono.source, differenceMonths: diff };
  const sd = gpSd(sex, ca);
  if ('reason' in sd) {
    out.notComputedReason = sd.reason;
    return out;
  }
  out.sdMonths = round2(sd.sdMonths);
  out.sds = round2((ba - ca) / sd.sdMonths);
  out.verdict = verdictOf((ba - ca) / sd.sdMonths);
  return out;
}
