/**
 * Reading a radiograph: DICOM through the pixel module (decode, Modality LUT, first VOI window or
 * min/max, MONOCHROME1 inverted: docs/model-input.md 1), PNG/JPEG through sharp (8-bit value/255;
 * colour to luminance as Pillow's convert('L')). The DICOM attributes the acceptance checks need
 * are read before any pixel is decoded.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import type dicomParser from 'dicom-parser';
import { decode, modelImageFromDecoded, parsePart10, present, PixelError, type DecodedImage, type DecodePool, type FloatImage } from '../pixel/index.ts';
import { parseDataSet } from '../pixel/parse.ts';
import { InferenceInputError, messageOf } from './errors.ts';
import { floatSource, lutSource, type IntegerPixels, type ModelSource } from './upsample.ts';

export interface DicomAttributes {
  sopClassUid?: string;
  modality?: string;
  bodyPartExamined?: string;
  patientSex?: string;
  patientAge?: string;
  studyDescription?: string;
  seriesDescription?: string;
  protocolName?: string;
  imageType?: string;
  viewPosition?: string;
  rows?: number;
  columns?: number;
  numberOfFrames?: number;
  hasPixelData: boolean;
}

export type SourceKind = 'dicom' | 'png' | 'jpeg' | 'image';

export interface Radiograph {
  image: FloatImage;
  kind: SourceKind;
  dicom?: DicomAttributes;
  /** Lossy source pixel data (DICOM lossy transfer syntax / JPEG). */
  lossy: boolean;
}

export function isDicom(buf: Uint8Array): boolean {
  return buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d;
}

function str(ds: dicomParser.DataSet, tag: string): string | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  try {
    const v = ds.string(tag)?.replace(/\0/g, '').trim();
    return v ? v : undefined;
  } catch {
    return undefined;
  }
}

function allValues(ds: dicomParser.DataSet, tag: string): string | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  try {
    const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
    const v = Buffer.from(bytes).toString('latin1').replace(/\0/g, '').trim();
    return v ? v : undefined;
  } catch {
    return undefined;
  }
}

function u16(ds: dicomParser.DataSet, tag: string): number | undefined {
  const el = ds.elements[tag];
  return el && el.length >= 2 ? ds.uint16(tag) : undefined;
}

export function readDicomAttributes(ds: dicomParser.DataSet): DicomAttributes {
  const a: DicomAttributes = { hasPixelData: Boolean(ds.elements.x7fe00010) };
  const put = <K extends keyof DicomAttributes>(k: K, v: DicomAttributes[K] | undefined): void => {
    if (v !== undefined) a[k] = v;
  };
  put('sopClassUid', str(ds, 'x00080016') ?? str(ds, 'x00020002'));
  put('modality', str(ds, 'x00080060')?.toUpperCase());
  put('bodyPartExamined', str(ds, 'x00180015')?.toUpperCase());
  put('patientSex', str(ds, 'x00100040')?.toUpperCase());
  put('patientAge', str(ds, 'x00101010')?.toUpperCase());
  put('studyDescription', allValues(ds, 'x00081030'));
  put('seriesDescription', allValues(ds, 'x0008103e'));
  put('protocolName', allValues(ds, 'x00181030'));
  put('imageType', allValues(ds, 'x00080008')?.toUpperCase());
  put('viewPosition', str(ds, 'x00185101')?.toUpperCase());
  put('rows', u16(ds, 'x00280010'));
  put('columns', u16(ds, 'x00280011'));
  const nf = str(ds, 'x00280008');
  if (nf !== undefined && Number.isFinite(Number(nf))) a.numberOfFrames = Number(nf);
  return a;
}

export interface ParsedDicom {
  attributes: DicomAttributes;
  /** Decodes the first frame to the model's [0,1] image. */
  decodeImage(): Promise<{ image: FloatImage; lossy: boolean }>;
  /** The same image as a row source (integer grey frames: pixels + presentation LUT, no float copy). */
  decodeSource(): Promise<{ source: ModelSource; lossy: boolean }>;
}

// Two kernels so that the common 16-bit case stays monomorphic (V8 specialises per array type).
function minMaxU16(px: Uint16Array, n: number): [number, number] {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = px[i]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}
function minMaxAny(px: ArrayLike<number>, n: number): [number, number] {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = px[i]!;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}

/**
 * `modelImageFromDecoded(img, frame)` as pixels + LUT when the frame is integer grey without a
 * Modality LUT Sequence: the pixel module's `present` is elementwise, so presenting every value of
 * [min, max] once gives exactly the values it gives each pixel (as its own LUT fast path does).
 */
export function modelSourceFromDecoded(img: DecodedImage, frameIndex = 0): ModelSource {
  const px = img.frames[frameIndex];
  const { rows, columns } = img;
  if (px && img.samplesPerPixel === 1 && !img.module.modalityLut && px.length >= rows * columns) {
    const [mn, mx] = px instanceof Uint16Array ? minMaxU16(px, rows * columns) : minMaxAny(px, rows * columns);
    const range = mx - mn + 1;
    if (range <= 1 << 20) {
      const domain = new Float64Array(range);
      for (let i = 0; i < range; i++) domain[i] = mn + i;
      const p = present(img, domain, img.module.windows.length > 0 ? { windowIndex: 0 } : { minMax: true });
      if (p.kind === 'gray') return lutSource(px as IntegerPixels, columns, rows, p.data, mn);
    }
  }
  return floatSource(modelImageFromDecoded(img, frameIndex));
}

