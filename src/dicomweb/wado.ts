import type { FastifyInstance } from 'fastify';
import type { NodeContext } from '../context.ts';

// WADO-RS: being written (issue 2).
export function registerWado(_app: FastifyInstance, _ctx: NodeContext): void {}
