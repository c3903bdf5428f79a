/**
 * Secrets never leave the process (issue 12): credentials and sensitive query
 * values planted in real requests to each adapter (over sockets, absolute-form
 * targets with any scheme case, hostile Host headers) and in the handler's
 * outgoing `http` and `fetch` calls. Every tag and every log field of every
 * recorded span, and every debug line, is searched for them: zero hits.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configure, resetConfig, setDebugLogger, uninstallPatches } from '@otinst/core';
import { recorderTracer } from '../support/tracers';
import type { FinishedSpan } from '../support/tracers';
import { ADAPTERS, baseRoutes, buildApp, httpGet, rawExchange, startEchoServer } from './support';
import type { App, EchoServer, Route } from './support';

/** One distinct secret per planted place, so a hit says where it came from. */
function secret(label: string): string {
  return `s3cret-${label}-${randomBytes(6).toString('hex')}`;
}

const S = {
  password: secret('password'),
  accessToken: secret('access-token'),
  clientSecret: secret('client-secret'),
  resetToken: secret('reset-token'),
  amzCredential: secret('amz-credential'),
  amzToken: secret('amz-token'),
  amzSignature: secret('amz-signature'),
  signature: secret('signature'),
  apiKey: secret('api-key'),
  userinfo: secret('userinfo'),
  upperUserinfo: secret('upper-userinfo'),
  hostHeader: secret('host-header'),
  outPassword: secret('out-password'),
  outUserinfo: secret('out-userinfo'),
  fetchToken: secret('fetch-token'),
  fetchSignature: secret('fetch-signature'),
  custom: secret('custom'),
};
const SECRETS = Object.values(S);

/** Everything a span carries, as text: tags and log fields, errors with message and stack. */
function spanText(span: FinishedSpan): string {
  const seen = new Set<unknown>();
  const walk = (value: unknown): string => {
    if (value === null || typeof value !== 'object') return String(value);
    if (seen.has(value)) return '';
    seen.add(value);
    if (value instanceof Error) return `${value.name} ${value.message} ${value.stack ?? ''}`;
    return Object.entries(value as Record<string, unknown>)
      .map(([key, inner]) => `${key}=${walk(inner)}`)
      .join(' ');
  };
  return `${span.operationName} ${walk(span.tags)} ${walk(span.logs)}`;
}

const t = recorderTracer();
let echo: EchoServer;
const debugLines: string[] = [];

function outgoingRoute(): Route {
  return {
    method: 'GET',
    path: '/call',
    handler: async () => {
      // the http hook: credentials and a sensitive query value in the URL it is given
      await httpGet(`http://user:${S.outUserinfo}@127.0.0.1:${echo.port}/out?password=${S.outPassword}&page=2`);
      // the fetch hook (fetch refuses credentials in a URL itself)
      await fetch(`${echo.url}/out?access_token=${S.fetchToken}&X-Goog-Signature=${S.fetchSignature}&q=ok`);
      return { status: 200, json: { ok: true } };
    },
  };
}

beforeAll(async () => {
  echo = await startEchoServer();
  setDebugLogger((message, error) =>
    debugLines.push(`${message} ${error instanceof Error ? error.stack : String(error)}`),
  );
  configure({ sensitiveQueryParameters: ['x-my-session'] });
});

afterAll(async () => {
  await echo.close();
  setDebugLogger(undefined);
  resetConfig();
  uninstallPatches();
});

afterEach(() => t.reset());

