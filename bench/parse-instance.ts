/**
 * parseInstance alone (issue 2): ms per call on the 2,156-byte instance of the small-instance STOW
 * (bench/stow-qido.ts's template: the shared CT's data set with 16 x 16 pixels) and on shared CT
 * and CR files, in this process, after a warm-up. With --root DIR it loads parseInstance from another
 * checkout (before/after with the same inputs).
 *
 *   taskset -c 0 npx tsx bench/parse-instance.ts [--root DIR] [--ms 3000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dcmjs from 'dcmjs';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const root = path.resolve(opt('--root') ?? path.join(import.meta.dirname, '..'));
const budgetMs = Number(opt('--ms') ?? 3000);
const dicom = path.resolve(import.meta.dirname, '../../shared/data/dicom');
const { parseInstance } = (await import(path.join(root, 'src/dicom/part10.ts'))) as typeof import('../src/dicom/part10.ts');

function smallInstance(): Buffer {
  const { DicomMessage, DicomMetaDictionary, DicomDict } = dcmjs.data;
  const f = fs.readFileSync(path.join(dicom, 'ts-matrix-ct/CTImage.dcm'));
  const msg = DicomMessage.readFile(f.buffer.slice(f.byteOffset, f.byteOffset + f.length) as ArrayBuffer);
  const ds = DicomMetaDictionary.naturalizeDataset(msg.dict) as Record<string, unknown>;
  const meta = DicomMetaDictionary.naturalizeDataset(msg.meta) as Record<string, unknown>;
  Object.assign(ds, { Rows: 16, Columns: 16, PixelData: [new Uint16Array(256).buffer] });
  ds._vrMap = { ...((ds._vrMap as Record<string, string>) ?? {}), PixelData: 'OW' };
  meta.TransferSyntaxUID = '1.2.840.10008.1.2.1';
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

const inputs: [string, Buffer][] = [
  ['small instance (stow-qido template)', smallInstance()],
  ['CTImage.dcm (explicit VR LE)', fs.readFileSync(path.join(dicom, 'ts-matrix-ct/CTImage.dcm'))],
  ['CTImage implicit VR LE', fs.readFileSync(path.join(dicom, 'ts-matrix-ct/CTImage.dcm_LittleEndianImplicitTransferSyntax_1.2.840.10008.1.2.dcm'))],
  ['RG3_J2KR.dcm (CR, JPEG 2000)', fs.readFileSync(path.join(dicom, 'cr-wg04/RG3_J2KR.dcm'))],
];

console.log(`root ${root}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`);
console.log('| input | bytes | CPU ms per call | calls |');
console.log('|---|---|---|---|');
for (const [name, bytes] of inputs) {
  for (let i = 0; i < 200; i++) parseInstance(bytes);
  let calls = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  while (Number(process.hrtime.bigint() - t0) / 1e6 < budgetMs) {
    for (let i = 0; i < 50; i++) parseInstance(bytes);
    calls += 50;
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(`| ${name} | ${bytes.length} | ${((cpu.user + cpu.system) / 1000 / calls).toFixed(3)} | ${calls} |`);
}
