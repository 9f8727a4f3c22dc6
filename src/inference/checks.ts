/**
 * When the node gives no number: the DICOM header says it is not a projection radiograph of a
 * hand (SOP class, modality, body part, descriptions, patient age), the segmentation is not a
 * plausible single hand, or the predicted bone age is outside the range the model can give.
 */
import type { DicomAttributes } from './image-input.ts';

export type RejectionStage = 'input' | 'segmentation' | 'content' | 'range';

export type RejectionCode =
  | 'not-an-image-sop-class'
  | 'not-projection-radiograph'
  | 'modality'
  | 'body-part'
  | 'description'
  | 'adult'
  | 'no-segmentation'
  | 'mask-area'
  | 'mask-fragmented'
  | 'mask-shape'
  | 'not-a-hand'
  | 'out-of-range';

export interface Rejection {
  stage: RejectionStage;
  code: RejectionCode;
  reason: string;
}

const CR = '1.2.840.10008.5.1.4.1.1.1';
const DX_PRESENTATION = '1.2.840.10008.5.1.4.1.1.1.1';
const DX_PROCESSING = '1.2.840.10008.5.1.4.1.1.1.1.1';
const SC = '1.2.840.10008.5.1.4.1.1.7';
const SC_GREY_BYTE = '1.2.840.10008.5.1.4.1.1.7.2';
const SC_GREY_WORD = '1.2.840.10008.5.1.4.1.1.7.3';
/** Projection radiography (and secondary captures of it) the model can read. */
export const ACCEPTED_SOP_CLASSES: ReadonlySet<string> = new Set([CR, DX_PRESENTATION, DX_PROCESSING, SC, SC_GREY_BYTE, SC_GREY_WORD]);
const SC_CLASSES = new Set([SC, SC_GREY_BYTE, SC_GREY_WORD]);

/** Image SOP classes that are not a projection radiograph (named in the reason). */
const OTHER_IMAGE_CLASSES: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image',
  '1.2.840.10008.5.1.4.1.1.2.1': 'Enhanced CT Image',
  '1.2.840.10008.5.1.4.1.1.4': 'MR Image',
  '1.2.840.10008.5.1.4.1.1.4.1': 'Enhanced MR Image',
  '1.2.840.10008.5.1.4.1.1.128': 'PET Image',
  '1.2.840.10008.5.1.4.1.1.20': 'Nuclear Medicine Image',
  '1.2.840.10008.5.1.4.1.1.6.1': 'Ultrasound Image',
  '1.2.840.10008.5.1.4.1.1.3.1': 'Ultrasound Multi-frame Image',
  '1.2.840.10008.5.1.4.1.1.1.2': 'Digital Mammography X-Ray Image',
  '1.2.840.10008.5.1.4.1.1.1.2.1': 'Digital Mammography X-Ray Image (processing)',
  '1.2.840.10008.5.1.4.1.1.1.3': 'Digital Intra-Oral X-Ray Image',
  '1.2.840.10008.5.1.4.1.1.1.3.1': 'Digital Intra-Oral X-Ray Image (processing)',
  '1.2.840.10008.5.1.4.1.1.12.1': 'X-Ray Angiographic Image',
  '1.2.840.10008.5.1.4.1.1.12.2': 'X-Ray Radiofluoroscopic Image',
  '1.2.840.10008.5.1.4.1.1.13.1.3': 'Breast Tomosynthesis Image',
  '1.2.840.10008.5.1.4.1.1.77.1.4': 'VL Photographic Image',
  '1.2.840.10008.5.1.4.1.1.481.1': 'RT Image',
};

/** Modalities of projection radiography. */
export const ACCEPTED_MODALITIES: ReadonlySet<string> = new Set(['CR', 'DX', 'DR', 'RG', 'DF']);

/** BodyPartExamined values (PS3.16 CID 4031 code meanings, upper case) that are a hand. */
export const HAND_BODY_PARTS: ReadonlySet<string> = new Set(['HAND', 'WRIST', 'FINGER', 'THUMB', 'CARPUS', 'METACARPAL', 'LHAND', 'RHAND', 'HAND LEFT', 'HAND RIGHT', 'LEFT HAND', 'RIGHT HAND', 'BONE AGE', 'BONEAGE']);
/** Values that may hold a hand but say nothing specific: accepted unless a description names another part. */
export const GENERIC_BODY_PARTS: ReadonlySet<string> = new Set(['EXTREMITY', 'UPPER EXTREMITY', 'UPPEREXTREMITY', 'UPPER_EXTREMITY', 'UPPER LIMB', 'ARM', 'FOREARM', 'SKELETON', 'BONE']);

