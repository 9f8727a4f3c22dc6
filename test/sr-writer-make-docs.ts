/**
 * Regenerates docs/sr-example.md (the dsrdump tree of the fixture's SR) and docs/sc-example.png
 * (the fixture's SC, downscaled for the docs): `npx tsx test/sr-writer-make-docs.ts`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { writeBoneAgeReports } from '../src/sr-writer/index.ts';
import { FIXTURE, projectRoot, radiographDicom, sampleResult, tmpDir } from './sr-writer-fixture.ts';

const dir = tmpDir();
const source = await radiographDicom();
const r = await writeBoneAgeReports(source, sampleResult(1514, 2044), {
  png: true,
  softwareVersion: 'carpus test',
  uidRoot: '',
  overrides: {
    now: FIXTURE.now,
    srSeriesInstanceUid: FIXTURE.srSeriesUid,
    srSopInstanceUid: FIXTURE.srInstanceUid,
    scSeriesInstanceUid: FIXTURE.scSeriesUid,
    scSopInstanceUid: FIXTURE.scInstanceUid,
    trackingUid: FIXTURE.trackingUid,
  },
});
const srFile = path.join(dir, 'sr.dcm');
fs.writeFileSync(srFile, r.sr.part10);
const tree = execFileSync('dsrdump', ['+Pl', '+Pu', '+Pc', '+Pt', srFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const meta = await sharp(r.png!).metadata();
const md = `# Example: the bone-age Structured Report

The SR that \`writeBoneAgeReports\` (src/sr-writer) writes for the test fixture: RSNA training image
1377 (a girl, RSNA ground-truth bone age 180 months) wrapped as DICOM with \`img2dcm\`
(PatientBirthDate 2005-03-01, StudyDate 2020-09-15), with a made-up result of 171.437 months and
a synthetic Gaussian heat map (the real Grad-CAM comes from the inference engine). UIDs and dates
are fixed so that the output is deterministic; the same tree is the golden file of
\`test/sr-writer.test.ts\` (\`test/fixtures/sr-writer-golden.dsrdump.txt\`).

Rendered with DCMTK 3.6.7 \`dsrdump +Pl +Pu +Pc +Pt\` (long values, referenced UIDs, all codes,
template ids). Codes and their sources: [sr-codes.md](sr-codes.md); validation: [sr-validation.md](sr-validation.md).

\`\`\`
${tree.trimEnd()}
\`\`\`

Reading it:
- Chronological age 186.51 months = 5677 days (2005-03-01 to 2020-09-15) / 30.4375.
- The Greulich-Pyle SD for a girl of 186.51 months is interpolated between 15 y (9.23) and 16 y
  (7.31): 8.19 months; SDS = (171.44 - 186.51) / 8.19 = -1.84, inside ±2 SD, so "normal".
- The heat-map SC (below) is referenced twice: in the image library and in the measurement group.

The heat-map Secondary Capture of the same example ([sc-example.png](sc-example.png), downscaled
from ${meta.width} x ${meta.height} to 760 pixels wide):

![heat-map secondary capture](sc-example.png)
`;
fs.writeFileSync(path.join(projectRoot, 'docs/sr-example.md'), md);
await sharp(r.png!).resize(760).png({ compressionLevel: 9, palette: false }).toFile(path.join(projectRoot, 'docs/sc-example.png'));
fs.rmSync(dir, { recursive: true, force: true });
console.log('wrote docs/sr-example.md and docs/sc-example.png');
