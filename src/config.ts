import path from 'node:path';
import { z } from 'zod';

export const ROLES = ['store', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenEntry {
  principal: string;
  roles: Set<Role>;
  token: string;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | undefined;
  tokens: TokenEntry[];
  publicUrl: string | undefined;
  logLevel: string;
  maxInstanceBytes: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * CARPUS_TOKENS = "principal:role[+role]:token,principal:role:token".
 * One string keeps deployment to a single secret; a token is never logged.
 */
export function parseTokens(spec: string | undefined): TokenEntry[] {
  if (!spec || spec.trim() === '') return [];
  const seen = new Set<string>();
  return spec.split(',').map((raw, i) => {
    const entry = raw.trim();
    const parts = entry.split(':');
    if (parts.length < 3) {
      throw new ConfigError(
        `CARPUS_TOKENS entry ${i + 1} must be "principal:role[+role]:token" (roles: ${ROLES.join(', ')})`,
      );
    }
    const [principal, rolesSpec] = parts as [string, string];
    const token = parts.slice(2).join(':');
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(principal)) {
      throw new ConfigError(`CARPUS_TOKENS entry ${i + 1}: principal must be 1-64 of [A-Za-z0-9_.@-]`);
    }
    const roles = new Set<Role>();
    for (const r of rolesSpec.split('+')) {
      if (!(ROLES as readonly string[]).includes(r)) {
        throw new ConfigError(`CARPUS_TOKENS entry ${i + 1}: unknown role "${r}" (roles: ${ROLES.join(', ')})`);
      }
      roles.add(r as Role);
    }
    if (token.length < 16) {
      throw new ConfigError(`CARPUS_TOKENS entry ${i + 1} (${principal}): token must be at least 16 characters`);
    }
    if (seen.has(token)) throw new ConfigError(`CARPUS_TOKENS entry ${i + 1} (${principal}): token reused`);
    seen.add(token);
    return { principal, roles, token };
  });
}

const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  CARPUS_DATA_DIR: z.string().min(1).default('./var'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  CARPUS_TOKENS: z.string().optional(),
  CARPUS_PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CARPUS_MAX_INSTANCE_BYTES: z.coerce.number().int().positive().default(2 * 1024 ** 3),
});

/** Reads and validates the environment; throws ConfigError with every problem listed. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const blankToUndefined = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = EnvSchema.safeParse(blankToUndefined);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const tokens = parseTokens(e.CARPUS_TOKENS);
  if (!isLoopbackHost(e.HOST) && tokens.length === 0) {
    throw new ConfigError(
      `HOST=${e.HOST} is not a loopback address: set CARPUS_TOKENS (e.g. "pacs:store:<secret>,viewer:read:<secret>") ` +
        'so that every request must carry a bearer token, or bind to 127.0.0.1',
    );
  }
  return {
    host: e.HOST,
    port: e.PORT,
    dataDir: path.resolve(e.CARPUS_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    tokens,
    publicUrl: e.CARPUS_PUBLIC_URL?.replace(/\/+$/, ''),
    logLevel: e.LOG_LEVEL,
    maxInstanceBytes: e.CARPUS_MAX_INSTANCE_BYTES,
  };
}
