/**
 * A global XMLHttpRequest for Node 20, for dicomweb-client in tests: `xmlhttprequest-ssl`
 * (maintained, supports responseType 'arraybuffer') behind a thin proxy that fixes the two
 * places where it differs from a browser's XMLHttpRequest and that dicomweb-client hits:
 *  - send(ArrayBuffer | ArrayBufferView): it hands the value to http's write(), which takes
 *    only Buffer/Uint8Array/string (dicomweb-client's storeInstances sends an ArrayBuffer);
 *  - responseType 'json' with an empty or invalid body: it throws from inside the response
 *    handler (an uncaught exception) where a browser sets `response` to null (a QIDO-RS
 *    answer of 204 No Content has an empty body).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Xhr = Record<string | symbol, unknown> & {
  responseType: string;
  responseText: string | null;
  response: unknown;
  send(data?: unknown): void;
};

function toSendable(data: unknown): unknown {
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return data;
}

export function makeXhrClass(): new () => unknown {
  const Base = require('xmlhttprequest-ssl') as new (opts?: object) => Xhr;
  function NodeXMLHttpRequest(this: unknown): unknown {
    const xhr = new Base();
    let wantsJson = false;
    return new Proxy(xhr, {
      get(target, prop) {
        if (prop === 'responseType') return wantsJson ? 'json' : target.responseType;
        if (prop === 'response' && wantsJson) {
          const text = target.responseText;
          if (!text) return null;
          try {
            return JSON.parse(text);
          } catch {
            return null;
          }
        }
        if (prop === 'send') return (data?: unknown) => target.send(toSendable(data));
        const value = target[prop];
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
      set(target, prop, value) {
        if (prop === 'responseType') {
          wantsJson = value === 'json';
          target.responseType = wantsJson ? 'text' : (value as string);
          return true;
        }
        target[prop] = value;
        return true;
      },
    });
  }
  return NodeXMLHttpRequest as unknown as new () => unknown;
}

/** Installs the global XMLHttpRequest once (no-op where one exists, e.g. in a browser). */
export function installXMLHttpRequest(): void {
  const g = globalThis as { XMLHttpRequest?: unknown };
  if (!g.XMLHttpRequest) g.XMLHttpRequest = makeXhrClass();
}
