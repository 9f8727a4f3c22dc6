// Reads vitest JSON reports and prints "passed failed skipped" for one run.
// A test file that failed to load (no assertion results) counts as one failed test,
// so a broken import can never pass silently.
import fs from 'node:fs';

const file = process.argv[2];
let report;
try {
  report = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch {
  console.log('0 0 0 missing');
  process.exit(0);
}
let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of report.testResults ?? []) {
  const results = suite.assertionResults ?? [];
  for (const t of results) {
    if (t.status === 'passed') passed++;
    else if (t.status === 'failed') failed++;
    else skipped++;
  }
  if (suite.status === 'failed' && !results.some((t) => t.status === 'failed')) {
    failed++;
    console.error(`[ci] test file failed outside its tests: ${suite.name}\n${(suite.message ?? '').slice(0, 2000)}`);
  }
}
console.log(`${passed} ${failed} ${skipped} ok`);
