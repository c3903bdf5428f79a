import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Span } from 'opentracing';
import { installedPatches, NodeRequestWrapper, setDebugLogger } from '@otinst/core';
import {
  finishWithResponse,
  isIgnored,
  readNodeResponseHeader,
  resolveOptions,
  ServerSpan,
  setupTracing,
  startServerSpan,
} from '@otinst/core/adapter';
import type { RequestWrapper, TracingOptions } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';

const PKG = '@otinst/express';
const tracer = new RecordingTracer({ serviceName: 'server' });
const messages: string[] = [];

afterEach(() => {
  tracer.reset();
  messages.length = 0;
  setDebugLogger(undefined);
});

function captureLog(): void {
  setDebugLogger((message) => messages.push(message));
}

function wrapper(overrides: Partial<RequestWrapper> = {}): RequestWrapper {
  return {
    method: 'GET',
    fullUrl: 'http://svc.local/users/7?x=1',
    headers: {},
    remoteIp: '10.1.2.3',
    remotePort: 5555,
    operation: 'GET',
    path: '/users/7',
    ...overrides,
  };
}

function options(extra: TracingOptions<never, never> = {}) {
  return resolveOptions(PKG, 'express', { tracer, clientHooks: false, ...extra });
}

function start(extra: TracingOptions<never, never> = {}, req: unknown = { native: true }, w = wrapper()): ServerSpan {
  const handle = startServerSpan(options(extra), w, req);
  expect(handle).toBeInstanceOf(ServerSpan);
  return handle!;
}

