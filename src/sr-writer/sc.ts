/**
 * The heat-map Secondary Capture: the radiograph (presented bone-bright by src/pixel) with the
 * model's heat map blended over it in carpus's perceptual colour map, under a header band with
 * the result, the model, the AI statement and a colour legend burned in (text rendered by sharp
 * from SVG with the system's DejaVu Sans font), stored as an RGB Secondary Capture Image.
 */
import sharp from 'sharp';
import type { DcmjsDict } from 'dcmjs';
import { decode, present, type DecodePool } from '../pixel/index.ts';
import { COLOUR_LUT, colourAt, hex } from './colormap.ts';
import { copyTags, dicomDateTime, dictStr, toDict, writePart10, PATIENT_STUDY_TAGS, PATIENT_STUDY_TYPE2, type Naturalized } from './dataset.ts';
import { CODES } from './codes.ts';
import { formatAge } from './format.ts';
import type { AgeAssessment, BoneAgeResult, Heatmap } from './types.ts';

export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** Heat values below this are not drawn; the overlay's opacity ramps up to MAX_ALPHA above it. */
export const HEAT_FLOOR = 0.15;
export const MAX_ALPHA = 0.6;

export interface GrayImage {
  rows: number;
  columns: number;
  /** [0,1], 1 = white (bone bright). */
  data: Float32Array;
}

/** The source's first frame as a bone-bright grey image in [0,1]. */
export async function sourceGray(part10: Uint8Array, decoder: DecodePool | 'inline' = 'inline'): Promise<GrayImage> {
  const img = await decode(part10, { frames: [1], decoder });
  const pres = present(
    { rows: img.rows, columns: img.columns, samplesPerPixel: img.samplesPerPixel, photometricInterpretation: img.photometricInterpretation, bitsStored: img.bitsStored, module: img.module },
    img.frames[0]!,
  );
  if (pres.kind === 'gray') return { rows: pres.rows, columns: pres.columns, data: pres.data };
  const data = new Float32Array(pres.rows * pres.columns);
  for (let i = 0; i < data.length; i++) data[i] = (0.299 * pres.data[i * 3]! + 0.587 * pres.data[i * 3 + 1]! + 0.114 * pres.data[i * 3 + 2]!) / 255;
  return { rows: pres.rows, columns: pres.columns, data };
}

