/**
 * onnxruntime-node sessions: execution providers from CARPUS_EXECUTION_PROVIDERS (default
 * "cuda,cpu"), with one log line and the CPU provider when CUDA cannot load (onnxruntime-node
 * throws instead of falling back), and CARPUS_INTRA_OP_THREADS.
 */
import ort from 'onnxruntime-node';
import { ModelBundleError, messageOf } from './errors.ts';
import type { ModelBundle } from './card.ts';

export type OrtSession = ort.InferenceSession;

/** Anything with pino-like warn/info methods taking a message string. */
export interface InferenceLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export const silentLogger: InferenceLogger = { info() {}, warn() {} };

/** Writes plain lines to stderr (CLI). */
export const stderrLogger: InferenceLogger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`${m}\n`),
};

const KNOWN = new Set(['cpu', 'cuda', 'tensorrt', 'webgpu', 'dml', 'coreml', 'xnnpack', 'qnn', 'nnapi']);

export function parseProviders(spec: string | undefined): string[] {
  const raw = spec === undefined || spec.trim() === '' ? 'cuda,cpu' : spec;
  const list = raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  for (const p of list) {
    if (!KNOWN.has(p)) throw new Error(`CARPUS_EXECUTION_PROVIDERS: unknown execution provider "${p}" (known: ${[...KNOWN].join(', ')})`);
  }
  const dedup = [...new Set(list)];
  if (dedup.length === 0) throw new Error('CARPUS_EXECUTION_PROVIDERS is empty');
  return dedup;
}

export function parseThreads(spec: string | undefined): number | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const n = Number(spec);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`CARPUS_INTRA_OP_THREADS must be an integer 1-256, not "${spec}"`);
  return n;
}

export interface SessionOptions {
  providers: string[];
  intraOpThreads?: number | undefined;
  log: InferenceLogger;
}

export interface CreatedSession {
  session: OrtSession;
  /** The execution provider the session was created with (the first of the list that loaded). */
  provider: string;
  /** Providers tried and why they failed. */
  fallbacks: { provider: string; error: string }[];
}

function sessionOptions(providers: string[], threads: number | undefined): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    logSeverityLevel: 3,
    graphOptimizationLevel: 'all',
    ...(threads !== undefined ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    // Idle pool threads sleep instead of spin-waiting: on a small shared CPU their spinning takes
    // the core the JavaScript stages (decode, resize, heat map) need between two model runs.
    ...(process.env.CARPUS_ORT_SPIN === '1' ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
  };
}

/**
 * Creates a session with the providers in order. When a provider cannot load, the session is
 * created with the remaining ones, and one line says so.
 */
export async function createSession(bundle: ModelBundle, opts: SessionOptions): Promise<CreatedSession> {
  configureOrtLogging();
  const fallbacks: { provider: string; error: string }[] = [];
  let providers = [...opts.providers];
  for (;;) {
    try {
      const session = await ort.InferenceSession.create(bundle.onnxPath, sessionOptions(providers, opts.intraOpThreads));
      checkSessionIo(bundle, session);
      return { session, provider: providers[0]!, fallbacks };
    } catch (e) {
      if (e instanceof ModelBundleError) throw e;
      const failed = providers[0]!;
      const msg = hint(failed, messageOf(e).split('\n')[0]!.slice(0, 300));
      if (providers.length <= 1) {
        throw new ModelBundleError('session-failed', `Cannot create an onnxruntime session for ${bundle.name} ${bundle.version} with provider ${failed}: ${msg}`);
      }
      providers = providers.slice(1);
      fallbacks.push({ provider: failed, error: msg });
      opts.log.warn(`inference: execution provider ${failed} unavailable for ${bundle.name} ${bundle.version} (${msg}); using ${providers[0]}`);
    }
  }
}

let ortLoggingSet = false;

/**
 * onnxruntime's own logger prints a multi-line error when the CUDA provider library is missing
 * (even with logSeverityLevel 3); we log our one line instead. CARPUS_ORT_LOG_LEVEL
 * (verbose|info|warning|error|fatal) overrides; the level applies from the first session on.
 */
function configureOrtLogging(): void {
  if (ortLoggingSet) return;
  ortLoggingSet = true;
  const v = process.env.CARPUS_ORT_LOG_LEVEL?.trim();
  const level = v === 'verbose' || v === 'info' || v === 'warning' || v === 'error' || v === 'fatal' ? v : 'fatal';
  ort.env.logLevel = level;
}

function hint(provider: string, msg: string): string {
  if (provider === 'cuda' && /shared library/i.test(msg)) {
    return `${msg}: libonnxruntime_providers_cuda.so (matching onnxruntime ${ort.env.versions.common}) and CUDA/cuDNN libraries not found`;
  }
  return msg;
}

function checkSessionIo(bundle: ModelBundle, session: OrtSession): void {
  for (const n of bundle.inputNames) {
    if (!session.inputNames.includes(n)) {
      throw new ModelBundleError('onnx-io-mismatch', `${bundle.onnxPath} has no input "${n}" declared by its card (graph inputs: ${session.inputNames.join(', ')})`);
    }
  }
  for (const n of bundle.outputNames) {
    if (!session.outputNames.includes(n)) {
      throw new ModelBundleError('onnx-io-mismatch', `${bundle.onnxPath} has no output "${n}" declared by its card (graph outputs: ${session.outputNames.join(', ')})`);
    }
  }
}

export { ort };
