/**
 * Builds the demo viewer (demo/ + src/) into static files with esbuild: one IIFE bundle with
 * cornerstone, the WADO image loader (its no-web-worker build, codecs included) and the extension,
 * plus index.html and viewer.css. Nothing is fetched from a CDN.
 *   npx tsx viewer-extension/build.ts [outdir]    (default viewer-extension/dist)
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const HERE = import.meta.dirname;

export interface ViewerFile {
  contentType: string;
  body: Buffer;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** The viewer's files by name (index.html, viewer.css, viewer.js); written to `outdir` when given. */
export async function buildViewer(outdir?: string): Promise<Map<string, ViewerFile>> {
  const result = await build({
    entryPoints: [path.join(HERE, 'demo/main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    outfile: 'viewer.js',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const files = new Map<string, ViewerFile>();
  files.set('viewer.js', { contentType: TYPES['.js']!, body: Buffer.from(result.outputFiles[0]!.contents) });
  for (const name of ['index.html', 'viewer.css']) files.set(name, { contentType: TYPES[path.extname(name)]!, body: fs.readFileSync(path.join(HERE, 'demo', name)) });
  if (outdir) {
    fs.mkdirSync(outdir, { recursive: true });
    for (const [name, f] of files) fs.writeFileSync(path.join(outdir, name), f.body);
  }
  return files;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const out = path.resolve(process.argv[2] ?? path.join(HERE, 'dist'));
  const t0 = Date.now();
  const files = await buildViewer(out);
  console.log(`viewer built in ${Date.now() - t0} ms: ${[...files].map(([n, f]) => `${n} ${f.body.length} B`).join(', ')} -> ${out}`);
}
