import Boom from '@hapi/boom';
import Hapi from '@hapi/hapi';
import type { Request } from '@hapi/hapi';
import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import { tracingPlugin } from '@otinst/hapi';
import { PassThrough } from 'node:stream';
import { spanIdOf } from '../../../test/support/adapter-tests';
import { CONTRACT_ERROR, describeServerSpanContract } from '../../../test/support/server-contract';

const delay = () => new Promise((resolve) => setTimeout(resolve, 1));

describeServerSpanContract({
  name: 'hapi',
  component: 'hapi',
  userRoute: '/users/{id}',
  async start(options, reveal = true) {
    const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
    const server = Hapi.server({ port: 0, host: '127.0.0.1' });
    if (options !== undefined) await server.register({ plugin: tracingPlugin, options });
    server.route([
      { method: 'GET', path: '/users/{id}', handler: (request) => ({ id: request.params['id'], span: current() }) },
      {
        method: 'GET',
        path: '/context',
        handler: async () => {
          const seen: Record<string, unknown> = { handler: current() };
          await delay();
          seen['afterAwait'] = current();
          seen['inImmediate'] = await new Promise((resolve) => setImmediate(() => resolve(current())));
          startChildSpan('child work').finish();
          return seen;
        },
      },
      {
        method: 'GET',
        path: '/boom',
        handler: () => {
          throw CONTRACT_ERROR;
        },
      },
      {
        method: 'GET',
        path: '/client-error',
        handler: () => {
          throw Boom.badRequest('bad input');
        },
      },
      { method: 'GET', path: '/unavailable', handler: (_request, h) => h.response({ retry: true }).code(503) },
      {
        method: 'GET',
        path: '/stream',
        handler: (request) => {
          const body = new PassThrough();
          body.write('part 1;');
          request.raw.res.once('close', () => body.end());
          return body;
        },
      },
      {
        method: 'GET',
        path: '/health',
        handler: () => ({ current: getCurrentSpan() === null ? null : 'span', suppressed: isTracingSuppressed() }),
      },
    ]);
    await server.start();
    return { url: server.info.uri, close: () => server.stop() };
  },
  header: (request, header) => (request as Request).headers[header],
  isNativeRequest: (request) => typeof (request as Request).info === 'object' && 'raw' in (request as object),
  isNativeResponse: (response) => response !== null && typeof response === 'object' && 'statusCode' in response,
});
