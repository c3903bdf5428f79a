/**
 * HTTP/2 (issue 11): a stream the client resets mid-response was recorded as a
 * complete 200 (`writableFinished` is true on a reset `Http2ServerResponse`),
 * and `http.url` used the local address instead of `:authority`. Each adapter
 * on the server users build, with a real `http2.connect` client.
 *
 * express is not here: express 4 and 5 replace the request's prototype with
 * `http.IncomingMessage`'s, and an `Http2ServerRequest` then fails inside
 * express itself (expressjs/express#3388); docs/reliability.md says so.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import Hapi from '@hapi/hapi';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import express from 'express';
import { tracingMiddleware as expressTracing } from '@otinst/express';
import { uninstallPatches } from '@otinst/core';
import { tracingPlugin as fastifyTracing } from '@otinst/fastify';
import { tracingPlugin as hapiTracing } from '@otinst/hapi';
import { tracingMiddleware as koaTracing } from '@otinst/koa';
import { recorderTracer } from '../support/tracers';

const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url));
const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url));

const t = recorderTracer();

interface Running {
  /** `http://localhost:port` or `https://localhost:port`: the client's `:authority` is `localhost:port`. */
  origin: string;
  close(): Promise<void>;
}

/** Serves `/ok` (a complete reply) and `/stream` (a first chunk, then nothing until the stream closes). */
type Driver = (onFinish: () => void) => Promise<Running>;

function portOf(server: { address(): unknown }): number {
  return (server.address() as AddressInfo).port;
}

/** A body that sends one chunk and ends only when the response closes. */
function heldStream(onClose: (fn: () => void) => void): PassThrough {
  const body = new PassThrough();
  body.write('first chunk\n');
  onClose(() => body.end());
  return body;
}

async function listenSecure(
  handler: Parameters<typeof http2.createSecureServer>[1],
): Promise<{ server: http2.Http2SecureServer; origin: string }> {
  const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `https://localhost:${portOf(server)}` };
}

function closeServer(server: http2.Http2SecureServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function koaDriver(Koa: typeof Koa3): Driver {
  return async (onFinish) => {
    const app = new Koa();
    // the reset stream ends koa's body pipe with "Premature close", which koa would print
    app.silent = true;
    app.use(koaTracing(t.tracer, { clientHooks: false, onFinish }));
    app.use((ctx) => {
      if (ctx.path === '/stream') ctx.body = heldStream((end) => ctx.res.once('close', end));
      else ctx.body = 'ok';
    });
    const { server, origin } = await listenSecure(app.callback() as never);
    return { origin, close: () => closeServer(server) };
  };
}

const drivers: [string, Driver][] = [
  [
    'fastify (http2: true)',
    async (onFinish) => {
      const app = Fastify({ http2: true });
      await app.register(fastifyTracing, { tracer: t.tracer, clientHooks: false, onFinish });
      app.get('/ok', async () => 'ok');
      app.get('/stream', (_request, reply) => reply.send(heldStream((end) => reply.raw.once('close', end))));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { origin: `http://localhost:${portOf(app.server)}`, close: () => app.close() };
    },
  ],
  ['koa 3 (http2.createSecureServer, allowHTTP1)', koaDriver(Koa3)],
  ['koa 2 (http2.createSecureServer, allowHTTP1)', koaDriver(Koa2 as unknown as typeof Koa3)],
  [
    'hapi (listener: http2.createSecureServer)',
    async (onFinish) => {
      const listener = http2.createSecureServer({ key, cert, allowHTTP1: true });
      const server = Hapi.server({ listener: listener as never, tls: true, host: '127.0.0.1', port: 0 });
      await server.register({ plugin: hapiTracing, options: { tracer: t.tracer, clientHooks: false, onFinish } });
      server.route({ method: 'GET', path: '/ok', handler: () => 'ok' });
      server.route({
        method: 'GET',
        path: '/stream',
        handler: (request, h) => h.response(heldStream((end) => request.raw.res.once('close', end))).type('text/plain'),
      });
      await server.start();
      return { origin: `https://localhost:${server.info.port}`, close: () => server.stop() };
    },
  ],
];

function connect(origin: string): http2.ClientHttp2Session {
  const session = http2.connect(origin, { ca: cert });
  session.on('error', () => {});
  return session;
}

/** A complete GET over HTTP/2; resolves with the status once the stream closed. */
function get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const stream = session.request({ ':path': path });
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('error', reject);
    stream.resume();
    stream.on('close', () => resolve(status));
  });
}

/** Resets the stream with CANCEL as soon as the first body chunk arrives. */
function cancelAfterFirstChunk(session: http2.ClientHttp2Session, path: string): Promise<void> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': path });
    stream.on('error', () => {});
    stream.once('data', () => stream.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('close', () => resolve());
  });
}

describe.each(drivers)('%s', (_name, driver) => {
  let running: Running | undefined;
  let session: http2.ClientHttp2Session | undefined;
  beforeEach(() => t.reset());
  afterEach(async () => {
    session?.destroy();
    await running?.close();
    uninstallPatches();
  });

  function finished(): { onFinish: () => void; done: Promise<void> } {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    return { onFinish: () => setImmediate(resolve), done };
  }

  it('records a stream the client reset mid-response as aborted (was: a complete 200)', async () => {
    const seen = finished();
    running = await driver(seen.onFinish);
    session = connect(running.origin);
    await cancelAfterFirstChunk(session, '/stream');
    await seen.done;
    const [span] = t.spans();
    expect(t.spans()).toHaveLength(1);
    expect(span!.tags['http.status_code']).toBe(200);
    expect(span!.tags['http.aborted']).toBe(true);
  });

  it('tags http.url with the :authority the client used (was: the local address)', async () => {
    const seen = finished();
    running = await driver(seen.onFinish);
    session = connect(running.origin);
    expect(await get(session, '/ok?x=1')).toBe(200);
    await seen.done;
    const [span] = t.spans();
    expect(t.spans()).toHaveLength(1);
    expect(span!.tags['http.url']).toBe(`${running.origin}/ok?x=1`);
    expect(span!.tags['http.status_code']).toBe(200);
    expect(span!.tags).not.toHaveProperty('http.aborted');
  });
});

describe('express on http2.createSecureServer with allowHTTP1 (HTTP/1.1 clients)', () => {
  afterEach(() => uninstallPatches());

  it('traces an HTTP/1.1 request as usual, with the Host the client sent', async () => {
    t.reset();
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const app = express();
    app.use(expressTracing(t.tracer, { clientHooks: false, onFinish: () => setImmediate(resolve) }));
    app.get('/users/:id', (_req, res) => void res.send('ok'));
    const { server, origin } = await listenSecure(app as never);
    try {
      const status = await new Promise<number>((ok, fail) => {
        https
          .get(`${origin}/users/1`, { ca: cert, agent: false }, (response) => {
            response.resume();
            response.on('end', () => ok(response.statusCode!));
          })
          .on('error', fail);
      });
      expect(status).toBe(200);
      await done;
      const [span] = t.spans();
      expect(t.spans()).toHaveLength(1);
      expect(span!.operationName).toBe('GET /users/:id');
      expect(span!.tags['http.url']).toBe(`${origin}/users/1`);
    } finally {
      await closeServer(server);
    }
  });
});
