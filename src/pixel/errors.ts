/** Errors of the pixel module. `code` lets HTTP layers map them (e.g. 406, 415, 422). */
export type PixelErrorCode =
  | 'unsupported-transfer-syntax'
  | 'unsupported-pixel-format'
  | 'not-dicom'
  | 'no-pixel-data'
  | 'bad-pixel-data'
  | 'decode-failed'
  | 'decode-timeout'
  | 'frame-out-of-range'
  | 'bad-parameter';

export class PixelError extends Error {
  override name = 'PixelError';
  constructor(
    readonly code: PixelErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class UnsupportedTransferSyntaxError extends PixelError {
  override name = 'UnsupportedTransferSyntaxError';
  constructor(readonly transferSyntaxUid: string, detail = '') {
    super('unsupported-transfer-syntax', `Transfer syntax ${transferSyntaxUid} is not supported by the pixel decoder${detail ? `: ${detail}` : ''}`);
  }
}

/** dicom-parser throws strings; codecs throw anything. Always get an Error's message. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
