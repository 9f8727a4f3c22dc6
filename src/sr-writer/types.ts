/**
 * The interface between inference (which fills a BoneAgeResult) and the report writers
 * (which turn it into a TID 1500 Structured Report and an RGB Secondary Capture heat map).
 */
import type { DecodePool } from '../pixel/index.ts';

export type Sex = 'M' | 'F' | 'unknown';

/** A heat map at the radiograph's geometry: `data[row * width + column]`, values in [0,1]. */
export interface Heatmap {
  /** Columns of the source image. */
  width: number;
  /** Rows of the source image. */
  height: number;
  data: Float32Array;
  /** How it was made, e.g. "Grad-CAM on layer features.12" (goes into the SC's Derivation Description). */
  method?: string;
}

export interface ModelIdentity {
  /** e.g. "RidgeNet". */
  name: string;
  /** e.g. "1.2.0". Changes the Device Observer UID. */
  version: string;
  /** Hex SHA-256 of the model weights file. Changes the Device Observer UID. */
  sha256: string;
}

/** What the inference engine produced for one radiograph. */
export interface BoneAgeResult {
  /** Estimated bone age in months. */
  boneAgeMonths: number;
  /** The sex the model was given (and the SD table is chosen by). */
  sex: Sex;
  model: ModelIdentity;
  /** e.g. "cpu", "cuda". */
  executionProvider: string;
  heatmap: Heatmap;
  /** Hand-mask quality figures (name → value), reported as algorithm parameters. */
  maskQuality?: Record<string, number>;
  /** Further algorithm parameters (name → value) to report, e.g. input size, TTA. */
  parameters?: Record<string, string | number | boolean>;
}

/** Age assessment written into the SR, all ages in months. */
export interface AgeAssessment {
  /** Bone age as written (rounded to 2 decimals). */
  boneAgeMonths: number;
  /** Chronological age at the study as written; absent when the source has no usable dates or age. */
  chronologicalAgeMonths?: number;
  /** Where the chronological age came from. */
  chronologicalAgeSource: 'birth-date' | 'patient-age' | 'absent';
  /** Bone age minus chronological age. */
  differenceMonths?: number;
  /** The Greulich-Pyle (Brush Foundation) SD used, months. */
  sdMonths?: number;
  /** (bone age - chronological age) / SD. */
  sds?: number;
  verdict?: 'delayed' | 'normal' | 'advanced';
  /** Why SDS/verdict are absent, when they are. */
  notComputedReason?: string;
}

/** Fixed values for deterministic output (tests, golden files). */
export interface WriterOverrides {
  /** Creation time of both objects (default: now). */
  now?: Date;
  srSeriesInstanceUid?: string;
  srSopInstanceUid?: string;
  scSeriesInstanceUid?: string;
  scSopInstanceUid?: string;
  trackingUid?: string;
}

export interface WriteOptions {
  /**
   * Where the source radiograph is decoded for the SC background: a DecodePool from src/pixel
   * (worker threads with a time limit: use it for archive input in the server) or 'inline'
   * (default; same thread, no time limit).
   */
  decoder?: DecodePool | 'inline';
  /** UID root (default: env CARPUS_UID_ROOT, else 2.25 UUID-derived UIDs). */
  uidRoot?: string;
  /** Series numbers of the new series (default 9901 for the SR, 9902 for the SC). */
  srSeriesNumber?: number;
  scSeriesNumber?: number;
  /** Carpus software version for the equipment modules (default: package.json version). */
  softwareVersion?: string;
  /** Institution-facing device name (default "carpus"). */
  deviceName?: string;
  overrides?: WriterOverrides;
}

export interface WrittenObject {
  /** DICOM Part 10 bytes (Explicit VR Little Endian). */
  part10: Buffer;
  sopClassUid: string;
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

export interface WrittenReports {
  sr: WrittenObject;
  sc: WrittenObject;
  studyInstanceUid: string;
  /** The UID of the device observer (changes with the model version and weights). */
  deviceObserverUid: string;
  trackingUid: string;
  /** The numbers exactly as written into the SR. */
  numbers: AgeAssessment;
}
