import pino, { type Logger } from 'pino';

/**
 * One structured logger for the node. Authorization headers and DICOM patient
 * attributes must never reach it: request logging is done by hand in the HTTP
 * layer with the path only (QIDO query strings carry PatientName/PatientID).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'carpus' },
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type { Logger };
