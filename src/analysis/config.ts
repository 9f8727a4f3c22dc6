/** Auto-analysis settings from the environment (the node's own settings are in src/config.ts). */
import { z } from 'zod';
import { ConfigError } from '../config.ts';

const bool = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(z.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no']))
  .transform((s) => ['1', 'true', 'on', 'yes'].includes(s));

const Schema = z.object({
  /** off: no routing, no queue, no delivery (the archive alone). */
  CARPUS_AUTO_ANALYSIS: bool.default(true),
  CARPUS_ROUTING_RULES: z.string().optional(),
  CARPUS_ANALYSIS_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
  CARPUS_ANALYSIS_RETRY_LIMIT: z.coerce.number().int().min(0).max(100).default(4),
  CARPUS_ANALYSIS_RETRY_DELAY_SECONDS: z.coerce.number().int().min(0).max(3600).default(5),
  /** An analysis still active after this long is taken as lost and retried (a crashed node elsewhere). */
  CARPUS_ANALYSIS_EXPIRE_SECONDS: z.coerce.number().int().min(5).max(3600).default(600),
  /**
   * true (default): this node is the only worker on its database (always so with PGlite), so jobs
   * left active by a previous process are retried at start. Set false when several nodes share one
   * PostgreSQL: lost jobs then wait for CARPUS_ANALYSIS_EXPIRE_SECONDS.
   */
  CARPUS_SINGLE_NODE: bool.default(true),
  CARPUS_ANALYSIS_POLL_SECONDS: z.coerce.number().min(0.5).max(60).default(1),
  CARPUS_ANALYSIS_INFERENCE_MODULE: z.string().optional(),
  CARPUS_UPSTREAM_DICOMWEB: z.string().url().optional(),
  /** "basic:USER:PASSWORD" or "bearer:TOKEN" (or a raw Authorization header value). */
  CARPUS_UPSTREAM_AUTH: z.string().optional(),
  CARPUS_DELIVERY_RETRY_BASE_MS: z.coerce.number().int().min(10).max(600_000).default(1000),
  CARPUS_DELIVERY_RETRY_MAX_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
  CARPUS_DELIVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
});

export interface AnalysisConfig {
  enabled: boolean;
  rulesFile: string | undefined;
  concurrency: number;
  retryLimit: number;
  retryDelaySeconds: number;
  expireSeconds: number;
  singleNode: boolean;
  pollSeconds: number;
  inferenceModule: string | undefined;
  upstream: { url: string; authorization: string | undefined } | undefined;
  delivery: { retryBaseMs: number; retryMaxMs: number; timeoutMs: number };
  /** The environment the node was started with (handed to a CARPUS_ANALYSIS_INFERENCE_MODULE). */
  env: NodeJS.ProcessEnv;
}

export function upstreamAuthorization(spec: string | undefined): string | undefined {
  if (!spec || !spec.trim()) return undefined;
  const s = spec.trim();
  const basic = /^basic:([^:]*):(.*)$/i.exec(s);
  if (basic) return `Basic ${Buffer.from(`${basic[1]}:${basic[2]}`).toString('base64')}`;
  const bearer = /^bearer:(.+)$/i.exec(s);
  if (bearer) return `Bearer ${bearer[1]}`;
  return s;
}

export function loadAnalysisConfig(env: NodeJS.ProcessEnv): AnalysisConfig {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = Schema.safeParse(clean);
  if (!r.success) {
    throw new ConfigError(`invalid configuration:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  const e = r.data;
  return {
    enabled: e.CARPUS_AUTO_ANALYSIS,
    rulesFile: e.CARPUS_ROUTING_RULES,
    concurrency: e.CARPUS_ANALYSIS_CONCURRENCY,
    retryLimit: e.CARPUS_ANALYSIS_RETRY_LIMIT,
    retryDelaySeconds: e.CARPUS_ANALYSIS_RETRY_DELAY_SECONDS,
    expireSeconds: e.CARPUS_ANALYSIS_EXPIRE_SECONDS,
    singleNode: e.CARPUS_SINGLE_NODE,
    pollSeconds: e.CARPUS_ANALYSIS_POLL_SECONDS,
    inferenceModule: e.CARPUS_ANALYSIS_INFERENCE_MODULE,
    upstream: e.CARPUS_UPSTREAM_DICOMWEB
      ? { url: e.CARPUS_UPSTREAM_DICOMWEB.replace(/\/+$/, ''), authorization: upstreamAuthorization(e.CARPUS_UPSTREAM_AUTH) }
      : undefined,
    delivery: { retryBaseMs: e.CARPUS_DELIVERY_RETRY_BASE_MS, retryMaxMs: e.CARPUS_DELIVERY_RETRY_MAX_MS, timeoutMs: e.CARPUS_DELIVERY_TIMEOUT_MS },
    env,
  };
}
