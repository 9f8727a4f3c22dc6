import { loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { openDb } from './db/index.ts';
import { migrate } from './db/migrate.ts';
import { Archive } from './store/archive.ts';
import { buildServer } from './server.ts';
import type { NodeContext } from './context.ts';
import { startAutoAnalysis } from './analysis/index.ts';
import { j2kDecoder, nativeOpenJpegBuild } from './pixel/openjpeg-native.ts';

/** Starts a carpus node; resolves once it listens. Used by `npm start` and by the tests. */
export async function startNode(env: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel);
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log });
  await migrate(db, log);
  const archive = new Archive(db, config.dataDir, log);
  await archive.init();
  const ctx: NodeContext = { config, db, archive, log };
  const app = await buildServer(ctx);
  const analysis = await startAutoAnalysis(ctx, app, env);
  await app.listen({ host: config.host, port: config.port });
  const bound = app.server.address();
  const port = bound && typeof bound === 'object' ? bound.port : config.port;
  log.info({ host: config.host, port, dataDir: config.dataDir, auth: config.tokens.length ? 'bearer tokens' : 'none (loopback)' }, 'carpus listening');
  const j2k = j2kDecoder();
  const ojp = j2k === 'native' ? nativeOpenJpegBuild() : undefined;
  log.info({ decoder: j2k, ...(ojp && { openjpeg: ojp.version, build: ojp.library, source: ojp.source, isa: ojp.isa }) }, 'JPEG 2000 decoder');
  const stop = async () => {
    await app.close();
    await analysis.stop();
    await db.close();
  };
  return { ctx, app, analysis, stop };
}

