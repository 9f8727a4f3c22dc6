import type { FastifyReply } from 'fastify';

/** A DICOMweb error answer: HTTP status plus a short, PHI-free reason a client can show. */
export function problem(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: httpReason(status), message });
}

function httpReason(status: number): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    406: 'Not Acceptable',
    409: 'Conflict',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  };
  return reasons[status] ?? 'Error';
}
