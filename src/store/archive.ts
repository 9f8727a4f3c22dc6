import fsp from 'node:fs/promises';
import type { Db, Queryable } from '../db/index.ts';
import type { Logger } from '../log.ts';
import { parseInstance, instanceFields, DicomParseError, type ParsedInstance } from '../dicom/part10.ts';
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

/**
 * Called after instances are newly indexed (audit, routing: later stages hook in here), with the
 * instances of one index transaction together and the principal that sent them.
 */
export type StoredListener = (stored: { outcome: StoredInstance; parsed: ParsedInstance }[], receivedFrom: string | undefined) => void | Promise<void>;

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
    const batch = this.batch(opts);
    await batch.add(body);
    return (await batch.finish())[0]!;
  }

  /** Receives the instances of one request (STOW-RS), indexing them in groups: see StoreBatch. */
  batch(opts: StoreOptions): StoreBatch {
    return new StoreBatch(this, opts);
  }

  /** Parses a written part; a failure is returned as an outcome (the temp file discarded), never thrown. */
  async prepare(temp: TempFile, opts: StoreOptions): Promise<ParsedInstance | FailedInstance> {
    let parsed: ParsedInstance;
    try {
      parsed = parseInstance(temp.bytes ?? (await fsp.readFile(temp.path)));
    } catch (err) {
      await this.files.discard(temp);
      if (err instanceof DicomParseError) {
        const failureReason = err.kind === 'missing-attribute' ? FailureReason.DataSetDoesNotMatchSOPClass : FailureReason.CannotUnderstand;
        return { status: 'failed', failureReason, message: err.message };
      }
      this.log.error({ err: errInfo(err) }, 'store failed');
      return { status: 'failed', failureReason: FailureReason.ProcessingFailure, message: 'internal error while storing the instance' };
    } finally {
      temp.bytes = undefined; // parsed: the bytes are not needed any more
    }
    if (opts.expectedStudyInstanceUID && opts.expectedStudyInstanceUID !== parsed.StudyInstanceUID) {
      await this.files.discard(temp);
      return {
        status: 'failed',
        failureReason: FailureReason.StudyInstanceUIDMismatch,
        message: 'StudyInstanceUID of the instance differs from the study in the request URL',
        ...ids(parsed),
      };
    }
    return parsed;
  }

  /**
   * Indexes a group of parsed parts of one request; sets outcomes[slot] for each and never throws.
   * Order of durability, as for a single instance: the temp files' data are on disk, then they are
   * renamed into place and their directories fsynced, and only then the index rows commit (one
   * transaction for the group). A failure of one instance fails that instance alone.
   */
  async indexGroup(items: PendingInstance[], opts: StoreOptions, outcomes: (StoreOutcome | undefined)[]): Promise<void> {
    const internal = (it: PendingInstance, err: unknown): void => {
      this.log.error({ err: errInfo(err) }, 'store failed');
      outcomes[it.slot] = { status: 'failed', failureReason: FailureReason.ProcessingFailure, message: 'internal error while storing the instance', ...ids(it.parsed) };
    };
    const live: PendingInstance[] = [];
    for (const it of items) {
      try {
        await it.temp.durable;
        live.push(it);
      } catch (err) {
        await this.files.discard(it.temp).catch(() => undefined);
        internal(it, err);
      }
    }
    try {
      const stored = await this.indexDurable(live, opts, outcomes, internal);
      if (stored.length) {
        const group = stored.map((it) => ({ outcome: outcomes[it.slot] as StoredInstance, parsed: it.parsed }));
        for (const l of this.listeners) {
          try {
            await l(group, opts.receivedFrom);
          } catch (err) {
            this.log.error({ err: errInfo(err), instances: group.length }, 'stored-instance listener failed');
          }
        }
      }
    } catch (err) {
      for (const it of live) {
        if (outcomes[it.slot]) continue;
        await this.files.discard(it.temp).catch(() => undefined);
        internal(it, err);
      }
    }
  }

  /** Checks, places and indexes durable parts; returns those newly stored (outcomes set for all). */
  private async indexDurable(
    items: PendingInstance[],
    opts: StoreOptions,
    outcomes: (StoreOutcome | undefined)[],
    internal: (it: PendingInstance, err: unknown) => void,
  ): Promise<PendingInstance[]> {
    if (!items.length) return [];
    const sops = [...new Set(items.map((it) => it.parsed.SOPInstanceUID))];
    const seriesUids = [...new Set(items.map((it) => it.parsed.SeriesInstanceUID))];
    const known = new Map(
      (await this.db.query<{ sop_instance_uid: string; sha256: string }>(
        'SELECT sop_instance_uid, sha256 FROM instance WHERE sop_instance_uid = ANY($1::text[])',
        [sops],
      )).map((r) => [r.sop_instance_uid, r.sha256]),
    );
    const owners = new Map(
      (await this.db.query<{ series_instance_uid: string; study_instance_uid: string }>(
        'SELECT series_instance_uid, study_instance_uid FROM series WHERE series_instance_uid = ANY($1::text[])',
        [seriesUids],
      )).map((r) => [r.series_instance_uid, r.study_instance_uid]),
    );

    const toIndex: PendingInstance[] = [];
    const conflicts: { it: PendingInstance; storedSha256: string }[] = [];
    for (const it of items) {
      const p = it.parsed;
      const storedSha256 = known.get(p.SOPInstanceUID);
      if (storedSha256 === it.temp.sha256) {
        await this.files.discard(it.temp);
        outcomes[it.slot] = { status: 'duplicate', ...ids(p), SeriesInstanceUID: p.SeriesInstanceUID, sha256: it.temp.sha256 };
      } else if (storedSha256 !== undefined) {
        conflicts.push({ it, storedSha256 });
      } else if ((owners.get(p.SeriesInstanceUID) ?? p.StudyInstanceUID) !== p.StudyInstanceUID) {
        await this.files.discard(it.temp);
        outcomes[it.slot] = {
          status: 'failed',
          failureReason: FailureReason.DataSetDoesNotMatchSOPClass,
          message: 'SeriesInstanceUID already belongs to another study in this archive',
          ...ids(p),
        };
      } else {
        // Later parts of this group see this one as stored.
        known.set(p.SOPInstanceUID, it.temp.sha256);
        owners.set(p.SeriesInstanceUID, p.StudyInstanceUID);
        toIndex.push(it);
      }
    }

    // Renames all at once (each is a thread-pool round trip), then one round of directory fsyncs.
    // The group's rows are inserted meanwhile, in a transaction that commits only once the files
    // and their directory entries are durable: the order of durability is kept, and the index work
    // no longer waits for the disk (issue #2: ~20 ms of directory fsyncs per request on the STOW tail).
    const dirs = new Set<string>();
    const placing = (async () => {
      const placedOrNot = await Promise.all(
        toIndex.map(async (it) => {
          try {
            it.storagePath = await this.files.place(it.temp, dirs);
            return it;
          } catch (err) {
            await this.files.discard(it.temp).catch(() => undefined);
            internal(it, err);
            return undefined;
          }
        }),
      );
      const quarantined: { it: PendingInstance; storedSha256: string; path: string }[] = [];
      for (const c of conflicts) quarantined.push({ ...c, path: await this.files.quarantine(c.it.temp, dirs) });
      await this.files.syncDirs(dirs);
      return { placed: placedOrNot.filter((it): it is PendingInstance => it !== undefined), quarantined };
    })();
    placing.catch(() => undefined); // awaited below on every path

    let inserted: Set<string> | undefined;
    const indexed: PendingInstance[] = [];
    try {
      inserted = await this.db.transaction(async (tx) => {
        // storagePath is content-addressed: known before the rename.
        const rows = await this.index(tx, toIndex.map((it) => ({ ...it, storagePath: this.files.objectPath(it.temp.sha256) })), opts.receivedFrom);
        const { placed } = await placing; // a failed directory fsync rolls the rows back
        if (placed.length !== toIndex.length) throw new NotPlacedError(); // rows of files not in place: roll back
        return rows;
      });
      indexed.push(...toIndex);
    } catch (err) {
      await placing; // a failed directory fsync fails the group (caller), as before
      if (!(err instanceof NotPlacedError)) this.log.warn({ err: errInfo(err), instances: toIndex.length }, 'group index failed; indexing its instances one by one');
    }
    const { placed, quarantined } = await placing;
    if (!inserted) {
      // One bad row fails the whole statement (or some files could not be placed): index each placed one alone.
      inserted = new Set();
      for (const it of placed) {
        try {
          for (const sop of await this.db.transaction((tx) => this.index(tx, [it], opts.receivedFrom))) inserted.add(sop);
          indexed.push(it);
        } catch (e) {
          internal(it, e);
        }
      }
    }

    this.db.noteWrites(indexed.length);

    const stored: PendingInstance[] = [];
    for (const it of indexed) {
      const p = it.parsed;
      if (inserted.has(p.SOPInstanceUID)) {
        outcomes[it.slot] = { status: 'stored', ...ids(p), SeriesInstanceUID: p.SeriesInstanceUID, sha256: it.temp.sha256 };
        stored.push(it);
        continue;
      }
      // Another request stored the same SOPInstanceUID between our check and insert.
      const now = await this.instanceDigest(p.SOPInstanceUID);
      outcomes[it.slot] =
        now && now.sha256 === it.temp.sha256
          ? { status: 'duplicate', ...ids(p), SeriesInstanceUID: p.SeriesInstanceUID, sha256: it.temp.sha256 }
          : { status: 'failed', failureReason: FailureReason.DuplicateDifferentContent, message: 'SOPInstanceUID was stored concurrently with different content', ...ids(p) };
    }

    // Never overwrite: the new bytes stay aside for the administrator, recorded in store_conflict.
    for (const q of quarantined) {
      const p = q.it.parsed;
      await this.db.query(
        `INSERT INTO store_conflict (sop_instance_uid, stored_sha256, received_sha256, quarantine_path, received_from)
         VALUES ($1, $2, $3, $4, $5)`,
        [p.SOPInstanceUID, q.storedSha256, q.it.temp.sha256, q.path, opts.receivedFrom ?? null],
      );
      this.log.warn({ SOPInstanceUID: p.SOPInstanceUID, quarantinePath: q.path }, 'known SOPInstanceUID with different content: rejected, kept in quarantine');
      outcomes[q.it.slot] = {
        status: 'failed',
        failureReason: FailureReason.DuplicateDifferentContent,
        message: 'an instance with this SOPInstanceUID and different content is already stored; it was not overwritten',
        ...ids(p),
      };
    }
    return stored;
  }

  private async instanceDigest(sop: string): Promise<{ sha256: string } | undefined> {
    const rows = await this.db.query<{ sha256: string }>('SELECT sha256 FROM instance WHERE sop_instance_uid = $1', [sop]);
    return rows[0];
  }

  /**
   * Inserts the study, series and instance rows of a group, one multi-row statement per table
   * (per-statement cost dominates on PGlite); returns the SOPInstanceUIDs newly inserted.
   */
  private async index(tx: Queryable, items: PendingInstance[], receivedFrom?: string): Promise<Set<string>> {
    if (!items.length) return new Set();
    // ON CONFLICT DO UPDATE may not touch a row twice in one statement: one row per study/series.
    const studies = new Map<string, ParsedInstance>();
    const series = new Map<string, ParsedInstance>();
    for (const { parsed: p } of items) {
      if (!studies.has(p.StudyInstanceUID)) studies.set(p.StudyInstanceUID, p);
      if (!series.has(p.SeriesInstanceUID)) series.set(p.SeriesInstanceUID, p);
    }
    const studyRows = [...studies.values()].map((p) => {
      const m = p.metadata;
      return [
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
        JSON.stringify(pick(m, STUDY_LEVEL_TAGS)),
      ];
    });
    await tx.query(
      `INSERT INTO study (study_instance_uid, patient_id, patient_name, patient_birth_date, patient_sex,
         study_date, study_time, accession_number, study_id, referring_physician_name, study_description, attributes)
       VALUES ${valuesList(studyRows.length, 12, { 12: 'jsonb' })}
       ON CONFLICT (study_instance_uid) DO UPDATE SET updated_at = now()`,
      studyRows.flat(),
    );
    const seriesRows = [...series.values()].map((p) => {
      const m = p.metadata;
      return [
        p.SeriesInstanceUID,
        p.StudyInstanceUID,
        str(m, T.Modality) ?? null,
        int(m, T.SeriesNumber) ?? null,
        str(m, T.SeriesDescription) ?? null,
        str(m, T.BodyPartExamined) ?? null,
        str(m, T.PerformedProcedureStepStartDate) ?? null,
        JSON.stringify(pick(m, SERIES_LEVEL_TAGS)),
      ];
    });
    await tx.query(
      `INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, series_description,
         body_part_examined, performed_procedure_step_start_date, attributes)
       VALUES ${valuesList(seriesRows.length, 8, { 4: 'integer', 8: 'jsonb' })}
       ON CONFLICT (series_instance_uid) DO UPDATE SET updated_at = now()`,
      seriesRows.flat(),
    );
    const instanceRows = items.map(({ parsed: p, temp, storagePath }) => {
      const f = instanceFields(p); // read at parse time: no re-parse of the metadata per row
      return [
        p.SOPInstanceUID,
        p.SeriesInstanceUID,
        p.StudyInstanceUID,
        p.SOPClassUID,
        f.InstanceNumber ?? null,
        p.TransferSyntaxUID,
        f.NumberOfFrames ?? null,
        f.Rows ?? null,
        f.Columns ?? null,
        temp.size,
        temp.sha256,
        storagePath,
        p.metadataJson ?? JSON.stringify(p.metadata),
        receivedFrom ?? null,
      ];
    });
    const rows = await tx.query<{ sop_instance_uid: string }>(
      `INSERT INTO instance (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid, instance_number,
         transfer_syntax_uid, number_of_frames, rows, columns, size_bytes, sha256, storage_path, metadata, received_from)
       VALUES ${valuesList(instanceRows.length, 14, { 5: 'integer', 7: 'integer', 8: 'integer', 9: 'integer', 10: 'bigint', 13: 'jsonb' })}
       ON CONFLICT (sop_instance_uid) DO NOTHING
       RETURNING sop_instance_uid`,
      instanceRows.flat(),
    );
    return new Set(rows.map((r) => r.sop_instance_uid));
  }
}

