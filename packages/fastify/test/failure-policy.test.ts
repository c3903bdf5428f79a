import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify5 from 'fastify';
import Fastify4 from 'fastify4';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { setDebugLogger } from '@otinst/core';
import { tracingPlugin, type FastifyTracingOptions } from '@otinst/fastify';
import { recorderTracer } from '../../../test/support/tracers';
import { throwingTracer } from './support';

type FastifyFactory = typeof Fastify5;
const majors: [string, FastifyFactory][] = [
  ['fastify 4', Fastify4 as unknown as FastifyFactory],
  ['fastify 5', Fastify5],
];

const requests: InjectOptions[] = [
  { url: '/api/users/1?x=1', headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
  { method: 'POST', url: '/api/users', payload: { name: 'ada' } },
  { url: '/api/throw' },
  { url: '/api/unavailable' },
  { url: '/api/missing' },
  { url: '/api/stream' },
  { url: '/nowhere' },
  { url: '/health' },
];

function routes(app: FastifyInstance): void {
  app.register(
    async (api) => {
      api.get<{ Params: { id: string } }>('/users/:id', async (request) => ({ id: request.params.id }));
      api.post('/users', async (request, reply) => reply.code(201).header('x-created', 'yes').send(request.body));
      api.get('/throw', async () => {
        throw new Error('boom');
      });
      api.get('/unavailable', async (_request, reply) => reply.code(503).send('later'));
      api.get('/missing', async () => {
        throw Object.assign(new Error('gone'), { statusCode: 404 });
      });
      api.get('/stream', async (_request, reply) => reply.type('text/plain').send(Readable.from(['a', 'b', 'c'])));
    },
    { prefix: '/api' },
  );
  app.get('/health', async () => 'ok');
}

async function responses(Fastify: FastifyFactory, options: FastifyTracingOptions | null) {
  const app = Fastify();
  if (options !== null) await app.register(tracingPlugin, { clientHooks: false, ...options });
  routes(app);
  const results = [];
  for (const request of requests) {
    const response = await app.inject(request);
    const { date: _date, ...headers } = response.headers;
    results.push({ status: response.statusCode, body: response.body, headers });
  }
  await app.close();
  return results;
}

const throwingHooks: FastifyTracingOptions = {
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

for (const [major, Fastify] of majors) {
  describe(`${major}: tracing never changes a response`, () => {
    const messages: string[] = [];
    // a fresh logger per test: the debug logger writes each distinct message once per logger
    beforeEach(() => setDebugLogger((message) => messages.push(message)));
    afterEach(() => {
      messages.length = 0;
      setDebugLogger(undefined);
    });

    it('with a tracer whose startSpan, extract and inject throw', async () => {
      const untraced = await responses(Fastify, null);
      expect(untraced.map((response) => response.status)).toEqual([200, 201, 500, 503, 404, 200, 404, 200]);
      expect(await responses(Fastify, { tracer: throwingTracer(false) })).toEqual(untraced);
      expect(messages.some((message) => message.includes('startSpan'))).toBe(true);
    });

    it('with a tracer whose spans throw from every method', async () => {
      const untraced = await responses(Fastify, null);
      expect(await responses(Fastify, { tracer: throwingTracer(true) })).toEqual(untraced);
      for (const method of ['extract', 'addTags', 'log', 'finish']) {
        expect(messages.join('\n')).toContain(method);
      }
    });

    it('with user hooks that all throw', async () => {
      const t = recorderTracer();
      const untraced = await responses(Fastify, null);
      expect(await responses(Fastify, { tracer: t.tracer, ...throwingHooks })).toEqual(untraced);
      // every request still got its span, named by the default rule, finished once
      expect(t.tracer.spans().map((span) => span.operationName)).toEqual([
        'GET /api/users/:id',
        'POST /api/users',
        'GET /api/throw',
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
}