/** Radiograph with the heat map blended in: RGB, 8 bits, colour-by-pixel. */
export function blend(gray: GrayImage, heat: Heatmap): Uint8Array {
  if (heat.width !== gray.columns || heat.height !== gray.rows) {
    throw new Error(`heat map is ${heat.width}x${heat.height} but the radiograph is ${gray.columns}x${gray.rows} (columns x rows)`);
  }
  if (heat.data.length !== heat.width * heat.height) throw new Error(`heat map data has ${heat.data.length} values, expected ${heat.width * heat.height}`);
  const n = gray.rows * gray.columns;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const g = Math.min(1, Math.max(0, gray.data[i]!)) * 255;
    let h = heat.data[i]!;
    if (!(h > 0)) h = 0;
    else if (h > 1) h = 1;
    const a = h <= HEAT_FLOOR ? 0 : MAX_ALPHA * Math.min(1, (h - HEAT_FLOOR) / (0.6 - HEAT_FLOOR));
    const k = Math.round(h * 255) * 3;
    out[i * 3] = Math.round(g * (1 - a) + COLOUR_LUT[k]! * a);
    out[i * 3 + 1] = Math.round(g * (1 - a) + COLOUR_LUT[k + 1]! * a);
    out[i * 3 + 2] = Math.round(g * (1 - a) + COLOUR_LUT[k + 2]! * a);
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function verdictText(n: AgeAssessment): string {
  if (!n.verdict) {
    const r = n.notComputedReason ?? '';
    const why = /sex unknown/.test(r)
      ? 'sex unknown'
      : n.chronologicalAgeMonths === undefined
        ? 'chronological age unknown'
        : /beyond/.test(r)
          ? 'age outside the Greulich-Pyle SD table'
          : 'see the report';
    return `SDS not computed: ${why}`;
  }
  const sds = `${n.sds! >= 0 ? '+' : ''}${n.sds!.toFixed(2)}`;
  const v = n.verdict === 'normal' ? 'within \u00b12 SD' : n.verdict === 'delayed' ? 'DELAYED (< \u22122 SD)' : 'ADVANCED (> +2 SD)';
  return `SDS ${sds} (Greulich-Pyle, ${n.sdMonths!.toFixed(2)} mo SD): ${v}`;
}

/** The header band (SVG) above the image: text lines and the legend. */
/** Greedy word wrap to at most `maxChars` characters a line (a longer word stays whole). */
export function wrapText(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && [...`${line} ${word}`].length > maxChars) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** Upper bounds of the average advance of DejaVu Sans glyphs in em, to fit text without measuring it. */
const EM_PER_CHAR = { regular: 0.6, bold: 0.68 };

/**
 * The header band (SVG) above the image: five lines of text (wrapped where they would not fit)
 * and the colour legend, to the right of the text on wide images, below it on narrow ones.
 */
export function headerSvg(width: number, result: BoneAgeResult, n: AgeAssessment): { svg: string; height: number } {
  const s = Math.max(0.45, width / 1514);
  const big = Math.round(46 * s);
  const mid = Math.round(30 * s);
  const small = Math.round(24 * s);
  const pad = Math.round(22 * s);
  const lineGap = Math.round(10 * s);
  const legendH = Math.round(26 * s);
  let legendW = Math.round(300 * s);
  const legendBelow = width - legendW - 3 * pad < 0.55 * width;
  if (legendBelow) legendW = Math.min(width - 2 * pad, Math.round(300 * s));
  const sexWord = result.sex === 'M' ? 'male' : result.sex === 'F' ? 'female' : 'sex unknown';
  const chrono =
    n.chronologicalAgeMonths === undefined
      ? 'Chronological age unknown'
      : `Chronological age ${formatAge(n.chronologicalAgeMonths)} \u00b7 difference ${n.differenceMonths! >= 0 ? '+' : ''}${n.differenceMonths!.toFixed(1)} mo`;
  const lines: Array<{ text: string; size: number; fill: string; weight?: string }> = [
    { text: `AI bone age ${formatAge(n.boneAgeMonths)} (${n.boneAgeMonths.toFixed(1)} months, ${sexWord})`, size: big, fill: '#ffffff', weight: 'bold' },
    { text: chrono, size: mid, fill: '#e6e6e6' },
    { text: verdictText(n), size: mid, fill: '#e6e6e6' },
    { text: `Model ${result.model.name} ${result.model.version} \u00b7 carpus AI bone-age node`, size: mid, fill: '#bdbdbd' },
    { text: 'AI RESULT \u2014 NOT A DIAGNOSIS \u2014 TO BE VERIFIED BY A PHYSICIAN', size: mid, fill: '#ffcc33', weight: 'bold' },
  ];
  const font = 'DejaVu Sans, Liberation Sans, sans-serif';
  // Right layout: the legend sits below the title line, beside the next lines.
  const rightLy = pad + big + lineGap + small + Math.round(12 * s);
  const rightBottom = rightLy + legendH + small + Math.round(4 * s);
  let y = pad;
  const els: string[] = [];
  for (const [i, l] of lines.entries()) {
    const em = l.weight === 'bold' ? EM_PER_CHAR.bold : EM_PER_CHAR.regular;
    for (let part = 0, rest = l.text; rest; part++) {
      // Full width for the title, for every line when the legend is below, and for lines under the legend.
      const clear = i === 0 || legendBelow || y > rightBottom;
      const room = clear ? width - 2 * pad : width - legendW - 3 * pad;
      const [first, ...others] = wrapText(rest, Math.max(8, Math.floor(room / (em * l.size))));
      y += l.size;
      els.push(`<text x="${pad}" y="${y}" font-family="${font}" font-size="${l.size}" fill="${l.fill}"${l.weight ? ` font-weight="${l.weight}"` : ''}>${esc(first ?? '')}</text>`);
      y += lineGap;
      rest = others.join(' ');
    }
  }
  const lx = legendBelow ? pad : width - legendW - pad;
  const ly = legendBelow ? y + small + Math.round(8 * s) : rightLy;
  const legendBottom = ly + legendH + small + Math.round(4 * s);
  const height = Math.max(y - lineGap, legendBottom) + pad;
  const stops = Array.from({ length: 11 }, (_, i) => `<stop offset="${i * 10}%" stop-color="${hex(colourAt(HEAT_FLOOR + ((1 - HEAT_FLOOR) * i) / 10))}"/>`).join('');
  els.push(
    `<defs><linearGradient id="g" x1="0" x2="1" y1="0" y2="0">${stops}</linearGradient></defs>`,
    `<text x="${lx}" y="${ly - Math.round(8 * s)}" font-family="${font}" font-size="${small}" fill="#e6e6e6">Heat map: attention</text>`,
    `<rect x="${lx}" y="${ly}" width="${legendW}" height="${legendH}" fill="url(#g)" stroke="#ffffff" stroke-width="${Math.max(1, Math.round(s))}"/>`,
    `<text x="${lx}" y="${legendBottom}" font-family="${font}" font-size="${small}" fill="#e6e6e6">low</text>`,
    `<text x="${lx + legendW}" y="${legendBottom}" font-family="${font}" font-size="${small}" fill="#e6e6e6" text-anchor="end">high</text>`,
  );
  const rule = Math.max(2, Math.round(3 * s));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#000000"/>${els.join('')}<rect x="0" y="${height - rule}" width="${width}" height="${rule}" fill="#ffcc33"/></svg>`;
  return { svg, height };
}

export interface ComposedImage {
  rgb: Buffer;
  width: number;
  height: number;
}

/** Header band + blended radiograph as one RGB image. */
export async function composeImage(gray: GrayImage, result: BoneAgeResult, n: AgeAssessment): Promise<ComposedImage> {
  const blended = blend(gray, result.heatmap);
  const width = gray.columns;
  const header = headerSvg(width, result, n);
  const height = gray.rows + header.height;
  const headerRaw = await sharp(Buffer.from(header.svg)).resize(width, header.height, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  const rgb = Buffer.alloc(width * height * 3);
  headerRaw.copy(rgb, 0, 0, Math.min(headerRaw.length, width * header.height * 3));
  Buffer.from(blended.buffer, blended.byteOffset, blended.byteLength).copy(rgb, width * header.height * 3);
  return { rgb, width, height };
}

/** PNG of a composed image (docs, debugging). */
export async function toPng(img: ComposedImage): Promise<Buffer> {
  return sharp(img.rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).png({ compressionLevel: 9 }).toBuffer();
}

/** Lossy transfer syntaxes (JPEG baseline/extended/lossy JPEG-LS/JPEG 2000/HTJ2K, MPEG, HEVC). */
const LOSSY_TS = /^1\.2\.840\.10008\.1\.2\.4\.(50|51|81|91|101|102|103|104|105|106|107|108|203)$/;

/** Whether the source has ever been lossy compressed (then the derived image must say so too, PS3.3 C.7.6.1.1.5). */
export function sourceWasLossy(dict: DcmjsDict, transferSyntaxUid: string | undefined): boolean {
  return dictStr(dict, '00282110') === '01' || (transferSyntaxUid !== undefined && LOSSY_TS.test(transferSyntaxUid));
}

export interface ScInput {
  source: DcmjsDict;
  /** The source's transfer syntax (from its file meta information). */
  sourceTransferSyntaxUid?: string;
  sourceRef: { classUid: string; instanceUid: string };
  image: ComposedImage;
  result: BoneAgeResult;
  uids: { series: string; instance: string };
  now: Date;
  seriesNumber: number;
  softwareVersion: string;
}

export function buildSc(inp: ScInput): Buffer {
  const { date, time } = dicomDateTime(inp.now);
  const base = copyTags(inp.source, PATIENT_STUDY_TAGS, PATIENT_STUDY_TYPE2);
  const r = inp.result;
  const lat = dictStr(inp.source, '00200060') ?? dictStr(inp.source, '00200062');
  const nat: Naturalized = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['DERIVED', 'SECONDARY'],
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    SOPClassUID: SECONDARY_CAPTURE,
    SOPInstanceUID: inp.uids.instance,
    ContentDate: date,
    ContentTime: time,
    TimezoneOffsetFromUTC: '+0000',
    Modality: 'OT',
    ConversionType: 'WSD',
    Manufacturer: 'carpus',
    ManufacturerModelName: `${r.model.name} ${r.model.version}`.slice(0, 64),
    SoftwareVersions: [inp.softwareVersion, `${r.model.name} ${r.model.version}`.slice(0, 64)],
    SecondaryCaptureDeviceManufacturer: 'carpus',
    SecondaryCaptureDeviceManufacturerModelName: `${r.model.name} ${r.model.version}`.slice(0, 64),
    SecondaryCaptureDeviceSoftwareVersions: [inp.softwareVersion],
    DateOfSecondaryCapture: date,
    TimeOfSecondaryCapture: time,
    SeriesDescription: 'carpus AI bone age heat map',
    SeriesInstanceUID: inp.uids.series,
    SeriesNumber: String(inp.seriesNumber),
    SeriesDate: date,
    SeriesTime: time,
    InstanceNumber: '1',
    Laterality: lat && /^[LR]$/.test(lat) ? lat : '',
    PatientOrientation: inp.source['00200020']?.Value?.length ? inp.source['00200020'].Value.map(String) : '',
    BurnedInAnnotation: 'YES',
    RecognizableVisualFeatures: 'NO',
    LossyImageCompression: '00',
    DerivationDescription: `Radiograph with AI heat map (${(r.heatmap.method ?? 'model attention').slice(0, 60)}) of ${r.model.name} ${r.model.version} overlaid in colour; bone age result and AI statement burned in`.slice(0, 1024),
    SourceImageSequence: [
      {
        ReferencedSOPClassUID: inp.sourceRef.classUid,
        ReferencedSOPInstanceUID: inp.sourceRef.instanceUid,
        PurposeOfReferenceCodeSequence: [{ CodeValue: CODES.sourceImageForProcessing.value, CodingSchemeDesignator: CODES.sourceImageForProcessing.scheme, CodeMeaning: CODES.sourceImageForProcessing.meaning }],
      },
    ],
    ImageComments: 'AI result - not a diagnosis - to be verified by a physician',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: inp.image.height,
    Columns: inp.image.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
  };
  if (sourceWasLossy(inp.source, inp.sourceTransferSyntaxUid)) {
    nat.LossyImageCompression = '01';
    const method = inp.source['00282114']?.Value?.map(String).filter(Boolean) ?? [];
    if (method.length) nat.LossyImageCompressionMethod = method;
    else if (inp.sourceTransferSyntaxUid && /^1\.2\.840\.10008\.1\.2\.4\.5[01]$/.test(inp.sourceTransferSyntaxUid)) nat.LossyImageCompressionMethod = 'ISO_10918_1';
  }
  const body = dictStr(inp.source, '00180015');
  if (body) nat.BodyPartExamined = body;
  const dict = toDict(nat, base);
  const px = inp.image.rgb;
  const padded = px.length % 2 ? Buffer.concat([px, Buffer.alloc(1)]) : px;
  dict['7FE00010'] = { vr: 'OB', Value: [padded.buffer.slice(padded.byteOffset, padded.byteOffset + padded.byteLength)] };
  return writePart10(dict, SECONDARY_CAPTURE, inp.uids.instance);
}
