import { describe, expect, it } from 'vitest';
import { loadConfig, parseTokens, ConfigError } from '../src/config.ts';

describe('configuration', () => {
  it('has embedded defaults: loopback, port 8080, ./var, PGlite', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toMatch(/\/var$/);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.tokens).toEqual([]);
  });

  it('rejects invalid values with every problem named', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x' })).toThrowError(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT/);
      expect((err as Error).message).toMatch(/DATABASE_URL: must be a postgres/);
    }
  });

  it('refuses a non-loopback address without tokens', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrowError(/not a loopback address: set CARPUS_TOKENS/);
    const c = loadConfig({ HOST: '0.0.0.0', CARPUS_TOKENS: 'pacs:store:0123456789abcdef0,viewer:read:fedcba98765432100' });
    expect(c.tokens.map((t) => [t.principal, [...t.roles]])).toEqual([
      ['pacs', ['store']],
      ['viewer', ['read']],
    ]);
  });

  it('validates token entries without echoing the secret', () => {
    expect(() => parseTokens('pacs:store')).toThrowError(/principal:role/);
    expect(() => parseTokens('pacs:write:0123456789abcdef0')).toThrowError(/unknown role "write"/);
    try {
      parseTokens('pacs:store:short-secret');
    } catch (err) {
      expect((err as Error).message).toMatch(/at least 16 characters/);
      expect((err as Error).message).not.toContain('short-secret');
    }
    expect(() => parseTokens('a:store:0123456789abcdef0,b:read:0123456789abcdef0')).toThrowError(/reused/);
    expect(parseTokens('ops:store+read+admin:0123456789abcdef:with:colons')[0]!.token).toBe('0123456789abcdef:with:colons');
  });
});
