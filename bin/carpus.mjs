#!/usr/bin/env node
// carpus command line: registers tsx's ESM loader so the TypeScript sources run as they are.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
