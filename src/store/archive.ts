import fsp from 'node:fs/promises';
import type { Db, Queryable } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { parseInstance, DicomParseError, type ParsedInstance } from '../dicom/part10.ts';
import { STUDY_LEVEL_TAGS, SERIES_LEVEL_TAGS, T } from '../dicom/dictionary.ts';
import { pick, str, int } from '../dicom/json.ts';
import { FileStore, TooLargeError, type TempFile } from './files.ts';

/** STOW-RS Failure Reason (0008,1197) values used by carpus (PS3.18 Table I.2-2 and own codes). */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  /** Known SOPInstanceUID with different content: carpus's own code in the 01xx range. */
  DuplicateDifferentContent: 0x0111,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSOPClass: 0xa900,
  CannotUnderstand: 0xc000,
  /** StudyInstanceUID differs from the study in the request URL: carpus's own Cxxx code. */
  StudyInstanceUIDMismatch: 0xc409,
} as const;

export interface StoredInstance {
  status: 'stored' | 'duplicate';
  SOPClassUID: string;
  SOPInstanceUID: string;
  StudyInstanceUID: string;
  SeriesInstanceUID: string;
  sha256: string;
}
export interface FailedInstance {
  status: 'failed';
  failureReason: number;
  message: string;
  SOPClassUID?: string;
  SOPInstanceUID?: string;
  StudyInstanceUID?: string;
}
export type StoreOutcome = StoredInstance | FailedInstance;

export interface StoreOptions {
  /** StudyInstanceUID from the request URL, if any. */
  expectedStudyInstanceUID?: string;
  receivedFrom?: string;
  maxBytes: number;
}

/** Called after an instance is newly indexed (audit, routing: later stages hook in here). */
export type StoredListener = (outcome: StoredInstance, parsed: ParsedInstance) => void | Promise<void>;

export class Archive {
  readonly files: FileStore;
  private listeners: StoredListener[] = [];

  constructor(
    readonly db: Db,
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.files = new FileStore(dataDir);
  }

  async init(): Promise<void> {
    const removed = await this.files.init();
    if (removed) this.log.warn({ removed }, 'removed temporary files left by an interrupted write');
  }

  onStored(listener: StoredListener): void {
    this.listeners.push(listener);
  }

  /**
   * Receives one instance from a stream. Never throws for bad input: every
   * problem becomes a 'failed' outcome, and nothing half-written is indexed.
   */
  async store(body: AsyncIterable<Buffer>, opts: StoreOptions): Promise<StoreOutcome> {
    let temp: TempFile;
    try {
      temp = await this.files.writeTemp(body, opts.maxBytes);
    } catch (err) {
      if (err instanceof TooLargeError) return { status: 'failed', failureReason: FailureReason.OutOfResources, message: err.message };
      throw err; // a broken request stream: the caller decides
    }
    try {
      return await this.storeTemp(temp, opts);
    } catch (err) {
      await this.files.discard(temp).catch(() => undefined);
      this.log.error({ err: errInfo(err) }, 'store failed');
      return { status: 'failed', failureReason: FailureReason.ProcessingFailure, message: 'internal error while storing the instance' };
    }
  }

  private async storeTemp(temp: TempFile, opts: StoreOptions): Promise<StoreOutcome> {
    let parsed: ParsedInstance;
    try {
      const bytes = await fsp.readFile(temp.path);
      parsed = parseInstance(bytes);
    } catch (err) {
      await this.files.discard(temp);
      if (err instanceof DicomParseError) {
        const failureReason = err.kind === 'missing-attribute' ? FailureReason.DataSetDoesNotMatchSOPClass : FailureReason.CannotUnderstand;
        return { status: 'failed', failureReason, message: err.message };
      }
      throw err;
    }
    const ids = {
      SOPClassUID: parsed.SOPClassUID,
      SOPInstanceUID: parsed.SOPInstanceUID,
      StudyInstanceUID: parsed.StudyInstanceUID,
    };
    if (opts.expectedStudyInstanceUID && opts.expectedStudyInstanceUID !== parsed.StudyInstanceUID) {
      await this.files.discard(temp);
      return {
        status: 'failed',
        failureReason: FailureReason.StudyInstanceUIDMismatch,
        message: 'StudyInstanceUID of the instance differs from the study in the request URL',
        ...ids,
      };
    }

    const existing = await this.instanceDigest(parsed.SOPInstanceUID);
    if (existing) return this.resolveExisting(existing, temp, parsed, opts);

    const seriesOwner = await this.db.query<{ study_instance_uid: string }>(
      'SELECT study_instance_uid FROM series WHERE series_instance_uid = $1',
      [parsed.SeriesInstanceUID],
    );
    if (seriesOwner[0] && seriesOwner[0].study_instance_uid !== parsed.StudyInstanceUID) {
      await this.files.discard(temp);
      return {
        status: 'failed',
        failureReason: FailureReason.DataSetDoesNotMatchSOPClass,
        message: 'SeriesInstanceUID already belongs to another study in this archive',
        ...ids,
      };
    }

    const storagePath = await this.files.commit(temp);
    const inserted = await this.db.transaction((tx) => this.index(tx, parsed, temp, storagePath, opts.receivedFrom));
    if (!inserted) {
      // Another request stored the same SOPInstanceUID between our check and insert.
      const now = await this.instanceDigest(parsed.SOPInstanceUID);
      if (now && now.sha256 === temp.sha256) return { status: 'duplicate', ...ids, SeriesInstanceUID: parsed.SeriesInstanceUID, sha256: temp.sha256 };
      return { status: 'failed', failureReason: FailureReason.DuplicateDifferentContent, message: 'SOPInstanceUID was stored concurrently with different content', ...ids };
    }
    const outcome = { status: 'stored' as const, ...ids, SeriesInstanceUID: parsed.SeriesInstanceUID, sha256: temp.sha256 };
    for (const l of this.listeners) {
      try {
        await l(outcome, parsed);
      } catch (err) {
        this.log.error({ err: errInfo(err), SOPInstanceUID: parsed.SOPInstanceUID }, 'stored-instance listener failed');
      }
    }
    return outcome;
  }

