/** carpus pixel module: decode, present, transcode, render, model input, WADO frame access. */
export { TS, transferSyntaxInfo, decodableTransferSyntaxes, type TransferSyntaxInfo } from './uids.ts';
export { PixelError, UnsupportedTransferSyntaxError, type PixelErrorCode } from './errors.ts';
export { parsePart10, type ParsedPart10, type PixelModule, type Window, type Lut } from './parse.ts';
export type { PixelArray } from './pixels.ts';
export { decode, decodeFrameValues, isLossy, type DecodedImage, type DecodeOptions } from './decode.ts';
export { DecodePool, defaultPool, closeDefaultPool, type PoolOptions } from './decode-pool.ts';