describe.each(ADAPTERS)('%s: no planted secret reaches a span or the debug log', (adapter) => {
  let app: App;

  beforeAll(async () => {
    app = await buildApp(adapter, [...baseRoutes(), outgoingRoute()], t.tracer);
  });
  afterAll(() => app.close());

  it('sensitive query values on the server span become REDACTED, names and other values kept', async () => {
    const query =
      `password=${S.password}&Access_Token=${S.accessToken}&client_secret=${S.clientSecret}` +
      `&reset_token=${S.resetToken}&X-Amz-Credential=${S.amzCredential}&X-Amz-Security-Token=${S.amzToken}` +
      `&X-Amz-Signature=${S.amzSignature}&Signature=${S.signature}&api_key=${S.apiKey}` +
      `&X-My-Session=${S.custom}&page=3`;
    const reply = await httpGet(`${app.url}/users/7?${query}`);
    expect(reply.status).toBe(200);
    const [span] = t.spans();
    expect(span!.tags['http.url']).toBe(
      `${app.url}/users/7?password=REDACTED&Access_Token=REDACTED&client_secret=REDACTED&reset_token=REDACTED` +
        '&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&Signature=REDACTED' +
        '&api_key=REDACTED&X-My-Session=REDACTED&page=3',
    );
  });

  it('an absolute-form target with an upper-case scheme loses its credentials and gives a well-formed URL', async () => {
    const head =
      `GET HTTP://user:${S.upperUserinfo}@127.0.0.1:${app.port}/users/8?password=${S.password} HTTP/1.1\r\n` +
      `Host: 127.0.0.1:${app.port}\r\nConnection: close\r\n\r\n`;
    await rawExchange(app.port, Buffer.from(head));
    const spans = t.spans();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.tags['http.url']).toBe(`http://127.0.0.1:${app.port}/users/8?password=REDACTED`);
  });

  it('a Host header with a path and query is not copied into http.url', async () => {
    const head = `GET /users/9 HTTP/1.1\r\nHost: admin.internal/admin/delete?token=${S.hostHeader}\r\nConnection: close\r\n\r\n`;
    await rawExchange(app.port, Buffer.from(head));
    const spans = t.spans();
    // a framework may refuse the request (400) before any hook: then there is no span, and nothing leaked
    for (const span of spans) expect(span.tags['http.url']).toBe(`http://127.0.0.1:${app.port}/users/9`);
  });

  it('outgoing http and fetch calls: credentials stripped, sensitive values REDACTED', async () => {
    const reply = await httpGet(`${app.url}/call`);
    expect(reply.status).toBe(200);
    const urls = t
      .spans()
      .filter((span) => span.tags['span.kind'] === 'client')
      .map((span) => [span.tags['component'], span.tags['http.url']]);
    expect(urls).toEqual([
      ['http', `http://127.0.0.1:${echo.port}/out?password=REDACTED&page=2`],
      ['fetch', `http://127.0.0.1:${echo.port}/out?access_token=REDACTED&X-Goog-Signature=REDACTED&q=ok`],
    ]);
  });

  it('zero hits in every tag and log of every span and in every debug line', async () => {
    // all the requests above again, collected together
    await httpGet(`${app.url}/users/7?password=${S.password}&access_token=${S.accessToken}`);
    await httpGet(`${app.url}/fail?client_secret=${S.clientSecret}`);
    await httpGet(`${app.url}/call`);
    await rawExchange(
      app.port,
      Buffer.from(
        `GET hTTp://u:${S.upperUserinfo}@x.test/users/1 HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = t.spans().map(spanText).join('\n') + debugLines.join('\n');
    expect(t.spans().length).toBeGreaterThanOrEqual(6);
    expect(SECRETS.filter((value) => text.includes(value))).toEqual([]);
  });
});

describe('dropQueryString', () => {
  it('records no query at all, on server and client spans', async () => {
    configure({ dropQueryString: true });
    const app = await buildApp('express', [...baseRoutes(), outgoingRoute()], t.tracer);
    try {
      await httpGet(`${app.url}/call?page=1&password=${S.password}`);
      const urls = t.spans().map((span) => span.tags['http.url']);
      expect(urls.sort()).toEqual(
        [`${app.url}/call`, `http://127.0.0.1:${echo.port}/out`, `http://127.0.0.1:${echo.port}/out`].sort(),
      );
    } finally {
      configure({ dropQueryString: false });
      await app.close();
    }
  });
});
