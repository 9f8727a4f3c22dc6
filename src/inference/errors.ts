/** Errors of the inference module: a model bundle that cannot be used, and bad input. */

export type ModelErrorCode =
  | 'models-dir-missing'
  | 'model-missing'
  | 'card-missing'
  | 'card-invalid'
  | 'onnx-missing'
  | 'onnx-size-mismatch'
  | 'onnx-sha256-mismatch'
  | 'onnx-io-mismatch'
  | 'feature-stats-missing'
  | 'feature-stats-mismatch'
  | 'feature-stats-invalid'
  | 'session-failed';

/** A model bundle (card + ONNX graph) that is missing, malformed or does not match its card. */
export class ModelBundleError extends Error {
  override name = 'ModelBundleError';
  constructor(
    readonly code: ModelErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type InputErrorCode = 'file-missing' | 'not-an-image' | 'unreadable-image' | 'busy' | 'closed';

/** The input could not be read as an image at all (not a rejection: there is nothing to judge). */
export class InferenceInputError extends Error {
  override name = 'InferenceInputError';
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