const OTHER_PARTS = [
  'TIBIA', 'FIBULA', 'FEMUR', 'KNEE', 'ANKLE', 'FOOT', 'FEET', 'TOE', 'CALCANEUS', 'LEG', 'HIP', 'PELVIS', 'CHEST', 'THORAX',
  'LUNG', 'RIB', 'SKULL', 'HEAD', 'BRAIN', 'SPINE', 'CERVICAL', 'LUMBAR', 'THORACIC', 'ABDOMEN', 'SHOULDER', 'CLAVICLE',
  'HUMERUS', 'ELBOW', 'STERNUM', 'SINUS', 'DENTAL', 'TEETH', 'MANDIBLE', 'BREAST', 'HEART', 'CARDIAC', 'SCAPULA',
];
const HAND_WORDS = /\b(HAND|HANDS|WRIST|CARPAL|FINGERS?|BONE ?AGE|GREULICH|SKELETAL AGE|KNOCHENALTER|MAIN|POIGNET|AGE OSSEUX)\b/i;

function otherPartIn(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const up = text.toUpperCase();
  for (const p of OTHER_PARTS) if (new RegExp(`\\b${p}S?\\b`).test(up)) return p;
  return undefined;
}

/** PatientAge "nnnY/M/W/D" in years, when readable. */
export function ageYears(age: string | undefined): number | undefined {
  const m = /^(\d{1,3})\s*([DWMY])$/.exec((age ?? '').trim().toUpperCase());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'Y' ? n : m[2] === 'M' ? n / 12 : m[2] === 'W' ? n / 52.18 : n / 365.25;
}

/** Largest PatientAge (years) still read: bone age is assessed until the growth plates fuse. */
export const MAX_PATIENT_AGE_YEARS = 21;

/** DICOM header checks before decoding; undefined when the object may be a hand radiograph. */
export function checkDicom(a: DicomAttributes): Rejection | undefined {
  const sop = a.sopClassUid;
  if (!a.hasPixelData) {
    return { stage: 'input', code: 'not-an-image-sop-class', reason: `not an image: the DICOM object${sop ? ` (SOP class ${sop})` : ''} has no pixel data` };
  }
  if (sop && !ACCEPTED_SOP_CLASSES.has(sop)) {
    const name = OTHER_IMAGE_CLASSES[sop];
    return {
      stage: 'input',
      code: 'not-projection-radiograph',
      reason: `not a projection radiograph: SOP class ${name ? `${name} (${sop})` : sop}${a.modality ? `, modality ${a.modality}` : ''}`,
    };
  }
  const modality = a.modality;
  if (modality && !ACCEPTED_MODALITIES.has(modality) && !(modality === 'OT' && sop && SC_CLASSES.has(sop))) {
    return { stage: 'input', code: 'modality', reason: `modality ${modality} is not a projection radiograph (accepted: ${[...ACCEPTED_MODALITIES].join(', ')})` };
  }
  const descriptions = [a.studyDescription, a.seriesDescription, a.protocolName].filter((d): d is string => Boolean(d));
  const bp = a.bodyPartExamined?.replace(/\s+/g, ' ');
  if (bp && !HAND_BODY_PARTS.has(bp) && !GENERIC_BODY_PARTS.has(bp)) {
    return { stage: 'input', code: 'body-part', reason: `body part examined is ${bp}, not a hand` };
  }
  if (!bp || GENERIC_BODY_PARTS.has(bp)) {
    // A generic or absent body part: a description that names another part (and no hand) decides.
    const named = descriptions.some((d) => HAND_WORDS.test(d));
    if (!named) {
      for (const d of descriptions) {
        const other = otherPartIn(d);
        if (other) return { stage: 'input', code: 'description', reason: `the study/series description names ${other.toLowerCase()} ("${d}")${bp ? ` with body part ${bp}` : ''}, not a hand` };
      }
    }
  }
  // A secondary capture (or Modality OT) may be anything: it must say it shows a hand.
  if ((sop && SC_CLASSES.has(sop)) || modality === 'OT') {
    const handBodyPart = bp !== undefined && HAND_BODY_PARTS.has(bp);
    if (!handBodyPart && !descriptions.some((d) => HAND_WORDS.test(d))) {
      return {
        stage: 'input',
        code: 'not-projection-radiograph',
        reason: `a secondary capture${modality ? ` (modality ${modality})` : ''} that does not say it shows a hand (no hand body part or description)`,
      };
    }
  }
  const years = ageYears(a.patientAge);
  if (years !== undefined && years > MAX_PATIENT_AGE_YEARS) {
    return { stage: 'input', code: 'adult', reason: `patient age ${a.patientAge}: bone age is assessed in children (up to ${MAX_PATIENT_AGE_YEARS} years)` };
  }
  return undefined;
}

