/**
 * How the OpenJPEG addon is built (native/openjpeg/build.mjs): the addon says which OpenJPEG it
 * was linked with, and that matches what is really linked in; Debian source files that do not
 * match the pinned SHA-256 are refused and the build falls back to the system libopenjp2 with one
 * clear line (the source build is asked for with CARPUS_OPENJPEG=source, as .ci/run does).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonPath, nativeOpenJpegBuild, nativeOpenJpegVersion } from '../src/pixel/openjpeg-native.ts';
// @ts-expect-error plain JavaScript module of the build (no types)
import { cpuHasLevel, fetchVerified } from '../native/openjpeg/debian-source.mjs';
import { projectRoot, tmpDir } from './pixel-helpers.ts';

const native = path.join(projectRoot, 'native/openjpeg');
const pin = JSON.parse(fs.readFileSync(path.join(native, 'openjpeg-source.json'), 'utf8')) as { version: string; files: Array<{ name: string }> };

/** Runs a command to its end; resolves with its exit code and output (spawn, so the test's HTTP server keeps serving). */
function runAsync(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('OpenJPEG addon build', () => {
  it('reports the OpenJPEG it is linked with, and that is what the addon really contains', () => {
    const b = nativeOpenJpegBuild();
    expect(b, 'addon not built or not loadable').toBeDefined();
    expect(b!.version).toBe(nativeOpenJpegVersion());
    const ldd = execFileSync('ldd', [addonPath()], { encoding: 'utf8' });
    if (b!.library === 'debian-source') {
      // Compiled from the pinned Debian source: its upstream version, statically linked, for a level this CPU has.
      expect(b!.source).toContain(`openjpeg2 ${pin.version}`);
      expect(pin.version.startsWith(`${b!.version}-`)).toBe(true);
      expect(b!.linkage).toBe('static');
      expect(ldd).not.toMatch(/libopenjp2/);
      if (b!.isa.startsWith('x86-64-v')) {
        expect(b!.cflags).toContain(`-march=${b!.isa}`);
        expect(cpuHasLevel(b!.isa)).toBe(true);
      }
    } else {
      expect(b!.library).toBe('system');
      expect(b!.linkage).toBe('shared');
      expect(ldd).toMatch(/libopenjp2\.so/);
      expect(b!.version).toBe(execFileSync('pkg-config', ['--modversion', 'libopenjp2'], { encoding: 'utf8' }).trim());
    }
  });

  it('refuses an unreachable mirror without keeping anything', async () => {
    const dir = tmpDir('carpus-ojp-offline-');
    try {
      await expect(fetchVerified(pin, dir, 'http://127.0.0.1:9/debian', 5000)).rejects.toThrow(/cannot fetch/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses source files that differ from the pin and builds on the system libopenjp2, saying so', async () => {
    // A mirror that answers every request with other bytes than Debian's.
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      res.end(Buffer.alloc(16136, 0x41));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = tmpDir('carpus-ojp-build-');
    try {
      for (const f of ['build.mjs', 'flags.mjs', 'debian-source.mjs', 'binding.gyp', 'carpus_openjpeg.c', 'openjpeg-source.json']) fs.copyFileSync(path.join(native, f), path.join(dir, f));
      const env: NodeJS.ProcessEnv = { ...process.env, CARPUS_DEBIAN_MIRROR: `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian` };
      env.CARPUS_OPENJPEG = 'source';
      const r = await runAsync(process.execPath, ['build.mjs'], { cwd: dir, env });
      expect(r.code, r.out).toBe(0);
      expect(requests[0]).toBe(`/debian/pool/main/o/openjpeg2/${encodeURIComponent(pin.files[0]!.name)}`);
      const lines = r.out.trim().split('\n');
      expect(lines.filter((l) => /does not match the pinned SHA-256/.test(l) && /linking the system libopenjp2/.test(l)), r.out).toHaveLength(1);
      expect(lines.at(-1)).toMatch(/built the native OpenJPEG decoder .* on the system libopenjp2/);
      expect(fs.existsSync(path.join(dir, 'deps/download', pin.files[0]!.name))).toBe(false); // refused bytes are not kept
      const addon = createRequire(import.meta.url)(path.join(dir, 'build/Release/carpus_openjpeg.node')) as { openjpegBuild: { library: string; linkage: string } };
      expect(addon.openjpegBuild).toMatchObject({ library: 'system', linkage: 'shared' });
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
