/**
 * Reading a radiograph: DICOM through the pixel module (decode, Modality LUT, first VOI window or
 * min/max, MONOCHROME1 inverted: docs/model-input.md 1), PNG/JPEG through sharp (8-bit value/255;
 * colour to luminance as Pillow's convert('L')). The DICOM attributes the acceptance checks need
 * are read before any pixel is decoded.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import type dicomParser from 'dicom-parser';
import { decode, modelImageFromDecoded, parsePart10, PixelError, type DecodePool, type FloatImage } from '../pixel/index.ts';
import { parseDataSet } from '../pixel/parse.ts';
import { InferenceInputError, messageOf } from './errors.ts';

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
  };
}

/**
 * PNG/JPEG/other raster (sharp): 8-bit grey value/255 (16-bit: /65535); colour to luminance with
 * Pillow's integer L = (19595 R + 38470 G + 7471 B + 32768) >> 16; alpha ignored.
 */
export async function decodeRaster(buf: Uint8Array): Promise<{ image: FloatImage; kind: SourceKind; lossy: boolean }> {
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
  const data = new Float32Array(n);
  const sixteen = raw.data.length === n * channels * 2;
  const src = sixteen ? new Uint16Array(raw.data.buffer, raw.data.byteOffset, n * channels) : raw.data;
  if ((grey || channels < 3) && !sixteen) {
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = v / 255;
    if (channels === 1) for (let i = 0; i < n; i++) data[i] = lut[src[i]!]!;
    else for (let i = 0; i < n; i++) data[i] = lut[src[i * channels]!]!;
  } else if (grey || channels < 3) {
    for (let i = 0; i < n; i++) data[i] = src[i * channels]! / 65535;
  } else if (!sixteen) {
    for (let i = 0; i < n; i++) {
      const o = i * channels;
      data[i] = ((19595 * src[o]! + 38470 * src[o + 1]! + 7471 * src[o + 2]! + 0x8000) >> 16) / 255;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const o = i * channels;
      data[i] = (0.299 * src[o]! + 0.587 * src[o + 1]! + 0.114 * src[o + 2]!) / 65535;
    }
  }
  return { image: { width, height, data }, kind, lossy: kind === 'jpeg' };
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
