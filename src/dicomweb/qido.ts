import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../context.ts';

// QIDO-RS: being written (issue 2).
export function registerQido(_app: FastifyInstance, _ctx: NodeContext): void {}
