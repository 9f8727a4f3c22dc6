import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.ts';

export type Row = Record<string, unknown>;

/** What both backends offer: parameterised queries ($1, $2, ...) and multi-statement scripts. */
export interface Queryable {
  query<T extends Row = Row>(text: string, params?: unknown[]): Promise<T[]>;
  /** A parameterless script of one or more statements. */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Says that about `rows` rows of the archive tables were written or updated. PGlite runs no
   * autovacuum: it vacuums and analyzes them itself once enough were written and it is idle.
   * A PostgreSQL server does this with its autovacuum: nothing to do.
   */
  noteWrites(rows: number): void;
  close(): Promise<void>;
}

/**
 * PGlite's own VACUUM ANALYZE: after PGLITE_VACUUM_AFTER_ROWS written rows, once no statement has
 * run for PGLITE_VACUUM_IDLE_MS; after PGLITE_VACUUM_FORCE_ROWS, at the first moment no statement
 * is running, so a node that is never idle for a second (a long bulk load) is vacuumed too.
 */
export const PGLITE_VACUUM_AFTER_ROWS = 1000;
export const PGLITE_VACUUM_FORCE_ROWS = 4000;
export const PGLITE_VACUUM_IDLE_MS = 1000;
const VACUUM_TABLES = 'study, series, instance';

/** PostgreSQL server through a pg pool. */
async function openPostgres(url: string): Promise<Db> {
  const { default: pg } = await import('pg');
  // Keep DATE/TIMESTAMP columns as text where asked for; timestamptz as JS Date.
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query('SELECT 1');
  return {
    kind: 'postgres',
    async query<T extends Row>(text: string, params?: unknown[]) {
      return (await pool.query(text, params as unknown[])).rows as T[];
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          async query<R extends Row>(text: string, params?: unknown[]) {
            return (await client.query(text, params as unknown[])).rows as R[];
          },
          async exec(sql: string) {
            await client.query(sql);
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    noteWrites() {},
    async close() {
      await pool.end();
    },
  };
}

/** Embedded PostgreSQL (PGlite, WASM) in a folder under the data directory. */
async function openPglite(dir: string, log?: Logger): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  fs.mkdirSync(dir, { recursive: true });
  const fresh = !fs.existsSync(path.join(dir, 'PG_VERSION'));
  let db = await PGlite.create(dir);
  if (fresh) {
    // A new database is made by PGlite's initdb, whose WASM memory stays with that instance
    // (measured: ~800 MiB RSS after a fresh create, ~440 MiB after reopening): reopen once.
    await db.close();
    db = await PGlite.create(dir);
  }

  // Idle maintenance. Without it every updated row (the 002/004 counter triggers update the study
  // and series rows per INSERT statement) stays as a dead version that each search skips over,
  // and the planner keeps the statistics of an empty database. Measured before this: after 10,000
  // STOWed instances `study` held 11k dead rows for 2k live ones; a VACUUM halved QIDO p95.
  // PGlite runs one statement at a time on this thread, so VACUUM waits for idleness (or, after a
  // long bulk load, for a moment with no statement running): a request arriving while it runs
  // waits for it (measured: see bench/README.md "DICOMweb archive").
  let busy = 0;
  let lastUse = Date.now();
  let written = 0;
  let timer: NodeJS.Timeout | undefined;
  let vacuuming: Promise<void> | undefined;
  let closed = false;
  const use = async <T>(fn: () => Promise<T>): Promise<T> => {
    busy++;
    try {
      return await fn();
    } finally {
      busy--;
      lastUse = Date.now();
    }
  };
  const schedule = (ms: number) => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      const idle = Date.now() - lastUse;
      if (busy > 0 || vacuuming || (idle < PGLITE_VACUUM_IDLE_MS && written < PGLITE_VACUUM_FORCE_ROWS)) {
        return schedule(written >= PGLITE_VACUUM_FORCE_ROWS ? 20 : Math.max(PGLITE_VACUUM_IDLE_MS - idle, 50));
      }
      const rows = written;
      written = 0;
      const started = Date.now();
      vacuuming = db
        .exec(`VACUUM (ANALYZE) ${VACUUM_TABLES}`)
        .then(
          () => log?.info({ rows, ms: Date.now() - started }, 'PGlite: vacuumed and analyzed the archive tables'),
          (err: unknown) => log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'PGlite: VACUUM failed'),
        )
        .finally(() => {
          vacuuming = undefined;
        });
    }, ms);
    timer.unref();
  };

  return {
    kind: 'pglite',
    async query<T extends Row>(text: string, params?: unknown[]) {
      return use(async () => (await db.query<T>(text, params)).rows);
    },
    async exec(sql: string) {
      await use(() => db.exec(sql));
    },
    noteWrites(rows: number) {
      written += rows;
      if (written >= PGLITE_VACUUM_FORCE_ROWS && timer) {
        clearTimeout(timer); // a long wait for idleness: check again soon
        timer = undefined;
      }
      if (written >= PGLITE_VACUUM_AFTER_ROWS) schedule(written >= PGLITE_VACUUM_FORCE_ROWS ? 20 : PGLITE_VACUUM_IDLE_MS);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      return use(() => db.transaction(async (tx) =>
        fn({
          async query<R extends Row>(text: string, params?: unknown[]) {
            return (await tx.query<R>(text, params)).rows;
          },
          async exec(sql: string) {
            await tx.exec(sql);
          },
        }),
      ));
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await vacuuming;
      await db.close();
    },
  };
}

export async function openDb(opts: { databaseUrl?: string; dataDir: string; log?: Logger }): Promise<Db> {
  if (opts.databaseUrl) {
    const db = await openPostgres(opts.databaseUrl);
    opts.log?.info({ db: 'postgres' }, 'database: PostgreSQL server');
    return db;
  }
  const dir = path.join(opts.dataDir, 'pglite');
  const db = await openPglite(dir, opts.log);
  opts.log?.info({ db: 'pglite', dir }, 'database: embedded PGlite');
  return db;
}
