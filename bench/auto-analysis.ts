/**
 * Auto-analysis benchmark: N studies routed through Orthanc (Lua OnStoredInstance → carpus over
 * DICOMweb), analysed by carpus with the real engine, the SR and SC STOWed back to Orthanc.
 * Measures, per study, the time from the store into Orthanc (POST /instances answered) to the
 * SR's arrival in Orthanc (Orthanc's QIDO finds it), first one study at a time (latency), then all
 * at once (throughput, studies per minute).
 *
 *   npx tsx bench/auto-analysis.ts [--studies 50] [--width 1000] [--sequential 20]
 *
 * Prints a Markdown table and a JSON line. Needs Orthanc + the DICOMweb plugin, DCMTK and models/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startOrthanc, freePort } from '../test/helpers/orthanc.ts';
import { handRadiograph, sampleLabels, type Hand } from '../test/analysis/fixtures.ts';
import { healthy, spawnNode } from '../test/analysis/helpers.ts';
import { ROUTE_LUA } from '../test/analysis/orthanc-route.ts';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '50' },
    sequential: { type: 'string', default: '20' },
    width: { type: 'string', default: '1000' },
    'inference-module': { type: 'string' },
  },
});
const N = Number(values.studies);
const SEQ = Math.min(Number(values.sequential), N);
const WIDTH = Number(values.width);
const SR_CLASS = '1.2.840.10008.5.1.4.1.1.88.33';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

async function main() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carpus-bench-aa-'));
  const lua = path.join(dir, 'route.lua');
  fs.writeFileSync(lua, ROUTE_LUA);
  const orthanc = await startOrthanc({ servers: { carpus: `${base}/dicom-web/` }, config: { LuaScripts: [lua], ConcurrentJobs: 2 } });
  const child = spawnNode({
    HOST: '127.0.0.1',
    PORT: String(port),
    CARPUS_DATA_DIR: path.join(dir, 'carpus'),
    CARPUS_UPSTREAM_DICOMWEB: orthanc.dicomweb,
    CARPUS_UPSTREAM_AUTH: `basic:${orthanc.user}:${orthanc.password}`,
    CARPUS_ROUTING_RULES: path.resolve(import.meta.dirname, '../test/analysis/routing-immediate.json'),
    CARPUS_ANALYSIS_POLL_SECONDS: '0.5',
    CARPUS_DELIVERY_RETRY_BASE_MS: '200',
    ...(values['inference-module'] ? { CARPUS_ANALYSIS_INFERENCE_MODULE: path.resolve(values['inference-module']) } : {}),
  });
  try {
    await healthy(base);
    const labels = sampleLabels();
    process.stderr.write(`making ${N} studies (width ${WIDTH})...\n`);
    const hands: Hand[] = [];
    for (let i = 0; i < N; i++) hands.push(await handRadiograph({ id: labels[i % labels.length]!.id, width: WIDTH }));

    const srArrived = async (study: string) => {
      const res = await orthanc.request(`/dicom-web/studies/${study}/instances?SOPClassUID=${SR_CLASS}`, { headers: { accept: 'application/dicom+json' } });
      const text = await res.text();
      return res.ok && text.length > 2 && text.includes(SR_CLASS);
    };
    const rejected: { study: string; status: string; reason: string }[] = [];
    /** ms until the SR is in Orthanc; NaN when carpus rejected or failed the study (no SR is made then). */
    const waitSr = async (study: string, t0: number): Promise<number> => {
      for (let i = 0; ; i++) {
        if (await srArrived(study)) return performance.now() - t0;
        if (i % 10 === 9) {
          const r = await fetch(`${base}/api/studies/${study}/bone-age`).then((x) => (x.ok ? x.json() : undefined), () => undefined) as { status?: string; reason?: string } | undefined;
          if (r && (r.status === 'rejected' || r.status === 'failed')) {
            rejected.push({ study, status: r.status, reason: r.reason ?? '' });
            return Number.NaN;
          }
        }
        if (performance.now() - t0 > 120_000) throw new Error(`no SR for ${study} after 2 min`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // Warm-up (model load): one study not counted.
    const warm = await handRadiograph({ width: WIDTH });
    let t = performance.now();
    await orthanc.upload(warm.bytes);
    const warmMs = await waitSr(warm.study, t);
    process.stderr.write(`warm-up study: ${Math.round(warmMs)} ms\n`);

    const seqMs: number[] = [];
    for (let i = 0; i < SEQ; i++) {
      t = performance.now();
      await orthanc.upload(hands[i]!.bytes);
      const ms = await waitSr(hands[i]!.study, t);
      if (!Number.isNaN(ms)) seqMs.push(ms);
      process.stderr.write(`  sequential ${i + 1}/${SEQ}: ${Number.isNaN(ms) ? 'rejected/failed' : `${Math.round(ms)} ms`}\n`);
    }

    const rest = hands.slice(SEQ);
    const tAll = performance.now();
    const started = new Map<string, number>();
    const waits: Promise<number>[] = [];
    for (const h of rest) {
      const ts = performance.now();
      await orthanc.upload(h.bytes);
      started.set(h.study, ts);
      waits.push(waitSr(h.study, ts));
    }
    const burstAll = await Promise.all(waits);
    const burstMs = burstAll.filter((x) => !Number.isNaN(x));
    const burstWall = performance.now() - tAll;

    const fmt = (x: number) => (x / 1000).toFixed(2);
    const out = {
      studies: N,
      width: WIDTH,
      sequential: { n: seqMs.length, p50_s: pct(seqMs, 50) / 1000, p95_s: pct(seqMs, 95) / 1000, max_s: Math.max(...seqMs) / 1000, studiesPerMin: (seqMs.length / seqMs.reduce((a, b) => a + b, 0)) * 60_000 },
      burst: rest.length
        ? { n: burstMs.length, p50_s: pct(burstMs, 50) / 1000, p95_s: pct(burstMs, 95) / 1000, max_s: Math.max(...burstMs) / 1000, studiesPerMin: (rest.length / burstWall) * 60_000 }
        : null,
      warmUp_s: warmMs / 1000,
      rejected,
      cpus: os.cpus().length,
      load1: os.loadavg()[0],
    };
    console.log(`| mode | studies | p50 store→SR in Orthanc | p95 | max | studies/min |`);
    console.log(`|---|---|---|---|---|---|`);
    console.log(`| one at a time | ${seqMs.length} | ${fmt(pct(seqMs, 50))} s | ${fmt(pct(seqMs, 95))} s | ${fmt(Math.max(...seqMs))} s | ${out.sequential.studiesPerMin.toFixed(1)} |`);
    if (out.burst) console.log(`| all at once | ${burstMs.length} | ${fmt(pct(burstMs, 50))} s | ${fmt(pct(burstMs, 95))} s | ${fmt(Math.max(...burstMs))} s | ${out.burst.studiesPerMin.toFixed(1)} |`);
    console.log(JSON.stringify(out));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await orthanc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
