/**
 * A real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) as a peer for tests and benchmarks.
 * Each call starts a private Orthanc: its own temporary storage, unusual ports, HTTP on
 * loopback only (RemoteAccessAllowed: false), basic auth, the DICOMweb plugin, and optional
 * DicomWeb `Servers` entries (e.g. one pointing at a carpus test node).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const ORTHANC_BIN = process.env.CARPUS_ORTHANC_BIN ?? '/usr/sbin/Orthanc';
export const ORTHANC_DICOMWEB_PLUGIN =
  process.env.CARPUS_ORTHANC_DICOMWEB_PLUGIN ?? '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** True when Orthanc and its DICOMweb plugin are installed (`.ci/run` installs both). */
export function orthancAvailable(): boolean {
  return fs.existsSync(ORTHANC_BIN) && fs.existsSync(ORTHANC_DICOMWEB_PLUGIN);
}

export interface OrthancOptions {
  /** DicomWeb Servers entries: id → base URL of a DICOMweb service (ending in /dicom-web/). */
  servers?: Record<string, string | { Url: string; [k: string]: unknown }>;
  /** Extra top-level configuration merged over the defaults. */
  config?: Record<string, unknown>;
  /** Extra DicomWeb configuration merged over the defaults. */
  dicomWeb?: Record<string, unknown>;
}

export interface OrthancPeer {
  /** REST API base, e.g. http://127.0.0.1:PORT (no trailing slash). */
  url: string;
  /** Orthanc's own DICOMweb root, e.g. http://127.0.0.1:PORT/dicom-web */
  dicomweb: string;
  httpPort: number;
  user: string;
  password: string;
  /** The Authorization header value for Orthanc's REST API. */
  authorization: string;
  pid: number;
  dir: string;
  logFile: string;
  /** fetch against the REST API with auth; `path` starts with '/'. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** GET/POST returning parsed JSON; throws with Orthanc's answer on a non-2xx status. */
  getJson<T = any>(path: string): Promise<T>;
  postJson<T = any>(path: string, body: unknown): Promise<T>;
  /** Uploads one DICOM file (POST /instances); returns Orthanc's instance id. */
  upload(bytes: Buffer | Uint8Array): Promise<string>;
  /** The last lines of Orthanc's log (for failure messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** A TCP port that nothing listens on now (the kernel picks it from the ephemeral range). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startOrthanc(opts: OrthancOptions = {}): Promise<OrthancPeer> {
  if (!orthancAvailable()) throw new Error(`Orthanc not installed (${ORTHANC_BIN}, ${ORTHANC_DICOMWEB_PLUGIN})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-orthanc-'));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const user = 'carpus-test';
  const password = randomBytes(12).toString('hex');
  const servers: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(opts.servers ?? {})) servers[id] = typeof s === 'string' ? { Url: s } : s;

  const config = {
    Name: 'CARPUS-PEER',
    StorageDirectory: path.join(dir, 'storage'),
    IndexDirectory: path.join(dir, 'index'),
    HttpPort: httpPort,
    // The DICOM listener binds every interface: keep it off, on an unusual port all the same.
    DicomServerEnabled: false,
    DicomPort: dicomPort,
    DicomAet: 'CARPUSPEER',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: true,
    RegisteredUsers: { [user]: password },
    StorageCompression: false,
    HttpTimeout: 120,
    ConcurrentJobs: 1,
    SaveJobs: false,
    HttpCompressionEnabled: false,
    Plugins: [ORTHANC_DICOMWEB_PLUGIN],
    DicomWeb: {
      Enable: true,
      Root: '/dicom-web/',
      EnableWado: false,
      Servers: servers,
      ...opts.dicomWeb,
    },
    ...opts.config,
  };
  const configFile = path.join(dir, 'orthanc.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'orthanc.log');
  const logFd = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(ORTHANC_BIN, [configFile], { cwd: dir, stdio: ['ignore', logFd, logFd], detached: false });
  fs.closeSync(logFd);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );

  const url = `http://127.0.0.1:${httpPort}`;
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const logTail = (lines = 40) => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const request = (p: string, init: RequestInit = {}) =>
    fetch(`${url}${p}`, { ...init, headers: { authorization, ...(init.headers as Record<string, string> | undefined) } });
  const ok = async (res: Response, what: string) => {
    const text = await res.text();
    if (!res.ok) throw new Error(`Orthanc ${what}: HTTP ${res.status} ${text.slice(0, 2000)}`);
    return text ? JSON.parse(text) : undefined;
  };

  // Wait until the REST API answers (Orthanc starts in well under a second).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`Orthanc exited at start (${JSON.stringify(exited)}):\n${logTail()}`);
    try {
      const res = await request('/system');
      if (res.ok) {
        await res.arrayBuffer();
        break;
      }
      await res.arrayBuffer();
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Orthanc did not answer on ${url} within 30 s:\n${logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const pid = child.pid!;
  return {
    url,
    dicomweb: `${url}/dicom-web`,
    httpPort,
    user,
    password,
    authorization,
    pid,
    dir,
    logFile,
    request,
    logTail,
    getJson: async (p) => ok(await request(p), `GET ${p}`),
    postJson: async (p, body) =>
      ok(await request(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), `POST ${p}`),
    async upload(bytes) {
      const res = await request('/instances', {
        method: 'POST',
        headers: { 'content-type': 'application/dicom' },
        body: new Uint8Array(bytes), // a copy backed by a plain ArrayBuffer
      });
      const json = (await ok(res, 'POST /instances')) as { ID: string; Status: string };
      return json.ID;
    },
    async stop() {
      if (!exited) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
        const timer = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 10_000);
        await exitPromise;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
