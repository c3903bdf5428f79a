import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import { tracingPlugin } from '@otinst/fastify';
import Fastify5 from 'fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Fastify4 from 'fastify4';
import { PassThrough } from 'node:stream';
import { baseUrl, spanIdOf } from '../../../test/support/adapter-tests';
import { CONTRACT_ERROR, describeServerSpanContract, type ServerDriver } from '../../../test/support/server-contract';

type FastifyFactory = typeof Fastify5;

const delay = () => new Promise((resolve) => setTimeout(resolve, 1));

function driver(name: string, Fastify: FastifyFactory): ServerDriver {
  return {
    name,
    component: 'fastify',
    userRoute: '/users/:id',
    async start(options, reveal = true) {
      const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
      const app = Fastify();
      if (options !== undefined) await app.register(tracingPlugin, options);
      app.get<{ Params: { id: string } }>('/users/:id', async (request) => ({
        id: request.params.id,
        span: current(),
      }));
      app.get('/context', async () => {
        const seen: Record<string, unknown> = { handler: current() };
        await delay();
        seen.afterAwait = current();
        seen.inImmediate = await new Promise((resolve) => setImmediate(() => resolve(current())));
        startChildSpan('child work').finish();
        return seen;
      });
      app.get('/boom', () => {
        throw CONTRACT_ERROR;
      });
      app.get('/client-error', async () => {
        throw Object.assign(new Error('bad input'), { statusCode: 400 });
      });
      app.get('/unavailable', async (_request, reply) => reply.code(503).send({ retry: true }));
      app.get('/stream', (_request, reply) => {
        const body = new PassThrough();
        body.write('part 1;');
        reply.raw.once('close', () => body.end());
        return reply.send(body);
      });
      app.get('/health', async () => ({
        current: getCurrentSpan() === null ? null : 'span',
        suppressed: isTracingSuppressed(),
      }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { url: baseUrl(app.server), close: () => app.close() };
    },
    header: (request, header) => (request as FastifyRequest).headers[header],
    isNativeRequest: (request) =>
      typeof (request as FastifyRequest).raw === 'object' && 'routeOptions' in (request as object),
    isNativeResponse: (reply) => typeof (reply as FastifyReply).code === 'function',
  };
}

describeServerSpanContract(driver('fastify 5', Fastify5));
describeServerSpanContract(driver('fastify 4', Fastify4 as unknown as FastifyFactory));