/** Parses a DICOM file's data set (no pixel decoding yet). */
export function parseDicom(buf: Uint8Array, decoder?: DecodePool | 'inline'): ParsedDicom {
  let ds: dicomParser.DataSet;
  try {
    ds = parseDataSet(buf);
  } catch (e) {
    throw new InferenceInputError('unreadable-image', `Not a readable DICOM file: ${messageOf(e)}`);
  }
  const attributes = readDicomAttributes(ds);
  return {
    attributes,
    async decodeImage() {
      try {
        const parsed = parsePart10(buf);
        const img = await decode(parsed, { frames: [1], ...(decoder ? { decoder } : {}) });
        return { image: modelImageFromDecoded(img, 0), lossy: img.lossy };
      } catch (e) {
        if (e instanceof PixelError) throw new InferenceInputError('unreadable-image', `Cannot decode the DICOM pixel data: ${e.message}`);
        throw e;
      }
    },
    async decodeSource() {
      try {
        const parsed = parsePart10(buf);
        const img = await decode(parsed, { frames: [1], ...(decoder ? { decoder } : {}) });
        return { source: modelSourceFromDecoded(img, 0), lossy: img.lossy };
      } catch (e) {
        if (e instanceof PixelError) throw new InferenceInputError('unreadable-image', `Cannot decode the DICOM pixel data: ${e.message}`);
        throw e;
      }
    },
  };
}

/**
 * PNG/JPEG/other raster (sharp): 8-bit grey value/255 (16-bit: /65535); colour to luminance with
 * Pillow's integer L = (19595 R + 38470 G + 7471 B + 32768) >> 16; alpha ignored.
 */
export async function decodeRaster(buf: Uint8Array): Promise<{ image: FloatImage; kind: SourceKind; lossy: boolean }> {
  const { source, kind, lossy } = await decodeRasterSource(buf);
  return { image: source.full(), kind, lossy };
}

/** decodeRaster as a row source: integer grey (and 8-bit luminance) through a value/255 (/65535) LUT. */
export async function decodeRasterSource(buf: Uint8Array): Promise<{ source: ModelSource; kind: SourceKind; lossy: boolean }> {
  let meta: Metadata;
  try {
    meta = await sharp(buf).metadata();
  } catch (e) {
    throw new InferenceInputError('not-an-image', `Not a DICOM file nor an image sharp can read: ${messageOf(e).split('\n')[0]}`);
  }
  const kind: SourceKind = meta.format === 'png' ? 'png' : meta.format === 'jpeg' ? 'jpeg' : 'image';
  const grey = meta.space === 'b-w' || meta.space === 'grey16' || meta.channels === 1 || meta.channels === 2;
  let raw: { data: Buffer; info: OutputInfo };
  try {
    let pipeline = sharp(buf, { limitInputPixels: 40000 * 40000 });
    if (grey) pipeline = pipeline.extractChannel(0); // one channel out (sharp would expand grey to sRGB)
    raw = await pipeline.raw({ depth: meta.depth === 'ushort' ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new InferenceInputError('unreadable-image', `Cannot decode the image: ${messageOf(e).split('\n')[0]}`);
  }
  const { width, height, channels } = raw.info;
  const n = width * height;
  const sixteen = raw.data.length === n * channels * 2;
  const src = sixteen ? new Uint16Array(raw.data.buffer, raw.data.byteOffset, n * channels) : raw.data;
  const lossy = kind === 'jpeg';
  const lutOf = (levels: number): Float32Array => {
    const lut = new Float32Array(levels);
    for (let v = 0; v < levels; v++) lut[v] = v / (levels - 1);
    return lut;
  };
  if (grey || channels < 3) {
    let px: Uint8Array | Uint16Array;
    if (channels === 1) px = sixteen ? (src as Uint16Array) : new Uint8Array(src.buffer, src.byteOffset, n);
    else {
      px = sixteen ? new Uint16Array(n) : new Uint8Array(n);
      for (let i = 0; i < n; i++) px[i] = src[i * channels]!;
    }
    return { source: lutSource(px, width, height, lutOf(sixteen ? 65536 : 256), 0), kind, lossy };
  }
  if (!sixteen) {
    const l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * channels;
      l[i] = (19595 * src[o]! + 38470 * src[o + 1]! + 7471 * src[o + 2]! + 0x8000) >> 16;
    }
    return { source: lutSource(l, width, height, lutOf(256), 0), kind, lossy };
  }
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * channels;
    data[i] = (0.299 * src[o]! + 0.587 * src[o + 1]! + 0.114 * src[o + 2]!) / 65535;
  }
  return { source: floatSource({ width, height, data }), kind, lossy };
}

export async function readInputFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InferenceInputError('file-missing', `File ${file} does not exist`);
    if (code === 'EISDIR') throw new InferenceInputError('not-an-image', `${file} is a folder, not an image`);
    throw new InferenceInputError('file-missing', `Cannot read ${file}: ${messageOf(e)}`);
  }
}
