// The carpus command line as a spawned process (bin/carpus.mjs), on the tiny stand-in models.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { DICOM, FULLRES, REPO } from './inference-helpers/common.ts';
import { tinyModelsDir } from './inference-helpers/tiny-models.ts';

let models: string;
const tmp = mkdtempSync(path.join(tmpdir(), 'carpus-cli-'));

beforeAll(() => {
  models = tinyModelsDir();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function carpus(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO, 'bin', 'carpus.mjs'), ...args], {
      cwd: REPO,
      env: { ...process.env, CARPUS_MODELS_DIR: models, CARPUS_EXECUTION_PROVIDERS: 'cpu', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('carpus predict', () => {
  it('--help lists the commands and options', async () => {
    const top = await carpus(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/predict \[options\] <file>/);
    expect(top.stdout).toMatch(/eval \[options\]/);
    const p = await carpus(['predict', '--help']);
    expect(p.stdout).toMatch(/--sex <sex>/);
    expect(p.stdout).toMatch(/--json/);
    expect(p.stdout).toMatch(/--heatmap <out.png>/);
  });

  it('--json: bone age, model, provider; --heatmap writes a PNG of the radiograph size (scaled)', async () => {
    const out = path.join(tmp, 'heat.png');
    const r = await carpus(['predict', path.join(FULLRES, '1377.png'), '--sex', 'female', '--json', '--heatmap', out]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ status: 'ok', model: { name: 'ridgenet', version: '0.0.1-test' }, executionProvider: 'cpu', sexUsed: 'female', heatmapFile: out });
    // The tiny stand-in card has no feature statistics: the content check says so.
    expect(j.contentCheck).toMatchObject({ status: 'not-available' });
    expect(typeof j.boneAgeMonths).toBe('number');
    expect(j.mask.areaFraction).toBeGreaterThan(0);
    const meta = await sharp(readFileSync(out)).metadata();
    expect(meta.format).toBe('png');
    expect(Math.max(meta.width!, meta.height!)).toBe(1024);
    expect(meta.width! / meta.height!).toBeCloseTo(1514 / 2044, 2);
  });

  it('text output', async () => {
    const r = await carpus(['predict', path.join(FULLRES, '1377.png')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Bone age: \d+\.\d months \(\d+ years \d+ months\)$/m);
    expect(r.stdout).toMatch(/^Sex: unknown/m);
    expect(r.stdout).toMatch(/^Model: ridgenet 0\.0\.1-test \(segmenter hand-segmenter 0\.0\.1-test\), execution provider cpu$/m);
  });

  it('a CT is rejected: status rejected, a reason, exit status 3', async () => {
    const r = await carpus(['predict', path.join(DICOM, 'ts-matrix-ct', 'CTImage.dcm'), '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ status: 'rejected', stage: 'input', executionProvider: 'cpu', contentCheck: { status: 'not-run' } });
    expect(j.reason).toMatch(/CT Image/);
    expect(j.boneAgeMonths).toBeUndefined();
    const t = await carpus(['predict', path.join(DICOM, 'cr-wg04', 'RG3_UNC.dcm')]);
    expect(t.code).toBe(3);
    expect(t.stdout).toMatch(/^Rejected \(input: description\): .*tibia/m);
  });

  it('bad input: missing file, not an image, unknown flag, bad --sex, no file', async () => {
    const missing = await carpus(['predict', path.join(tmp, 'nope.dcm'), '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ status: 'error', code: 'file-missing' });
    expect(missing.stderr).toMatch(/does not exist/);
    const txt = path.join(tmp, 'notes.png');
    writeFileSync(txt, 'this is not an image\n');
    const notImage = await carpus(['predict', txt]);
    expect(notImage.code).toBe(1);
    expect(notImage.stderr).toMatch(/carpus: Not a DICOM file nor an image/);
    const flag = await carpus(['predict', txt, '--frobnicate']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option '--frobnicate'/);
    const sex = await carpus(['predict', txt, '--sex', 'x']);
    expect(sex.code).toBe(2);
    expect(sex.stderr).toMatch(/expected male or female/);
    const none = await carpus(['predict']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/missing required argument 'file'/);
    const cmd = await carpus(['frob']);
    expect(cmd.code).toBe(2);
  });

  it('models missing: a clear error', async () => {
    const r = await carpus(['predict', path.join(FULLRES, '1377.png')], { CARPUS_MODELS_DIR: path.join(tmp, 'no-models') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Models folder .*no-models does not exist/);
  });
});

describe('carpus eval', () => {
  it('--split selects rows; metrics overall and per sex; --out writes predictions and plots; plain progress lines', async () => {
    const csv = path.join(tmp, 'labels.csv');
    const rows = ['id,male,boneage_months,split,file'];
    const lab = readFileSync(path.join(FULLRES, '..', 'labels.csv'), 'utf8').trim().split('\n').slice(1);
    lab.forEach((l, i) => {
      const [id, male, age, file] = l.split(',');
      rows.push(`${id},${male},${age},${i < 8 ? 'val' : 'train'},${file}`);
    });
    writeFileSync(csv, `${rows.join('\n')}\n`);
    const out = path.join(tmp, 'eval');
    const r = await carpus(['eval', '--labels', csv, '--images-root', path.join(FULLRES, '..'), '--split', 'val', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.images).toBe(8);
    expect(j.n).toBeGreaterThan(0);
    for (const k of ['mae', 'rmse', 'rmspe']) expect(typeof j[k]).toBe('number');
    expect(j.bySex.male.n + j.bySex.female.n).toBe(j.n);
    expect(j.card.valMae).toBe(99);
    expect(j.executionProvider).toBe('cpu');
    expect(r.stderr).toMatch(/^eval: 8\/8 images/m);
    const preds = JSON.parse(readFileSync(path.join(out, 'predictions.json'), 'utf8'));
    expect(preds).toHaveLength(8);
    expect(preds[0]).toMatchObject({ id: '1377', male: false, actualMonths: 180 });
    for (const f of ['predicted-vs-actual-all.png', 'predicted-vs-actual-male.png', 'predicted-vs-actual-female.png', 'bland-altman.png']) {
      const meta = await sharp(readFileSync(path.join(out, f))).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBeGreaterThan(300);
    }
  });

  it('text report, relative paths against the CSV folder, errors counted', async () => {
    const dir = path.join(tmp, 'set');
    const csv = path.join(tmp, 'labels2.csv');
    writeFileSync(csv, `id,male,boneage_months,file\n1377,false,180,${path.join(FULLRES, '1377.png')}\n9,true,100,missing.png\n`);
    const r = await carpus(['eval', '--labels', csv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Images: 2, .*errors: 1$/m);
    expect(r.stdout).toMatch(/^all +\d+ +\d+\.\d\d/m);
    expect(r.stdout).toMatch(/^male /m);
    expect(r.stdout).toMatch(/^female /m);
    expect(r.stdout).toMatch(/Model card val MAE: 99\.000/);
    expect(existsSync(dir)).toBe(false);
  });

  it('bad labels: missing CSV, missing column, --split without a split column, missing --labels', async () => {
    const m = await carpus(['eval', '--labels', path.join(tmp, 'none.csv'), '--json']);
    expect(m.code).toBe(1);
    expect(JSON.parse(m.stdout).error).toMatch(/no such file/);
    const bad = path.join(tmp, 'bad.csv');
    writeFileSync(bad, 'id,age,file\n1,2,x.png\n');
    expect((await carpus(['eval', '--labels', bad])).stderr).toMatch(/no "male" column/);
    const nosplit = path.join(tmp, 'nosplit.csv');
    writeFileSync(nosplit, 'id,male,boneage_months,file\n1,true,2,x.png\n');
    expect((await carpus(['eval', '--labels', nosplit, '--split', 'val'])).stderr).toMatch(/has no "split" column/);
    const req = await carpus(['eval']);
    expect(req.code).toBe(2);
    expect(req.stderr).toMatch(/required option '--labels <csv>'/);
  });
});
