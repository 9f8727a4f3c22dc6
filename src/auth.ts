import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config, Role, TokenEntry } from './config.ts';

export interface Principal {
  name: string;
  roles: ReadonlySet<Role>;
}

const ALL_ROLES: ReadonlySet<Role> = new Set<Role>(['store', 'read', 'admin']);

/** Bearer-token authentication: tokens compared as SHA-256 digests in constant time. */
export class Authenticator {
  private readonly entries: { principal: string; roles: Set<Role>; digest: Buffer }[];

  constructor(private readonly config: Pick<Config, 'tokens'>) {
    this.entries = config.tokens.map((t: TokenEntry) => ({ principal: t.principal, roles: t.roles, digest: digest(t.token) }));
  }

  /** With no tokens configured (loopback only, enforced by config), every caller is the local operator. */
  get open(): boolean {
    return this.entries.length === 0;
  }

  identify(authorization: string | undefined): Principal | undefined {
    if (this.open) return { name: 'loopback', roles: ALL_ROLES };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const d = digest(m[1]!);
    let found: Principal | undefined;
    for (const e of this.entries) {
      // Compare against every entry so timing does not reveal which one matched.
      if (timingSafeEqual(d, e.digest)) found = { name: e.principal, roles: e.roles };
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Role a route requires; routes without one are public (health checks). */
    role?: Role;
  }
}

/** onRequest hook: 401 without a valid token, 403 without the route's role. admin implies every role. */
export function authHook(auth: Authenticator) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const role = req.routeOptions.config?.role;
    if (!role) return;
    const principal = auth.identify(req.headers.authorization);
    if (!principal) {
      await reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer realm="carpus"')
        .send({ error: 'Unauthorized', message: 'a valid bearer token is required' });
      return;
    }
    if (!principal.roles.has(role) && !principal.roles.has('admin')) {
      await reply.code(403).send({ error: 'Forbidden', message: `this token lacks the "${role}" role` });
      return;
    }
    req.principal = principal;
  };
}
