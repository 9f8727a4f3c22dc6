import { Readable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CarpusLogController } from '../src/server.ts';

describe('a response body that fails after the headers', () => {
  it('is logged with its reason although request logging is off', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const app = Fastify({ loggerInstance: log, logController: new CarpusLogController({ disableRequestLogging: true }) });
    app.get('/broken', async (_req, reply) => {
      async function* body() {
        yield Buffer.from('first part');
        throw new Error('decoder gave up');
      }
      return reply.type('application/octet-stream').send(Readable.from(body()));
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const addr = app.server.address();
      if (!addr || typeof addr === 'string') throw new Error('no port');
      const res = await fetch(`http://127.0.0.1:${addr.port}/broken?PatientName=X`);
      expect(res.status).toBe(200);
      await expect(res.arrayBuffer()).rejects.toThrow();
      const line = lines.find((l) => l.msg === 'response aborted mid-stream: body stream failed after the headers were sent');
      expect(line).toMatchObject({ level: 50, path: '/broken', err: { message: 'decoder gave up' } });
      expect(JSON.stringify(lines)).not.toContain('PatientName');
    } finally {
      await app.close();
    }
  });
});