/** Rolls back a group's rows when some of its files could not be placed. */
class NotPlacedError extends Error {}

/** Parts received but not yet indexed, with the outcome slot (part order) each one fills. */
export interface PendingInstance {
  slot: number;
  temp: TempFile;
  parsed: ParsedInstance;
  storagePath?: string;
}

/** Parts kept in memory for parsing up to this size; larger ones are read back from their file. */
const KEEP_BYTES = 16 * 2 ** 20;
/** A group is indexed once it holds this many parts or bytes. */
const GROUP_PARTS = 32;
const GROUP_BYTES = 64 * 2 ** 20;

/**
 * The instances of one request. Parts are written and parsed as they arrive and indexed in
 * groups (one fsync wait, one directory-fsync round and one index transaction per group); one
 * group is indexed while the next is received, never more, so memory stays bounded.
 * Outcomes keep the order of the parts.
 */
export class StoreBatch {
  private readonly outcomes: (StoreOutcome | undefined)[] = [];
  private pending: PendingInstance[] = [];
  private pendingBytes = 0;
  private indexing: Promise<void> = Promise.resolve();

  constructor(
    private readonly archive: Archive,
    private readonly opts: StoreOptions,
  ) {}

  /** An outcome decided without storing (e.g. a part that is not application/dicom). */
  push(outcome: StoreOutcome): void {
    this.outcomes.push(outcome);
  }

