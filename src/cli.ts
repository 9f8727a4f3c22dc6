/**
 * carpus command line (bin/carpus.mjs): `predict` one radiograph, `eval` a labelled set.
 * Exit status: 0 done, 1 error (input or models), 2 usage error, 3 image rejected (predict).
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { closeDefaultPool } from './pixel/index.ts';
import {
  BoneAgeEngine,
  heatmapPng,
  InferenceInputError,
  ModelBundleError,
  parseProviders,
  stderrLogger,
  type EngineOptions,
  type PredictionResult,
  type Sex,
} from './inference/index.ts';
import { evaluate, writeEvalOutputs, type EvalReport } from './inference/evaluate.ts';
import { readInputFile } from './inference/image-input.ts';
import { LabelsError, readLabels, type ErrorMetrics } from './inference/metrics.ts';

const EXIT_ERROR = 1;
const EXIT_USAGE = 2;
const EXIT_REJECTED = 3;

function parseSex(v: string): Sex {
  const s = v.trim().toLowerCase();
  if (s === 'male' || s === 'm') return 'male';
  if (s === 'female' || s === 'f') return 'female';
  if (s === 'unknown' || s === 'o') return 'unknown';
  throw new InvalidArgumentError('expected male or female (or unknown)');
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface CommonOpts {
  modelsDir?: string;
  providers?: string;
  threads?: number;
  batch?: number;
}

function engineOptions(o: CommonOpts, warmUp: boolean): EngineOptions {
  return {
    log: stderrLogger,
    warmUp,
    ...(o.modelsDir ? { modelsDir: o.modelsDir } : {}),
    ...(o.providers ? { providers: parseProviders(o.providers) } : {}),
    ...(o.threads ? { intraOpThreads: o.threads } : {}),
    ...(o.batch ? { maxBatch: o.batch } : {}),
  };
}

function yearsMonths(m: number): string {
  const y = Math.floor(m / 12);
  const r = Math.round(m - 12 * y);
  return r === 12 ? `${y + 1} years 0 months` : `${y} years ${r} months`;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

function predictionJson(r: PredictionResult, heatmapFile: string | undefined): Record<string, unknown> {
  const common = { model: r.model, segmenter: r.segmenter, executionProvider: r.executionProvider, image: r.image, contentCheck: r.contentCheck, timingsMs: r.timingsMs };
  if (r.status === 'rejected') {
    return { status: 'rejected', reason: r.reason, stage: r.stage, code: r.code, ...common, ...(r.sexUsed ? { sexUsed: r.sexUsed } : {}), ...(r.mask ? { mask: r.mask, crop: r.crop } : {}) };
  }
  return {
    status: 'ok',
    boneAgeMonths: r3(r.boneAgeMonths),
    boneAgeYears: r3(r.boneAgeMonths / 12),
    sexUsed: r.sexUsed,
    sexInput: r.sexInput,
    sexSource: r.sexSource,
    ...common,
    mask: r.mask,
    crop: r.crop,
    ...(heatmapFile ? { heatmapFile } : {}),
  };
}

function printPrediction(r: PredictionResult, heatmapFile: string | undefined): void {
  const out: string[] = [];
  if (r.status === 'rejected') {
    out.push(`Rejected (${r.stage}: ${r.code}): ${r.reason}`);
  } else {
    out.push(`Bone age: ${r.boneAgeMonths.toFixed(1)} months (${yearsMonths(r.boneAgeMonths)})`);
    const sexNote =
      r.sexUsed === 'unknown'
        ? 'unknown: PatientSex missing or O and no --sex; the model was given 0.5 (trained with 10% of samples so)'
        : `${r.sexUsed} (${r.sexSource === 'option' ? '--sex' : 'PatientSex'})`;
    out.push(`Sex: ${sexNote}`);
    const q = r.mask;
    out.push(`Mask: ${(100 * q.areaFraction).toFixed(1)}% of the image, ${q.componentCount} component(s), largest ${(100 * q.largestComponentShare).toFixed(0)}%, box height/width ${q.boxAspect.toFixed(2)}`);
    if (heatmapFile) out.push(`Heat map: ${heatmapFile}`);
  }
  const c = r.contentCheck;
  if (c.status === 'passed' || c.status === 'failed') out.push(`Content check: ${c.status} (RidgeNet feature distance ${c.score.toFixed(2)}, threshold ${c.threshold.toFixed(2)})`);
  else if (c.status === 'not-available') out.push(`Content check: not available (${c.reason})`);
  out.push(`Model: ${r.model.name} ${r.model.version} (segmenter ${r.segmenter.name} ${r.segmenter.version}), execution provider ${r.executionProvider}`);
  const t = r.timingsMs;
  out.push(`Time: decode ${t.decode.toFixed(0)} ms, segment ${t.segment.toFixed(0)} ms, regress ${t.regress.toFixed(0)} ms, heat map ${t.heatmap.toFixed(0)} ms, total ${t.total.toFixed(0)} ms`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function fail(json: boolean, e: unknown): number {
  const code = e instanceof ModelBundleError || e instanceof InferenceInputError ? e.code : e instanceof LabelsError ? 'labels' : 'error';
  const message = e instanceof Error ? e.message : String(e);
  if (json) process.stdout.write(`${JSON.stringify({ status: 'error', code, error: message })}\n`);
  process.stderr.write(`carpus: ${message}\n`);
  return EXIT_ERROR;
}

async function predictCommand(file: string, o: CommonOpts & { sex?: Sex; json?: boolean; heatmap?: string }): Promise<number> {
  let engine: BoneAgeEngine | undefined;
  try {
    const bytes = await readInputFile(file); // a missing file fails before the models load
    engine = await BoneAgeEngine.create(engineOptions(o, false));
    const r = await engine.predictBytes(bytes, { ...(o.sex ? { sex: o.sex } : {}), heatmap: Boolean(o.heatmap), keepImage: Boolean(o.heatmap) });
    let heatmapFile: string | undefined;
    if (o.heatmap && r.status === 'ok' && r.heatmap && r.radiograph) {
      await writeFile(o.heatmap, await heatmapPng(r.radiograph, r.heatmap));
      heatmapFile = o.heatmap;
    }
    if (o.json) process.stdout.write(`${JSON.stringify(predictionJson(r, heatmapFile))}\n`);
    else printPrediction(r, heatmapFile);
    return r.status === 'ok' ? 0 : EXIT_REJECTED;
  } catch (e) {
    return fail(Boolean(o.json), e);
  } finally {
    await engine?.close();
  }
}

function progress(tty: boolean): (done: number, total: number) => void {
  const t0 = Date.now();
  let lastLine = 0;
  return (done, total) => {
    const s = (Date.now() - t0) / 1000;
    const rate = done / Math.max(s, 1e-3);
    const eta = rate > 0 ? (total - done) / rate : 0;
    if (tty) {
      const width = 30;
      const fill = Math.round((done / total) * width);
      process.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}  ${rate.toFixed(1)} img/s  ETA ${eta.toFixed(0)} s `);
      if (done === total) process.stderr.write('\n');
    } else {
      const step = Math.max(1, Math.ceil(total / 20));
      if (done === total || done - lastLine >= step) {
        lastLine = done;
        process.stderr.write(`eval: ${done}/${total} images, ${rate.toFixed(1)} img/s\n`);
      }
    }
  };
}

function fmt(m: ErrorMetrics): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  return `${String(m.n).padStart(6)}  ${f(m.mae).padStart(7)}  ${f(m.rmse).padStart(7)}  ${f(m.rmspe).padStart(8)}`;
}

function printReport(r: EvalReport): void {
  const lines = [
    `Model: ${r.model.name} ${r.model.version} (segmenter ${r.segmenter.name} ${r.segmenter.version}), execution provider ${r.executionProvider}`,
    `Images: ${r.images}, with a model output: ${r.n}, rejected: ${r.rejected}${r.rejected ? ` (${Object.entries(r.rejections).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}, errors: ${r.errors}`,
    '',
    '                  n   MAE(mo)  RMSE(mo)  RMSPE(%)',
    `all          ${fmt(r)}`,
    `male         ${fmt(r.bySex.male)}`,
    `female       ${fmt(r.bySex.female)}`,
    `accepted     ${fmt(r.accepted)}   (images not rejected)`,
  ];
  if (r.card.valMae !== null) lines.push('', `Model card val MAE: ${r.card.valMae.toFixed(3)} months; this run: ${r.mae.toFixed(3)} (difference ${r.card.difference!.toFixed(3)})`);
  lines.push(`Time: ${r.elapsedSeconds} s, ${r.imagesPerSecond} images/s`);
  if (r.outputs) lines.push(`Wrote: ${r.outputs.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function evalCommand(o: CommonOpts & { labels: string; imagesRoot?: string; split?: string; out?: string; json?: boolean; limit?: number }): Promise<number> {
  let engine: BoneAgeEngine | undefined;
  try {
    let rows = readLabels(o.labels, { imagesRoot: o.imagesRoot, split: o.split });
    if (o.limit) rows = rows.slice(0, o.limit);
    if (rows.length === 0) throw new LabelsError(`no rows in ${o.labels}${o.split !== undefined ? ` with split "${o.split}"` : ''}`);
    engine = await BoneAgeEngine.create(engineOptions(o, true));
    const { report, predictions } = await evaluate(engine, rows, { onProgress: progress(Boolean(process.stderr.isTTY)) });
    if (o.out) report.outputs = await writeEvalOutputs(o.out, report, predictions);
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else printReport(report);
    return report.errors === rows.length ? EXIT_ERROR : 0;
  } catch (e) {
    return fail(Boolean(o.json), e);
  } finally {
    await engine?.close();
  }
}

function common(cmd: Command): Command {
  return cmd
    .option('--models-dir <dir>', 'model bundles folder (default: CARPUS_MODELS_DIR or models/)')
    .option('--providers <list>', 'execution providers in order (default: CARPUS_EXECUTION_PROVIDERS or cuda,cpu)')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: CARPUS_INTRA_OP_THREADS)', positiveInt)
    .option('--batch <n>', 'images per model run at most (default: CARPUS_INFERENCE_MAX_BATCH or 8)', positiveInt);
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('carpus')
    .description('carpus: bone age from hand radiographs (hand segmenter + RidgeNet, onnxruntime)')
    .exitOverride((err) => {
      throw err;
    })
    .showHelpAfterError('(run with --help for usage)');

  common(
    program
      .command('predict')
      .description('bone age of one radiograph (DICOM, PNG or JPEG); exit status 3 when the image is rejected')
      .argument('<file>', 'DICOM Part 10 file, PNG or JPEG (bone bright)')
      .addOption(new Option('--sex <sex>', 'male or female (default: PatientSex of a DICOM, else unknown = 0.5)').argParser(parseSex))
      .option('--json', 'one JSON object on stdout')
      .option('--heatmap <out.png>', 'write the Grad-CAM heat map over the radiograph as PNG'),
  ).action(async (file: string, o: CommonOpts & { sex?: Sex; json?: boolean; heatmap?: string }) => {
    setExit(await predictCommand(file, o));
  });

  common(
    program
      .command('eval')
      .description('evaluate on a labelled set: MAE, RMSE, RMSPE overall and per sex; JSON of every prediction and plots with --out')
      .requiredOption('--labels <csv>', 'CSV with id,male,boneage_months,file[,split]')
      .option('--images-root <dir>', 'folder relative file paths resolve against (default: the CSV folder)')
      .option('--split <name>', 'only rows whose split column is <name>')
      .option('--out <dir>', 'write predictions.json, metrics.json and PNG plots here')
      .option('--json', 'one JSON object on stdout')
      .option('--limit <n>', 'only the first n rows', positiveInt),
  ).action(async (o: CommonOpts & { labels: string; imagesRoot?: string; split?: string; out?: string; json?: boolean; limit?: number }) => {
    setExit(await evalCommand(o));
  });
  return program;
}

async function main(): Promise<void> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') code = 0;
    else if (typeof err.exitCode === 'number') code = EXIT_USAGE;
    else {
      process.stderr.write(`carpus: ${e instanceof Error ? e.message : String(e)}\n`);
      code = EXIT_ERROR;
    }
  }
  await closeDefaultPool();
  process.exitCode = code;
}

await main();