/** Mask quality figures (on the 128 grid for components, the 256 grid for area and box). */
export interface MaskQuality {
  /** Mask pixels / 256^2 (the largest component, upsampled). */
  areaFraction: number;
  /** 8-connected components of `logits > 0` on the 128 grid. */
  componentCount: number;
  /** Largest component's share of all foreground pixels. */
  largestComponentShare: number;
  /** Mask bounding box height / width in the radiograph's own geometry. */
  boxAspect: number;
  /** Mask pixels / bounding-box pixels (how much of its box the hand fills). */
  boxFill: number;
  /** Bounding box area / 256^2. */
  boxFraction: number;
  /** `logits > 0` was empty (the model then sees the whole radiograph). */
  empty: boolean;
}

export interface PlausibilityLimits {
  minAreaFraction: number;
  maxAreaFraction: number;
  minLargestComponentShare: number;
  minBoxAspect: number;
  maxBoxAspect: number;
}

/**
 * Default bounds, from the masks of hand-segmenter 1.0.0 on the 1,259 images of the rsna-train-299
 * val split and the 14 native-size samples (none rejected): area fraction 0.185-1.0 (that
 * segmenter covers the whole image for ~12% of real hands on grey backgrounds, so there is no
 * upper bound on the area yet; tighten maxAreaFraction to ~0.8 with a segmenter that separates
 * them), largest component >= 0.80 of the segmented area, box height/width 0.79-1.83.
 */
export const DEFAULT_LIMITS: PlausibilityLimits = {
  minAreaFraction: 0.1,
  maxAreaFraction: 1,
  minLargestComponentShare: 0.5,
  minBoxAspect: 0.5,
  maxBoxAspect: 2.5,
};

export function checkMask(q: MaskQuality, limits: PlausibilityLimits = DEFAULT_LIMITS): Rejection | undefined {
  const f = (x: number): string => x.toFixed(3);
  if (q.empty) return { stage: 'segmentation', code: 'no-segmentation', reason: 'no hand found: the segmenter marked no pixel as hand' };
  if (q.areaFraction < limits.minAreaFraction || q.areaFraction > limits.maxAreaFraction) {
    return {
      stage: 'segmentation',
      code: 'mask-area',
      reason: `implausible hand mask: it covers ${f(q.areaFraction)} of the image (expected ${limits.minAreaFraction}-${limits.maxAreaFraction})`,
    };
  }
  if (q.largestComponentShare < limits.minLargestComponentShare) {
    return {
      stage: 'segmentation',
      code: 'mask-fragmented',
      reason: `implausible hand mask: fragmented into ${q.componentCount} parts, the largest only ${f(q.largestComponentShare)} of the segmented area (expected >= ${limits.minLargestComponentShare})`,
    };
  }
  if (q.boxAspect < limits.minBoxAspect || q.boxAspect > limits.maxBoxAspect) {
    return {
      stage: 'segmentation',
      code: 'mask-shape',
      reason: `implausible hand mask: its bounding box has height/width ${f(q.boxAspect)} (expected ${limits.minBoxAspect}-${limits.maxBoxAspect})`,
    };
  }
  return undefined;
}

/**
 * The content check's outcome, in every result: `not-available` when the model card has no feature
 * statistics (nothing was checked), `not-run` when an earlier stage rejected the image first.
 */
export type ContentCheck =
  | { status: 'passed' | 'failed'; score: number; threshold: number }
  | { status: 'not-available'; reason: string }
  | { status: 'not-run' };

/** Rejects an image whose RidgeNet features lie farther from the training hands than the threshold. */
export function checkContent(score: number, threshold: number): Rejection | undefined {
  if (Number.isFinite(score) && score <= threshold) return undefined;
  return {
    stage: 'content',
    code: 'not-a-hand',
    reason: `the image content does not look like a hand radiograph: RidgeNet feature distance ${Number.isFinite(score) ? score.toFixed(1) : String(score)} to the training hands exceeds ${threshold.toFixed(1)}`,
  };
}

export const AGE_RANGE_MONTHS = { min: 0, max: 240 } as const;

export function checkAge(months: number, range: { min: number; max: number } = AGE_RANGE_MONTHS): Rejection | undefined {
  if (!Number.isFinite(months) || months < range.min || months > range.max) {
    return { stage: 'range', code: 'out-of-range', reason: `predicted bone age ${Number.isFinite(months) ? months.toFixed(1) : String(months)} months is outside ${range.min}-${range.max} months: not a readable paediatric hand` };
  }
  return undefined;
}