  /** Receives one part. Throws only when the body stream itself fails (the part is then dropped). */
  async add(body: AsyncIterable<Buffer>): Promise<void> {
    const slot = this.outcomes.push(undefined) - 1;
    let temp: TempFile;
    try {
      temp = await this.archive.files.writeTemp(body, this.opts.maxBytes, KEEP_BYTES);
    } catch (err) {
      if (err instanceof TooLargeError) {
        this.outcomes[slot] = { status: 'failed', failureReason: FailureReason.OutOfResources, message: err.message };
        return;
      }
      this.outcomes.length = slot; // a broken request stream: the caller decides
      throw err;
    }
    const parsed = await this.archive.prepare(temp, this.opts);
    if ('status' in parsed) {
      this.outcomes[slot] = parsed;
      return;
    }
    this.pending.push({ slot, temp, parsed });
    this.pendingBytes += temp.size;
    if (this.pending.length >= GROUP_PARTS || this.pendingBytes >= GROUP_BYTES) {
      await this.indexing; // the previous group first: at most one group indexing, one filling
      this.startGroup();
    }
  }

  private startGroup(): void {
    const items = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.indexing = this.indexing.then(() => this.archive.indexGroup(items, this.opts, this.outcomes));
  }

  /** Indexes what is pending and returns one outcome per part, in part order. */
  async finish(): Promise<StoreOutcome[]> {
    if (this.pending.length) this.startGroup();
    await this.indexing;
    return this.outcomes.map(
      (o) => o ?? { status: 'failed', failureReason: FailureReason.ProcessingFailure, message: 'internal error while storing the instance' },
    );
  }
}

/** "($1,$2::jsonb,…),(…)" for a multi-row VALUES list; casts by 1-based column. */
function valuesList(rows: number, cols: number, casts: Record<number, string> = {}): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 1; c <= cols; c++) cells.push(`$${r * cols + c}${casts[c] ? `::${casts[c]}` : ''}`);
    out.push(`(${cells.join(',')})`);
  }
  return out.join(',');
}

function ids(p: ParsedInstance): { SOPClassUID: string; SOPInstanceUID: string; StudyInstanceUID: string } {
  return { SOPClassUID: p.SOPClassUID, SOPInstanceUID: p.SOPInstanceUID, StudyInstanceUID: p.StudyInstanceUID };
}

export function errInfo(err: unknown): { name?: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { message: String(err) };
}
