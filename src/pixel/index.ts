/** carpus pixel module: decode, present, transcode, render, model input, WADO frame access. */
export { TS, transferSyntaxInfo, decodableTransferSyntaxes, type TransferSyntaxInfo } from './uids.ts';
export { PixelError, UnsupportedTransferSyntaxError, type PixelErrorCode } from './errors.ts';
export { parsePart10, type ParsedPart10, type PixelModule, type Window, type Lut } from './parse.ts';
export type { PixelArray } from './pixels.ts';
export { decode, decodeFrameValues, isLossy, type DecodedImage, type DecodeOptions } from './decode.ts';
export { DecodePool, defaultPool, closeDefaultPool, type PoolOptions } from './decode-pool.ts';
export { present, presentGray8, modalityValues, applyWindow, type PresentOptions, type Presentation, type GrayPresentation, type RgbPresentation, type WindowSpec, type VoiFunction } from './present.ts';
export { transcodeToExplicitVRLittleEndian, isExplicitLittleEndian, type TranscodeOptions } from './transcode.ts';
export { getFrame, getStoredFrame, frameMediaType, negotiateTransferSyntax, canProduce, type FrameBytes } from './frames.ts';
export { renderFrame, parseWindowParam, parseViewportParam, negotiateRenderedMediaType, type RenderOptions, type RenderedImage, type RenderedMediaType, type Viewport } from './render.ts';
export { resizeBilinear, toModelTensor, u8ToUnit, modelImageFromDecoded, type FloatImage, type TensorSpec, type Tensor } from './model-input.ts';
