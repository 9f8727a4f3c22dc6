/**
 * Standard deviations of skeletal (bone) age by chronological age and sex, from the Brush
 * Foundation study (Cleveland) as tabulated with the Greulich-Pyle atlas:
 *
 *   Greulich WW, Pyle SI. Radiographic Atlas of Skeletal Development of the Hand and Wrist.
 *   2nd ed. Stanford (CA): Stanford University Press; 1959. Table of means and standard
 *   deviations of skeletal age (months) of the Brush Foundation children, boys 3 months to
 *   17 years, girls 3 months to 16 years.
 *
 * PROVENANCE (read before clinical use): the printed atlas could not be consulted from this
 * project's sources, nor a peer-reviewed paper reproducing the table. The numbers below were
 * found in one public reproduction (a bone-age growth-chart program on GitHub that labels them
 * "Brush Foundation Study", located by a code search on 2026-11-27); they agree with the table as
 * the author knew it from bone-age reporting tools, but they were NOT checked against the
 * printed page. Before clinical use, a radiologist should confirm them against the atlas (2nd ed.,
 * 1959); the tests pin these exact values so that any correction is a deliberate change.
 *
 * Use (documented choice): the SD for a chronological age is linearly interpolated between the
 * tabulated ages; below 3 months the 3-month value is used; beyond the last tabulated age
 * (boys 17 y, girls 16 y) the last value is used for up to 12 months, and after that no SD is
 * given (the SR then says the SDS was not computed). With sex unknown no SD is given.
 */
import type { Sex } from './types.ts';

/** Chronological ages (months) at which the table gives values. */
export const GP_TABLE_AGES_MONTHS = {
  M: [3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72, 84, 96, 108, 120, 132, 144, 156, 168, 180, 192, 204],
  F: [3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72, 84, 96, 108, 120, 132, 144, 156, 168, 180, 192],
} as const;

/** SD of skeletal age (months) at each age of GP_TABLE_AGES_MONTHS. */
export const GP_SD_MONTHS = {
  M: [0.69, 1.13, 1.43, 1.97, 3.52, 3.92, 4.52, 5.08, 5.4, 6.66, 8.36, 8.79, 9.17, 8.91, 9.1, 9.0, 9.79, 10.09, 10.38, 10.44, 10.72, 11.32, 12.86, 13.05],
  F: [0.72, 1.16, 1.36, 1.77, 3.49, 4.64, 5.37, 5.97, 7.48, 8.98, 10.73, 11.65, 10.23, 9.64, 10.23, 10.74, 11.73, 11.94, 10.24, 10.67, 11.3, 9.23, 7.31],
} as const;

/** Mean skeletal age (months) of the Brush Foundation children at each tabulated age (for reference/plots). */
export const BRUSH_MEAN_SKELETAL_AGE_MONTHS = {
  M: [3.01, 6.09, 9.56, 12.74, 19.36, 25.97, 32.4, 38.21, 43.89, 49.04, 56.0, 62.43, 75.46, 88.2, 101.38, 113.9, 125.68, 137.32, 148.82, 158.39, 170.02, 182.72, 195.32, 206.21],
  F: [3.02, 6.04, 9.05, 12.04, 18.22, 24.16, 30.96, 36.63, 43.5, 50.14, 60.06, 66.21, 78.5, 89.3, 100.66, 113.86, 125.66, 137.86, 149.62, 162.28, 174.25, 183.62, 189.44],
} as const;

/** How far past the last tabulated age the last SD is still used. */
export const EXTRAPOLATION_MONTHS = 12;

export interface SdLookup {
  sdMonths: number;
  /** How it was obtained, for the report. */
  how: 'tabulated' | 'interpolated' | 'clamped-low' | 'clamped-high';
}

/** The Greulich-Pyle SD (months) for a sex and chronological age, or a reason why there is none. */
export function gpSd(sex: Sex, chronologicalAgeMonths: number): SdLookup | { reason: string } {
  if (sex !== 'M' && sex !== 'F') return { reason: 'sex unknown: the Greulich-Pyle SD tables are by sex' };
  if (!Number.isFinite(chronologicalAgeMonths) || chronologicalAgeMonths < 0) return { reason: 'chronological age is not a valid number' };
  const ages = GP_TABLE_AGES_MONTHS[sex];
  const sds = GP_SD_MONTHS[sex];
  const first = ages[0]!;
  const last = ages[ages.length - 1]!;
  if (chronologicalAgeMonths <= first) return { sdMonths: sds[0]!, how: chronologicalAgeMonths === first ? 'tabulated' : 'clamped-low' };
  if (chronologicalAgeMonths >= last) {
    if (chronologicalAgeMonths > last + EXTRAPOLATION_MONTHS) {
      return { reason: `chronological age ${(chronologicalAgeMonths / 12).toFixed(1)} y is beyond the Greulich-Pyle SD table (to ${last / 12} y for ${sex === 'M' ? 'boys' : 'girls'})` };
    }
    return { sdMonths: sds[sds.length - 1]!, how: chronologicalAgeMonths === last ? 'tabulated' : 'clamped-high' };
  }
  for (let i = 1; i < ages.length; i++) {
    const a1 = ages[i]!;
    if (chronologicalAgeMonths <= a1) {
      const a0 = ages[i - 1]!;
      const s0 = sds[i - 1]!;
      const s1 = sds[i]!;
      if (chronologicalAgeMonths === a1) return { sdMonths: s1, how: 'tabulated' };
      const t = (chronologicalAgeMonths - a0) / (a1 - a0);
      return { sdMonths: s0 + t * (s1 - s0), how: 'interpolated' };
    }
  }
  /* c8 ignore next */
  return { reason: 'unreachable' };
}

/** The verdict at ±2 SD: |SDS| > 2 is delayed/advanced, otherwise normal. */
export function verdictOf(sds: number): 'delayed' | 'normal' | 'advanced' {
  if (sds < -2) return 'delayed';
  if (sds > 2) return 'advanced';
  return 'normal';
}