  private async resolveExisting(
    existing: { sha256: string },
    temp: TempFile,
    parsed: ParsedInstance,
    opts: StoreOptions,
  ): Promise<StoreOutcome> {
    const ids = { SOPClassUID: parsed.SOPClassUID, SOPInstanceUID: parsed.SOPInstanceUID, StudyInstanceUID: parsed.StudyInstanceUID };
    if (existing.sha256 === temp.sha256) {
      await this.files.discard(temp);
      return { status: 'duplicate', ...ids, SeriesInstanceUID: parsed.SeriesInstanceUID, sha256: temp.sha256 };
    }
    // Never overwrite: keep the new bytes aside for the administrator and record it.
    const quarantinePath = await this.files.quarantine(temp);
    await this.db.query(
      `INSERT INTO store_conflict (sop_instance_uid, stored_sha256, received_sha256, quarantine_path, received_from)
       VALUES ($1, $2, $3, $4, $5)`,
      [parsed.SOPInstanceUID, existing.sha256, temp.sha256, quarantinePath, opts.receivedFrom ?? null],
    );
    this.log.warn({ SOPInstanceUID: parsed.SOPInstanceUID, quarantinePath }, 'known SOPInstanceUID with different content: rejected, kept in quarantine');
    return {
      status: 'failed',
      failureReason: FailureReason.DuplicateDifferentContent,
      message: 'an instance with this SOPInstanceUID and different content is already stored; it was not overwritten',
      ...ids,
    };
  }

  private async instanceDigest(sop: string): Promise<{ sha256: string } | undefined> {
    const rows = await this.db.query<{ sha256: string }>('SELECT sha256 FROM instance WHERE sop_instance_uid = $1', [sop]);
    return rows[0];
  }

  /** Inserts study, series and instance rows; false when the instance row already existed. */
  private async index(tx: Queryable, p: ParsedInstance, temp: TempFile, storagePath: string, receivedFrom?: string): Promise<boolean> {
    const m = p.metadata;
    const studyAttrs = pick(m, STUDY_LEVEL_TAGS);
    await tx.query(
      `INSERT INTO study (study_instance_uid, patient_id, patient_name, patient_birth_date, patient_sex,
         study_date, study_time, accession_number, study_id, referring_physician_name, study_description, attributes)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12::jsonb)
       ON CONFLICT (study_instance_uid) DO UPDATE SET updated_at = now()`,
      [
        p.StudyInstanceUID,
        str(m, T.PatientID) ?? null,
        str(m, T.PatientName) ?? null,
        str(m, T.PatientBirthDate) ?? null,
        str(m, T.PatientSex) ?? null,
        str(m, T.StudyDate) ?? null,
        str(m, T.StudyTime) ?? null,
        str(m, T.AccessionNumber) ?? null,
        str(m, T.StudyID) ?? null,
        str(m, T.ReferringPhysicianName) ?? null,
        str(m, T.StudyDescription) ?? null,
        JSON.stringify(studyAttrs),
      ],
    );
    await tx.query(
      `INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, series_description,
         body_part_examined, performed_procedure_step_start_date, attributes)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb)
       ON CONFLICT (series_instance_uid) DO UPDATE SET updated_at = now()`,
      [
        p.SeriesInstanceUID,
        p.StudyInstanceUID,
        str(m, T.Modality) ?? null,
        int(m, T.SeriesNumber) ?? null,
        str(m, T.SeriesDescription) ?? null,
        str(m, T.BodyPartExamined) ?? null,
        str(m, T.PerformedProcedureStepStartDate) ?? null,
        JSON.stringify(pick(m, SERIES_LEVEL_TAGS)),
      ],
    );
    const rows = await tx.query(
      `INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid, instance_number,
         transfer_syntax_uid, number_of_frames, rows, columns, size_bytes, sha256, storage_path, metadata, received_from)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13::jsonb,$14)
       ON CONFLICT (sop_instance_uid) DO NOTHING
       RETURNING sop_instance_uid`,
      [
        p.SOPInstanceUID,
        p.SeriesInstanceUID,
        p.StudyInstanceUID,
        p.SOPClassUID,
        int(m, T.InstanceNumber) ?? null,
        p.TransferSyntaxUID,
        int(m, T.NumberOfFrames) ?? null,
        int(m, T.Rows) ?? null,
        int(m, T.Columns) ?? null,
        temp.size,
        temp.sha256,
        storagePath,
        JSON.stringify(m),
        receivedFrom ?? null,
      ],
    );
    return rows.length === 1;
  }
}

export function errInfo(err: unknown): { name?: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
