// Entry point of `npm start`: runs the node with the configuration from the environment.
import { ConfigError } from './config.ts';
import { startNode } from './node.ts';

startNode().then(
  ({ stop, ctx }) => {
    let stopping = false;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (stopping) return;
        stopping = true;
        ctx.log.info({ signal: sig }, 'shutting down');
        stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`carpus: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`carpus: failed to start: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
