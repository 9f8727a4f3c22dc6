import type { Config } from './config.ts';
import type { Db } from './db/index.ts';
import type { Logger } from './log.ts';
import type { Archive } from './store/archive.ts';

/** What every HTTP module of the node gets: configuration, database, archive, logger. */
export interface NodeContext {
  config: Config;
  db: Db;
  archive: Archive;
  log: Logger;
}