function only() {
  const spans = tracer.spans();
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

describe('startServerSpan / ServerSpan lifecycle', () => {
  it('a request without a route is named after its method and carries the start tags', () => {
    const handle = start();
    expect(handle.finished).toBe(false);
    expect(tracer.store.unfinished()).toHaveLength(1);
    handle.finish(200, {});
    expect(handle.finished).toBe(true);
    const span = only();
    expect(span.operationName).toBe('GET');
    expect(span.parentId).toBeUndefined();
    expect(span.tags).toEqual({
      'span.kind': 'server',
      component: 'express',
      'http.method': 'GET',
      'http.url': 'http://svc.local/users/7?x=1',
      'peer.ipv4': '10.1.2.3',
      'peer.port': 5555,
      'http.status_code': 200,
    });
    expect(tracer.store.unfinished()).toEqual([]);
  });

  it('a matched route names the span and is tagged http.route; the last setRoute wins, an empty one is ignored', () => {
    const handle = start();
    handle.setRoute('/users');
    handle.setRoute('/users/:id');
    handle.setRoute('');
    handle.setRoute(undefined);
    expect(handle.route).toBe('/users/:id');
    handle.finish(200, {});
    const span = only();
    expect(span.operationName).toBe('GET /users/:id');
    expect(span.tags['http.route']).toBe('/users/:id');
  });

  it('a route known at start (fastify) is used', () => {
    const handle = startServerSpan(options(), wrapper({ method: 'POST' }), {}, '/orders');
    handle!.finish(201, {});
    expect(only().operationName).toBe('POST /orders');
  });

  it('continues the trace found in the headers', () => {
    const headers = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    start({}, {}, wrapper({ headers })).finish(200, {});
    const span = only();
    expect(span.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span.parentId).toBe('00f067aa0ba902b7');
  });

  it('tags peer.ipv6 for an IPv6 client, and the caller name as peer.service', () => {
    start({}, {}, wrapper({ remoteIp: '2001:db8::1', callerName: 'billing' })).finish(200, {});
    const span = only();
    expect(span.tags['peer.ipv6']).toBe('2001:db8::1');
    expect(span.tags['peer.ipv4']).toBeUndefined();
    expect(span.tags['peer.service']).toBe('billing');
  });

  it('the operationName hook names the span from { method, route, path, request }', () => {
    const req = { id: 'native' };
    const infos: unknown[] = [];
    const handle = start(
      {
        operationName: (info) => {
          infos.push(info);
          return `custom ${String(info.method)} ${String(info.route)}`;
        },
      },
      req,
    );
    handle.setRoute('/users/:id');
    handle.finish(200, {});
    expect(only().operationName).toBe('custom GET /users/:id');
    expect(infos).toEqual([{ method: 'GET', route: '/users/:id', path: '/users/7', request: req }]);
    expect((infos[0] as { request: unknown }).request).toBe(req);
  });

  it('an operationName hook that throws, or returns no usable name, falls back to the default (logged once)', () => {
    captureLog();
    const throwing = {
      operationName: () => {
        throw new Error('naming failed');
      },
    };
    for (let i = 0; i < 2; i++) {
      const handle = start(throwing);
      handle.setRoute('/a');
      handle.finish(200, {});
    }
    for (const bad of ['', 42, undefined]) {
      start({ operationName: () => bad as never }).finish(200, {});
    }
    expect(tracer.spans().map((s) => s.operationName)).toEqual(['GET /a', 'GET /a', 'GET', 'GET', 'GET']);
    expect(messages).toEqual(['operationName hook failed']);
  });

  it('onStart and onFinish receive the span and the native request / response', () => {
    const req = { id: 'req' };
    const res = { id: 'res' };
    const calls: unknown[][] = [];
    const handle = start(
      {
        onStart: (span: Span, request: unknown) => {
          calls.push(['start', span, request]);
          span.setTag('user.tag', 'from-onStart');
        },
        onFinish: (span: Span, request: unknown, response: unknown) => calls.push(['finish', span, request, response]),
      } as TracingOptions<never, never>,
      req,
    );
    handle.finish(200, res);
    expect(calls).toEqual([
      ['start', handle.span, req],
      ['finish', handle.span, req, res],
    ]);
    expect(only().tags['user.tag']).toBe('from-onStart');
  });

  it('throwing onStart and onFinish are logged once each and the span still finishes normally', () => {
    captureLog();
    const hooks = {
      onStart: () => {
        throw new Error('start hook');
      },
      onFinish: () => {
        throw new Error('finish hook');
      },
    };
    for (let i = 0; i < 3; i++) start(hooks).finish(204, {});
    const spans = tracer.spans();
    expect(spans).toHaveLength(3);
    for (const span of spans) {
      expect(span.finishCount).toBe(1);
      expect(span.tags['http.status_code']).toBe(204);
      expect(span.tags['error']).toBeUndefined();
    }
    expect(messages).toEqual(['onStart hook failed', 'onFinish hook failed']);
  });

  it('finishes exactly once: a second finish is a no-op', () => {
    let onFinishCalls = 0;
    const handle = start({ onFinish: () => void onFinishCalls++ });
    handle.finish(200, {});
    handle.finish(500, {}, undefined, true);
    const span = only();
    expect(span.finishCount).toBe(1);
    expect(span.tags['http.status_code']).toBe(200);
    expect(span.tags['error']).toBeUndefined();
    expect(span.tags['http.aborted']).toBeUndefined();
    expect(onFinishCalls).toBe(1);
  });

  it('a 5xx status sets error=true and logs an HttpError; a 4xx does not', () => {
    start().finish(503, {});
    start().finish(404, {});
    const [failed, notFound] = tracer.spans();
    expect(failed!.tags['error']).toBe(true);
    expect(failed!.logs.map((log) => log.fields)).toEqual([
      { event: 'error', 'error.kind': 'HttpError', message: 'HTTP 503' },
    ]);
    expect(notFound!.tags['error']).toBeUndefined();
    expect(notFound!.logs).toEqual([]);
  });

  it('no status (nothing was sent) gives no status tag; an aborted request is tagged http.aborted', () => {
    start().finish(undefined, {}, undefined, true);
    const span = only();
    expect(span.tags).not.toHaveProperty('http.status_code');
    expect(span.tags['http.aborted']).toBe(true);
  });

  it('recordError logs an error once however many layers report it, and the 5xx adds no second log', () => {
    const handle = start();
    const error = new TypeError('bad input');
    handle.recordError(error);
    handle.recordError(error);
    handle.recordError(undefined);
    expect(handle.hasError).toBe(true);
    handle.finish(500, {});
    handle.recordError(new Error('after finish'));
    const span = only();
    expect(span.tags['error']).toBe(true);
    expect(span.logs).toHaveLength(1);
    expect(span.logs[0]!.fields).toEqual({
      event: 'error',
      'error.kind': 'TypeError',
      'error.object': error,
      message: 'bad input',
      stack: error.stack,
    });
  });

  it('an error answered with a 4xx is the client error: no error tag, no error log', () => {
    const handle = start();
    handle.recordError(new Error('not found'));
    handle.finish(404, {});
    const span = only();
    expect(span.tags['http.status_code']).toBe(404);
    expect(span.tags['error']).toBeUndefined();
    expect(span.logs).toEqual([]);
  });

  it('an error after which no response went out marks the span, logged at the time it was reported', async () => {
    const handle = start();
    const error = new Error('socket hang up');
    const before = Date.now();
    handle.recordError(error);
    await new Promise((resolve) => setTimeout(resolve, 20));
    handle.finish(undefined, {}, undefined, true);
    const span = only();
    expect(span.tags['error']).toBe(true);
    expect(span.tags['http.status_code']).toBeUndefined();
    expect(span.logs).toHaveLength(1);
    expect(span.logs[0]!.fields['error.object']).toBe(error);
    expect(span.logs[0]!.timestamp).toBeGreaterThanOrEqual(before);
    expect(span.logs[0]!.timestamp).toBeLessThan(span.finishTime - 10);
  });

  it('an error that went out as a cut-off 200 (aborted) marks the span', () => {
    const handle = start();
    handle.recordError(new Error('stream broke'));
    handle.finish(200, {}, undefined, true);
    expect(only().tags['error']).toBe(true);
  });

  it('a thrown non-Error value is recorded too', () => {
    const handle = start();
    handle.recordError('plain string');
    handle.finish(500, {});
    expect(only().logs[0]!.fields).toEqual({
      event: 'error',
      'error.kind': 'string',
      'error.object': 'plain string',
      message: 'plain string',
    });
  });

  describe('header capture', () => {
    const headers = {
      'x-request-id': 'r-1',
      authorization: 'Bearer secret',
      cookie: 'session=secret',
      'proxy-authorization': 'Basic secret',
      'x-multi': ['a', 'b'],
      'x-not-listed': 'nope',
    };

    it('records only the listed request headers, case-insensitively, with credentials redacted', () => {
      start(
        {
          captureRequestHeaders: [
            'X-Request-Id',
            'Authorization',
            'cookie',
            'proxy-authorization',
            'x-multi',
            'x-absent',
          ],
        },
        {},
        wrapper({ headers }),
      ).finish(200, {});
      const captured = Object.fromEntries(
        Object.entries(only().tags).filter(([key]) => key.startsWith('http.request.header.')),
      );
      expect(captured).toEqual({
        'http.request.header.x-request-id': 'r-1',
        'http.request.header.authorization': '[REDACTED]',
        'http.request.header.cookie': '[REDACTED]',
        'http.request.header.proxy-authorization': '[REDACTED]',
        'http.request.header.x-multi': 'a, b',
      });
    });

    it('allowSensitiveHeaders lets a credential header through', () => {
      start(
        { captureRequestHeaders: ['authorization', 'cookie'], allowSensitiveHeaders: ['Cookie'] },
        {},
        wrapper({ headers }),
      ).finish(200, {});
      const tags = only().tags;
      expect(tags['http.request.header.cookie']).toBe('session=secret');
      expect(tags['http.request.header.authorization']).toBe('[REDACTED]');
    });

    it('records the listed response headers through the reader, set-cookie redacted', () => {
      const response = { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'], 'content-length': 42 };
      const reader = (res: unknown, name: string) => (res as Record<string, unknown>)[name];
      start({ captureResponseHeaders: ['Content-Type', 'set-cookie', 'content-length', 'x-absent'] }).finish(
        200,
        response,
        reader,
      );
      const captured = Object.fromEntries(
        Object.entries(only().tags).filter(([key]) => key.startsWith('http.response.header.')),
      );
      expect(captured).toEqual({
        'http.response.header.content-type': 'application/json',
        'http.response.header.set-cookie': '[REDACTED]',
        'http.response.header.content-length': '42',
      });
    });

    it('no header is captured unless listed, and a throwing reader is harmless', () => {
      captureLog();
      start({}, {}, wrapper({ headers })).finish(200, {}, () => 'x');
      expect(Object.keys(only().tags).some((key) => key.includes('.header.'))).toBe(false);
      tracer.reset();
      start({ captureResponseHeaders: ['x-a'] }).finish(200, {}, () => {
        throw new Error('reader');
      });
      expect(only().finishCount).toBe(1);
      expect(messages).toEqual(['reading a header failed']);
    });
  });

  it('a RequestWrapper whose getters throw gives no span, never an exception (logged once)', () => {
    captureLog();
    const broken = wrapper();
    for (const getter of ['headers', 'fullUrl', 'path', 'method'] as const) {
      const bad = Object.defineProperty({ ...broken }, getter, {
        get() {
          throw new Error(`${getter} getter`);
        },
      });
      expect(startServerSpan(options(), bad, {})).toBeNull();
    }
    // one line per distinct failure; a span started before the failing getter is not left open
    expect(messages).toEqual(Array(4).fill('starting the server span failed'));
    expect(tracer.store.unfinished()).toEqual([]);
  });
});

describe('finishWithResponse over a real Node server', () => {
  async function serve(
    handle: (req: IncomingMessage, res: ServerResponse) => void,
    send: (port: number) => Promise<void>,
  ): Promise<void> {
    const server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await send((server.address() as AddressInfo).port);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }
  const resolved = () => options({ captureResponseHeaders: ['x-served-by'] });

  it('finishes once, with the status sent and the response headers read from the Node response', async () => {
    let finishedSpan: Promise<void> | undefined;
    await serve(
      (req, res) => {
        const handle = startServerSpan(resolved(), NodeRequestWrapper.fromIncomingMessage(req), req)!;
        handle.setRoute('/things/:id');
        finishedSpan = new Promise((resolve) => res.once('close', () => setImmediate(resolve)));
        finishWithResponse(handle, res, { readHeader: readNodeResponseHeader });
        res.setHeader('x-served-by', 'node-1');
        res.statusCode = 502;
        res.end('bad gateway');
      },
      async (port) => {
        const response = await fetch(`http://127.0.0.1:${port}/things/9`);
        await response.text();
      },
    );
    await finishedSpan;
    const span = only();
    expect(span.operationName).toBe('GET /things/:id');
    expect(span.finishCount).toBe(1);
    expect(span.tags).toMatchObject({
      'http.status_code': 502,
      'http.route': '/things/:id',
      error: true,
      'http.response.header.x-served-by': 'node-1',
    });
    expect(span.tags['http.aborted']).toBeUndefined();
  });

  it('a client that goes away before the response: finished once, http.aborted=true, no status', async () => {
    let closed!: () => void;
    const done = new Promise<void>((resolve) => (closed = resolve));
    await serve(
      (req, res) => {
        const handle = startServerSpan(resolved(), NodeRequestWrapper.fromIncomingMessage(req), req)!;
        finishWithResponse(handle, res);
        res.once('close', () => setImmediate(closed));
        // never answers: the client leaves
      },
      async (port) => {
        const socket = connect({ host: '127.0.0.1', port }, () => {
          socket.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
          setTimeout(() => socket.destroy(), 20);
        });
        await done;
      },
    );
    const span = only();
    expect(span.finishCount).toBe(1);
    expect(span.tags['http.aborted']).toBe(true);
    expect(span.tags).not.toHaveProperty('http.status_code');
    expect(span.tags['error']).toBeUndefined();
  });
});

describe('ignore rules (compiled once by resolveOptions)', () => {
  const ignored = (rules: TracingOptions<never, never>['ignore'], path: string, req: unknown = {}) =>
    isIgnored(options({ ignore: rules }), path, req);

  it('no rules: isIgnored is null (one comparison per request)', () => {
    expect(options().isIgnored).toBeNull();
    expect(options({ ignore: [] }).isIgnored).toBeNull();
    expect(ignored(undefined, '/health')).toBe(false);
  });

  it('an exact path matches only itself', () => {
    expect(ignored(['/health'], '/health')).toBe(true);
    expect(ignored(['/health'], '/health/deep')).toBe(false);
    expect(ignored(['/health'], '/healthz')).toBe(false);
    expect(ignored(['/health'], '/')).toBe(false);
  });

  it('a path ending in /* matches the prefix and the bare directory, not a longer name', () => {
    const rules = ['/static/*'];
    expect(ignored(rules, '/static/app.js')).toBe(true);
    expect(ignored(rules, '/static/a/b/c.css')).toBe(true);
    expect(ignored(rules, '/static/')).toBe(true);
    expect(ignored(rules, '/static')).toBe(true);
    expect(ignored(rules, '/staticfoo')).toBe(false);
    expect(ignored(rules, '/api/static/x')).toBe(false);
  });

  it('a regular expression is tested against the path; a g or y flag behaves the same on repeated calls', () => {
    for (const pattern of [/^\/internal\//, /^\/internal\//g, /^\/internal\//y, /^\/INTERNAL\//gi]) {
      const resolved = options({ ignore: [pattern] });
      const results = [1, 2, 3, 4].map(() => isIgnored(resolved, '/internal/metrics', {}));
      expect(results).toEqual([true, true, true, true]);
      expect(isIgnored(resolved, '/public/internal/', {})).toBe(false);
      // the user's regex object is not touched
      expect(pattern.lastIndex).toBe(0);
    }
  });

  it('mixed rules: any match ignores', () => {
    const rules = ['/health', '/static/*', /\.map$/];
    expect(['/health', '/static/x', '/app.js.map', '/api'].map((path) => ignored(rules, path))).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('a function receives the native request; only true ignores', () => {
    const req = { headers: { 'user-agent': 'kube-probe/1.27' } };
    const probe = (request: unknown) =>
      (request as typeof req).headers['user-agent'].startsWith('kube-probe') as boolean;
    expect(ignored(probe as never, '/anything', req)).toBe(true);
    expect(ignored(probe as never, '/anything', { headers: { 'user-agent': 'curl' } })).toBe(false);
    expect(ignored((() => 1) as never, '/x')).toBe(false);
  });

  it('a throwing function means "not ignored", logged once', () => {
    captureLog();
    const rule = (() => {
      throw new Error('rule broke');
    }) as never;
    expect(ignored(rule, '/x')).toBe(false);
    expect(ignored(rule, '/y')).toBe(false);
    expect(messages).toEqual(['ignore rule failed']);
  });
});

describe('option validation (resolveOptions)', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['tracer', { tracer: {} }, /tracer must be an OpenTracing Tracer/],
    ['tracer', { tracer: 'jaeger' }, /tracer/],
    ['clientHooks', { clientHooks: 'yes' }, /clientHooks must be true, false or an array/],
    ['clientHooks', { clientHooks: ['http', 'mongodb'] }, /clientHooks: unknown hook "mongodb"/],
    ['ignore', { ignore: '/health' }, /ignore must be an array/],
    ['ignore', { ignore: [42] }, /ignore entries must be paths/],
    ['ignore', { ignore: ['health'] }, /ignore entries must be paths starting with "\/"/],
    ['operationName', { operationName: 'GET' }, /operationName must be a function/],
    ['onStart', { onStart: 1 }, /onStart must be a function/],
    ['onFinish', { onFinish: {} }, /onFinish must be a function/],
    ['captureRequestHeaders', { captureRequestHeaders: 'x-id' }, /captureRequestHeaders must be an array/],
    ['captureResponseHeaders', { captureResponseHeaders: [''] }, /captureResponseHeaders must be an array/],
    ['allowSensitiveHeaders', { allowSensitiveHeaders: [1] }, /allowSensitiveHeaders must be an array/],
    ['unknown option', { ignores: ['/health'] }, /unknown option "ignores"/],
    ['unknown option', { onstart: () => {} }, /unknown option "onstart"/],
  ];
  for (const [what, value, message] of bad) {
    it(`${what}: ${JSON.stringify(value) ?? 'fn'} throws a TypeError naming the package and the option`, () => {
      let error: unknown;
      try {
        resolveOptions(PKG, 'express', value as TracingOptions<never, never>);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(new RegExp(`^${PKG.replace('/', '\\/')}: `));
      expect((error as Error).message).toMatch(message);
    });
  }

  it('options that are not an object are rejected; undefined and null mean defaults', () => {
    expect(() => resolveOptions(PKG, 'express', 'fast' as never)).toThrow(`${PKG}: options must be an object`);
    for (const empty of [undefined, null, {}]) {
      const resolved = resolveOptions(PKG, 'express', empty as never);
      expect(resolved.tracer).toBeUndefined();
      expect(resolved.clientHooks).toBe(true);
      expect(resolved.isIgnored).toBeNull();
      expect(resolved.captureRequestHeaders).toEqual([]);
    }
  });

  it('normalises once: header lists lower-cased and de-duplicated, everything frozen', () => {
    const resolved = resolveOptions(PKG, 'express', {
      tracer,
      clientHooks: ['http', 'pg'],
      captureRequestHeaders: ['X-Id', 'x-id', 'X-Other'],
      allowSensitiveHeaders: ['Authorization'],
    });
    expect(resolved.packageName).toBe(PKG);
    expect(resolved.component).toBe('express');
    expect(resolved.tracer).toBe(tracer);
    expect(resolved.clientHooks).toEqual(['http', 'pg']);
    expect(resolved.captureRequestHeaders).toEqual(['x-id', 'x-other']);
    expect([...resolved.allowSensitiveHeaders]).toEqual(['authorization']);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.captureRequestHeaders)).toBe(true);
  });

  it('setupTracing validates the same way and installs no hook with clientHooks: false', () => {
    expect(() => setupTracing('@otinst/koa', 'koa', { clientHooks: 7 } as never)).toThrow(/^@otinst\/koa: clientHooks/);
    const resolved = setupTracing('@otinst/koa', 'koa', { clientHooks: false });
    expect(resolved.component).toBe('koa');
    expect(installedPatches()).toEqual([]);
  });
});
