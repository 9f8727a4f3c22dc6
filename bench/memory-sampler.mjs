// Loaded with `node --import` by bench/stow-qido.ts into the carpus process it measures
// (--only rss): writes process.memoryUsage() as one JSON line every 50 ms to
// $CARPUS_BENCH_MEMORY_FILE, so RSS growth can be split into V8 heap, external memory and
// ArrayBuffers. NODE_OPTIONS also reaches the npx process that starts carpus: only the
// process running src/main.ts samples.
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

const file = process.env.CARPUS_BENCH_MEMORY_FILE;
if (file && process.argv.some((a) => a.endsWith('src/main.ts'))) {
  const fd = fs.openSync(file, 'a');
  // CARPUS_BENCH_MEMORY_GC=1: a full GC before every 20th sample (once a second), so those show the live heap (diagnosis only).
  let gc;
  if (process.env.CARPUS_BENCH_MEMORY_GC === '1') {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc');
  }
  let n = 0;
  const timer = setInterval(() => {
    const collected = gc !== undefined && n++ % 20 === 0;
    if (collected) gc();
    const m = process.memoryUsage();
    fs.writeSync(fd, `${JSON.stringify({ t: Date.now(), pid: process.pid, gc: collected, ...m })}\n`);
  }, 50);
  timer.unref();
}
