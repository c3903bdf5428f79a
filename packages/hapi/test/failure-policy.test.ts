import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Hapi from '@hapi/hapi';
import type { Server, ServerInjectOptions } from '@hapi/hapi';
import Boom from '@hapi/boom';
import { setDebugLogger } from '@otinst/core';
import { tracingPlugin, type HapiTracingOptions } from '@otinst/hapi';
import { recorderTracer } from '../../../test/support/tracers';
import { throwingTracer } from './support';

const requests: ServerInjectOptions[] = [
  { url: '/api/users/1?x=1', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
  { method: 'POST', url: '/api/users', payload: { name: 'ada' } },
  { url: '/api/throw' },
  { url: '/api/boom' },
  { url: '/api/unavailable' },
  { url: '/api/missing' },
  { url: '/api/stream' },
  { url: '/nowhere' },
  { url: '/health' },
];

async function responses(options: HapiTracingOptions | null) {
  const server = Hapi.server({ debug: false });
  if (options !== null) await server.register({ plugin: tracingPlugin, options: { clientHooks: false, ...options } });
  await server.register(
    {
      name: 'api',
      register(api: Server) {
        api.route([
          { method: 'GET', path: '/users/{id}', handler: (request) => ({ id: request.params['id'] }) },
          {
            method: 'POST',
            path: '/users',
            handler: (request, h) =>
              h
                .response(request.payload as object)
                .code(201)
                .header('x-created', 'yes'),
          },
          {
            method: 'GET',
            path: '/throw',
            handler: () => {
              throw new Error('boom');
            },
          },
          {
            method: 'GET',
            path: '/boom',
            handler: () => {
              throw Boom.badImplementation('bad');
            },
          },
          { method: 'GET', path: '/unavailable', handler: (_request, h) => h.response('later').code(503) },
          {
            method: 'GET',
            path: '/missing',
            handler: () => {
              throw Boom.notFound('gone');
            },
          },
          {
            method: 'GET',
            path: '/stream',
            handler: (_request, h) =>
              h.response(Readable.from(['a', 'b', 'c'], { objectMode: false })).type('text/plain'),
          },
        ]);
      },
    },
    { routes: { prefix: '/api' } },
  );
  server.route({ method: 'GET', path: '/health', handler: () => 'ok' });
  const results = [];
  for (const request of requests) {
    const response = await server.inject(request);
    const { date: _date, ...headers } = response.headers;
    results.push({ status: response.statusCode, body: response.payload, headers });
  }
  await server.stop();
  return results;
}

const throwingHooks: HapiTracingOptions = {
  ignore: () => {
    throw new Error('ignore hook');
  },
  operationName: () => {
    throw new Error('operationName hook');
  },
  onStart: () => {
    throw new Error('onStart hook');
  },
  onFinish: () => {
    throw new Error('onFinish hook');
  },
  captureRequestHeaders: ['traceparent'],
  captureResponseHeaders: ['content-type'],
};

describe('hapi: tracing never changes a response', () => {
  const messages: string[] = [];
  // a fresh logger per test: the debug logger writes each distinct message once per logger
  beforeEach(() => setDebugLogger((message) => messages.push(message)));
  afterEach(() => {
    messages.length = 0;
    setDebugLogger(undefined);
  });

  it('with a tracer whose startSpan, extract and inject throw', async () => {
    const untraced = await responses(null);
    expect(untraced.map((response) => response.status)).toEqual([200, 201, 500, 500, 503, 404, 200, 404, 200]);
    expect(await responses({ tracer: throwingTracer(false) })).toEqual(untraced);
    expect(messages.some((message) => message.includes('startSpan'))).toBe(true);
  });

  it('with a tracer whose spans throw from every method', async () => {
    const untraced = await responses(null);
    expect(await responses({ tracer: throwingTracer(true) })).toEqual(untraced);
    for (const method of ['extract', 'addTags', 'log', 'finish']) {
      expect(messages.join('\n')).toContain(method);
    }
  });

  it('with user hooks that all throw', async () => {
    const t = recorderTracer();
    const untraced = await responses(null);
    expect(await responses({ tracer: t.tracer, ...throwingHooks })).toEqual(untraced);
    expect(t.tracer.spans().map((span) => span.operationName)).toEqual([
      'GET /api/users/{id}',
      'POST /api/users',
      'GET /api/throw',
      'GET /api/boom',
      'GET /api/unavailable',
      'GET /api/missing',
      'GET /api/stream',
      'GET',
      'GET /health',
    ]);
    expect(t.tracer.store.unfinished()).toEqual([]);
    expect(t.tracer.spans().every((span) => span.finishCount === 1)).toBe(true);
  });
});
