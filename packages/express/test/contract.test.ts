import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { Readable } from 'node:stream';
import { serve, spanIdOf } from '../../../test/support/adapter-tests';
import { CONTRACT_ERROR, describeServerSpanContract, type ServerDriver } from '../../../test/support/server-contract';

type Express = typeof express5;

const delay = () => new Promise((resolve) => setTimeout(resolve, 1));

function driver(name: string, express: Express): ServerDriver {
  return {
    name,
    component: 'express',
    userRoute: '/users/:id',
    async start(options, reveal = true) {
      const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
      const app = express();
      app.set('env', 'production');
      if (options !== undefined) app.use(tracingMiddleware(options));
      app.get('/users/:id', (req, res) => res.json({ id: req.params.id, span: current() }));
      app.get('/context', (req, res, next) => {
        void (async () => {
          const seen: Record<string, unknown> = { handler: current() };
          await delay();
          seen.afterAwait = current();
          seen.inImmediate = await new Promise((resolve) => setImmediate(() => resolve(current())));
          startChildSpan('child work').finish();
          res.json(seen);
        })().catch(next);
      });
      app.get('/boom', () => {
        throw CONTRACT_ERROR;
      });
      app.get('/client-error', (req, res, next) => next(Object.assign(new Error('bad input'), { status: 400 })));
      app.get('/unavailable', (req, res) => res.status(503).json({ retry: true }));
      app.get('/stream', (req, res) => {
        Readable.from(['part 1;']).on('data', (chunk: string) => res.write(chunk));
        res.on('close', () => res.end());
      });
      app.get('/health', (req, res) => {
        res.json({ current: getCurrentSpan() === null ? null : 'span', suppressed: isTracingSuppressed() });
      });
      return serve(app);
    },
    header: (request, header) => (request as express5.Request).headers[header],
    isNativeRequest: (request) => typeof (request as express5.Request).get === 'function',
    isNativeResponse: (response) => typeof (response as express5.Response).json === 'function',
  };
}

// express logs every error on stderr outside production mode: the apps run in production mode
describeServerSpanContract(driver('express 5', express5));
describeServerSpanContract(driver('express 4', express4 as unknown as Express));
