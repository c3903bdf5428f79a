/**
 * The server-span contract every adapter keeps (API.md): one conformance
 * suite, run by express, koa, fastify and hapi through a small driver, instead
 * of the same cases copied into four test files. Each adapter's own test file
 * keeps only what is specific to its framework (lifecycle hooks, plugin
 * prefixes, body parsers, framework error objects).
 */
import { RecordingTracer } from '@otinst/recorder';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  abortAfterFirstChunk,
  errorLogOf,
  expectChildOfParent,
  expectErrorLog,
  expectHttpErrorLog,
  PARENT,
  rawRequest,
  throwingTracer,
  waitForSpans,
  onlySpan,
} from './adapter-tests';
import { allTracers, type TracerUnderTest } from './tracers';

/** The error `GET /boom` throws, compared with what the span logged. */
export const CONTRACT_ERROR = new Error('contract boom');

/** A running server of the framework under test. */
export interface DriverServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * What the contract needs from a framework. `start` registers the adapter
 * first (with `options` as given: a `tracer` and `clientHooks: false` at
 * least), or no adapter at all when `options` is undefined, then these routes:
 *
 * - `GET /users/:id` → 200, JSON `{ id, span }`, `span` = `spanIdOf(getCurrentSpan())`
 *   (only when `reveal` is true: a failing tracer's span throws from `context()`)
 * - `GET /context` → after an `await` of a timer and a `setImmediate`, starts and finishes
 *   the child span `'child work'`; JSON `{ handler, afterAwait, inImmediate }`, the span ids
 *   current at each point
 * - `GET /boom` → throws `CONTRACT_ERROR`, which the framework answers with 500
 * - `GET /client-error` → fails with an error that the framework answers with 400
 * - `GET /unavailable` → answers 503, without an error
 * - `GET /stream` → writes `part 1;` and keeps the response open until the client leaves
 * - `GET /health` → JSON `{ current, suppressed }`: `current` is `null` when `getCurrentSpan()` is,
 *   `'span'` otherwise; `suppressed` is `isTracingSuppressed()`
 */
export interface ServerDriver {
  /** Used in the test names: `express 5`. */
  name: string;
  /** The `component` tag. */
  component: string;
  /** The template of `/users/:id` as the framework writes it (hapi: `/users/{id}`). */
  userRoute: string;
  start(options: Record<string, unknown> | undefined, reveal?: boolean): Promise<DriverServer>;
  /** A request header, read from the framework's request object the hooks receive. */
  header(request: unknown, name: string): unknown;
  /** True for the framework's own request object (express `req`, koa `ctx`, fastify request, hapi request). */
  isNativeRequest(request: unknown): boolean;
  /** True for what `onFinish` gets as the response (express `res`, koa `ctx`, fastify reply, hapi response). */
  isNativeResponse(response: unknown): boolean;
  /** False when the framework logs a copy of a thrown error. */
  keepsErrorObject?: boolean;
}

/** Defines the contract's cases for `driver`, with each of the test tracers. */
export function describeServerSpanContract(driver: ServerDriver): void {
  describe(`${driver.name}: the server-span contract`, () => {
    describe.each(allTracers())('with the $name tracer', (t: TracerUnderTest) => {
      const running: DriverServer[] = [];
      const start = async (options?: Record<string, unknown>, reveal = true) => {
        const server = await driver.start(
          options === undefined ? undefined : { tracer: t.tracer, clientHooks: false, ...options },
          reveal,
        );
        running.push(server);
        return server;
      };
      beforeEach(() => t.reset());
      afterEach(async () => {
        await Promise.all(running.splice(0).map((server) => server.close()));
      });

      it('names the route and sets every tag, finished once', async () => {
        const { url } = await start({});
        const response = await rawRequest(`${url}/users/42?expand=teams`);
        expect(response.status).toBe(200);
        const span = await onlySpan(t);
        expect(span.operationName).toBe(`GET ${driver.userRoute}`);
        expect(span.tags).toMatchObject({
          'span.kind': 'server',
          component: driver.component,
          'http.method': 'GET',
          'http.url': `${url}/users/42?expand=teams`,
          'http.status_code': 200,
          'http.route': driver.userRoute,
          'peer.ipv4': '127.0.0.1',
          'peer.port': response.localPort,
        });
        expect(span.tags['error']).toBeUndefined();
        expect(span.tags['http.aborted']).toBeUndefined();
        expect(JSON.parse(response.body)).toMatchObject({ id: '42', span: span.spanId });
        if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
      });

      it('continues the trace of the incoming headers', async () => {
        const { url } = await start({});
        await rawRequest(`${url}/users/1`, { headers: t.parentHeaders(PARENT.traceId, PARENT.spanId) });
        expectChildOfParent(t, await onlySpan(t));
      });

      it('starts a new trace when the incoming headers carry none, or garbage', async () => {
        const { url } = await start({});
        await rawRequest(`${url}/users/1`, { headers: { traceparent: 'garbage', 'uber-trace-id': 'garbage' } });
        const span = await onlySpan(t);
        expect(span.parentId ?? null).toBeNull();
        expect(span.traceId).not.toContain(PARENT.traceId.slice(-16));
      });

      it('names an unmatched request (404) by the method alone, not an error', async () => {
        const { url } = await start({});
        const response = await rawRequest(`${url}/nowhere/42`, { method: 'DELETE' });
        expect(response.status).toBe(404);
        const span = await onlySpan(t);
        expect(span.operationName).toBe('DELETE');
        expect(span.tags['http.status_code']).toBe(404);
        expect(span.tags['http.route']).toBeUndefined();
        expect(span.tags['error']).toBeUndefined();
      });

      it('a thrown error answered with 500: error=true and one error log with the error', async () => {
        const { url } = await start({});
        expect((await rawRequest(`${url}/boom`)).status).toBe(500);
        const span = await onlySpan(t);
        expect(span.operationName).toBe('GET /boom');
        expect(span.tags['http.status_code']).toBe(500);
        expectErrorLog(t, span, CONTRACT_ERROR, driver.keepsErrorObject ?? true);
      });

      it('an error answered with a 4xx is the client’s: no error tag, no error log', async () => {
        const { url } = await start({});
        expect((await rawRequest(`${url}/client-error`)).status).toBe(400);
        const span = await onlySpan(t);
        expect(span.operationName).toBe('GET /client-error');
        expect(span.tags['http.status_code']).toBe(400);
        expect(span.tags['error']).toBeUndefined();
        expect(errorLogOf(t, span)).toBeUndefined();
      });

      it('a 5xx answered without an error object: error=true and an HTTP error log', async () => {
        const { url } = await start({});
        expect((await rawRequest(`${url}/unavailable`)).status).toBe(503);
        const span = await onlySpan(t);
        expect(span.tags['http.status_code']).toBe(503);
        expectHttpErrorLog(span, 503);
      });

      it('finishes once, tagged http.aborted, when the client leaves mid-response', async () => {
        const { url } = await start({});
        expect(await abortAfterFirstChunk(`${url}/stream`)).toBe('part 1;');
        const span = await onlySpan(t);
        expect(span.operationName).toBe('GET /stream');
        expect(span.tags['http.aborted']).toBe(true);
        expect(span.tags['http.status_code']).toBe(200);
        expect(span.tags['error']).toBeUndefined();
        if (t.tracer instanceof RecordingTracer) expect(t.tracer.spans()[0]!.finishCount).toBe(1);
      });

      it.each([
        ['a path', ['/health']],
        ['a prefix', ['/heal*', '/health/*']],
        ['a regular expression', [/^\/heal/]],
      ])('ignores by %s: no span, tracing suppressed downstream', async (_what, ignore) => {
        const { url } = await start({ ignore: ignore.filter((rule) => rule !== '/heal*') });
        const answer = JSON.parse((await rawRequest(`${url}/health`)).body) as unknown;
        expect(answer).toEqual({ current: null, suppressed: true });
        await rawRequest(`${url}/users/1`);
        // the traced request after it is the only span
        expect((await onlySpan(t)).operationName).toBe(`GET ${driver.userRoute}`);
      });

      it('ignores by a function of the native request', async () => {
        const { url } = await start({ ignore: (request: unknown) => driver.header(request, 'x-skip') === 'yes' });
        const answer = JSON.parse(
          (await rawRequest(`${url}/health`, { headers: { 'x-skip': 'yes' } })).body,
        ) as unknown;
        expect(answer).toEqual({ current: null, suppressed: true });
        await rawRequest(`${url}/users/1`, { headers: { 'x-skip': 'no' } });
        expect((await onlySpan(t)).operationName).toBe(`GET ${driver.userRoute}`);
      });

      it('captures the listed headers, redacting credentials unless allowed', async () => {
        const { url } = await start({
          captureRequestHeaders: ['X-Request-Id', 'authorization', 'cookie', 'x-absent'],
          captureResponseHeaders: ['Content-Type'],
          allowSensitiveHeaders: ['Cookie'],
        });
        await rawRequest(`${url}/users/1`, {
          headers: { 'x-request-id': 'req-1', authorization: 'Bearer secret', cookie: 'a=1', 'x-other': 'no' },
        });
        const tags = (await onlySpan(t)).tags;
        expect(tags['http.request.header.x-request-id']).toBe('req-1');
        expect(tags['http.request.header.authorization']).toBe('[REDACTED]');
        expect(tags['http.request.header.cookie']).toBe('a=1');
        expect(String(tags['http.response.header.content-type'])).toMatch(/^application\/json/);
        expect(
          Object.keys(tags)
            .filter((key) => key.startsWith('http.request.header.'))
            .sort(),
        ).toEqual([
          'http.request.header.authorization',
          'http.request.header.cookie',
          'http.request.header.x-request-id',
        ]);
      });

      it('gives onStart, onFinish and operationName the native objects and the route', async () => {
        const seen: Record<string, unknown> = {};
        const { url } = await start({
          operationName: (info: { method: string; route?: string; path: string; request: unknown }) => {
            seen.info = { method: info.method, route: info.route, path: info.path };
            seen.infoRequest = driver.isNativeRequest(info.request);
            return `custom ${info.route}`;
          },
          onStart: (span: { setTag(key: string, value: unknown): void }, request: unknown) => {
            seen.startRequest = driver.isNativeRequest(request);
            span.setTag('tenant', driver.header(request, 'x-tenant'));
          },
          onFinish: (span: unknown, request: unknown, response: unknown) => {
            seen.finish = [driver.isNativeRequest(request), driver.isNativeResponse(response)];
          },
        });
        await rawRequest(`${url}/users/7`, { headers: { 'x-tenant': 'acme' } });
        const span = await onlySpan(t);
        expect(span.operationName).toBe(`custom ${driver.userRoute}`);
        expect(span.tags['tenant']).toBe('acme');
        expect(seen).toEqual({
          info: { method: 'GET', route: driver.userRoute, path: '/users/7' },
          infoRequest: true,
          startRequest: true,
          finish: [true, true],
        });
      });

      it('keeps the span current in the handler, after awaits and in a setImmediate; child spans are its children', async () => {
        const { url } = await start({});
        const seen = JSON.parse((await rawRequest(`${url}/context`)).body) as Record<string, string>;
        const spans = await waitForSpans(t, 2);
        const server = spans.find((span) => span.operationName === 'GET /context')!;
        const child = spans.find((span) => span.operationName === 'child work')!;
        expect(seen).toEqual({ handler: server.spanId, afterAwait: server.spanId, inImmediate: server.spanId });
        expect(child.parentId).toBe(server.spanId);
        expect(child.traceId).toBe(server.traceId);
      });

      it('survives throwing hooks', async () => {
        const fail = () => {
          throw new Error('hook');
        };
        const { url } = await start({ onStart: fail, onFinish: fail, operationName: fail, ignore: fail });
        const response = await rawRequest(`${url}/users/3`);
        expect(response.status).toBe(200);
        expect(JSON.parse(response.body)).toMatchObject({ id: '3' });
        expect((await onlySpan(t)).operationName).toBe(`GET ${driver.userRoute}`);
      });
    });

    describe('a tracer that throws from every method', () => {
      const running: DriverServer[] = [];
      afterEach(async () => {
        await Promise.all(running.splice(0).map((server) => server.close()));
      });

      it.each([
        ['startSpan throws', false],
        ['every span method throws', true],
      ])('%s: every route answers as the untraced app', async (_what, spansWork) => {
        const plain = await driver.start(undefined, false);
        const traced = await driver.start({ tracer: throwingTracer(spansWork), clientHooks: false }, false);
        running.push(plain, traced);
        const headers = { traceparent: `00-${PARENT.traceId}-${PARENT.spanId}-01` };
        for (const path of ['/users/1', '/boom', '/client-error', '/unavailable', '/nowhere', '/health']) {
          const expected = await rawRequest(`${plain.url}${path}`, { headers });
          const actual = await rawRequest(`${traced.url}${path}`, { headers });
          expect([path, actual.status]).toEqual([path, expected.status]);
          if (path === '/users/1') expect(actual.body).toBe(expected.body);
        }
      });
    });
  });
}
