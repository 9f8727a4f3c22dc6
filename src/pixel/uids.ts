/** Transfer syntax UIDs (PS3.5 / PS3.6 Annex A) that the pixel module knows. */
export const TS = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
  JPEGBaseline8Bit: '1.2.840.10008.1.2.4.50',
  JPEGExtended12Bit: '1.2.840.10008.1.2.4.51',
  JPEGSpectralSelection: '1.2.840.10008.1.2.4.53',
  JPEGFullProgression: '1.2.840.10008.1.2.4.55',
  JPEGLossless: '1.2.840.10008.1.2.4.57',
  JPEGLosslessSV1: '1.2.840.10008.1.2.4.70',
  JPEGLSLossless: '1.2.840.10008.1.2.4.80',
  JPEGLSNearLossless: '1.2.840.10008.1.2.4.81',
  JPEG2000Lossless: '1.2.840.10008.1.2.4.90',
  JPEG2000: '1.2.840.10008.1.2.4.91',
  RLELossless: '1.2.840.10008.1.2.5',
} as const;

export type CodecFamily = 'native' | 'jpeg' | 'jpeg-ls' | 'jpeg2000' | 'rle';

export interface TransferSyntaxInfo {
  uid: string;
  name: string;
  /** Pixel data is encapsulated (fragments) rather than native. */
  encapsulated: boolean;
  /** The compression process may be lossy (PS3.5 8.2: LossyImageCompression must then be "01"). */
  lossy: boolean;
  bigEndian: boolean;
  family: CodecFamily;
}

const table: TransferSyntaxInfo[] = [
  { uid: TS.ImplicitVRLittleEndian, name: 'Implicit VR Little Endian', encapsulated: false, lossy: false, bigEndian: false, family: 'native' },
  { uid: TS.ExplicitVRLittleEndian, name: 'Explicit VR Little Endian', encapsulated: false, lossy: false, bigEndian: false, family: 'native' },
  { uid: TS.DeflatedExplicitVRLittleEndian, name: 'Deflated Explicit VR Little Endian', encapsulated: false, lossy: false, bigEndian: false, family: 'native' },
  { uid: TS.ExplicitVRBigEndian, name: 'Explicit VR Big Endian', encapsulated: false, lossy: false, bigEndian: true, family: 'native' },
  { uid: TS.JPEGBaseline8Bit, name: 'JPEG Baseline (Process 1)', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGExtended12Bit, name: 'JPEG Extended (Process 2 & 4)', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGSpectralSelection, name: 'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8)', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGFullProgression, name: 'JPEG Full Progression, Non-Hierarchical (Process 10 & 12)', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGLossless, name: 'JPEG Lossless, Non-Hierarchical (Process 14)', encapsulated: true, lossy: false, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGLosslessSV1, name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', encapsulated: true, lossy: false, bigEndian: false, family: 'jpeg' },
  { uid: TS.JPEGLSLossless, name: 'JPEG-LS Lossless', encapsulated: true, lossy: false, bigEndian: false, family: 'jpeg-ls' },
  { uid: TS.JPEGLSNearLossless, name: 'JPEG-LS Lossy (Near-Lossless)', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg-ls' },
  { uid: TS.JPEG2000Lossless, name: 'JPEG 2000 Image Compression (Lossless Only)', encapsulated: true, lossy: false, bigEndian: false, family: 'jpeg2000' },
  { uid: TS.JPEG2000, name: 'JPEG 2000 Image Compression', encapsulated: true, lossy: true, bigEndian: false, family: 'jpeg2000' },
  { uid: TS.RLELossless, name: 'RLE Lossless', encapsulated: true, lossy: false, bigEndian: false, family: 'rle' },
];

const byUid = new Map(table.map((t) => [t.uid, t]));

/** Info on a transfer syntax this module can decode, or undefined. */
export function transferSyntaxInfo(uid: string): TransferSyntaxInfo | undefined {
  return byUid.get(uid);
}

/** Every transfer syntax this module decodes. */
export function decodableTransferSyntaxes(): string[] {
  return table.map((t) => t.uid);
}
