import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './index.ts';
import type { Logger } from '../log.ts';

export const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Versioned migrations: sql/NNN_name.sql, applied in order, each in its own transaction. */
export function listMigrations(dir = SQL_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f.slice(4, -4),
      sql: fs.readFileSync(path.join(dir, f), 'utf8'),
    }));
}

// Any 64-bit constant: serialises concurrent starters on one PostgreSQL database.
const MIGRATION_LOCK = 7_204_131_559;

export async function migrate(db: Db, log?: Logger, dir = SQL_DIR): Promise<number[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: number[] = [];
  await db.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    const done = new Set(
      (await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
    );
    for (const m of listMigrations(dir)) {
      if (done.has(m.version)) continue;
      await db.transaction(async (tx) => {
        await tx.exec(m.sql);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
      log?.info({ version: m.version, name: m.name }, 'migration applied');
      applied.push(m.version);
    }
  } finally {
    await db.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
  return applied;
}

export async function isMigrated(db: Db, dir = SQL_DIR): Promise<boolean> {
  const want = listMigrations(dir).map((m) => m.version);
  const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations');
  const have = new Set(rows.map((r) => r.version));
  return want.every((v) => have.has(v));
}
