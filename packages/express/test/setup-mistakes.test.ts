import { resetConfig } from '@otinst/core';
import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { initGlobalTracer } from 'opentracing';
import { beforeEach, describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { captureWarnings, onlySpan, statusesOf, waitForSpans } from './helpers';

type Express = typeof express5;

const { warned } = captureWarnings();

describe.each([
  { name: 'express 5', express: express5 },
  { name: 'express 4', express: express4 as unknown as Express },
])('$name set-up mistakes', ({ express }) => {
  const t = recorderTracer();
  beforeEach(() => {
    t.reset();
    resetConfig(); // the first explicit tracer becomes the configured one: not across rounds
  });

  it('app.use(tracingMiddleware), not called: works as tracingMiddleware(), warns once with OTINST_MIDDLEWARE_NOT_CALLED', async () => {
    initGlobalTracer(t.tracer);
    const app = express();
    app.use(tracingMiddleware as never);
    app.get('/users/:id', (req, res) => res.send('ok'));
    expect(await statusesOf(app, ['/users/1', '/users/2'])).toEqual([200, 200]);
    expect((await waitForSpans(t, 2)).map((span) => span.operationName)).toEqual(['GET /users/:id', 'GET /users/:id']);
    const notCalled = await warned('OTINST_MIDDLEWARE_NOT_CALLED');
    expect(notCalled).toHaveLength(1);
    expect(notCalled[0]!.message).toContain('app.use(tracingMiddleware(tracer))');
  });

  it('registered after the routes: warns once with OTINST_MIDDLEWARE_AFTER_ROUTES, naming the fix', async () => {
    const app = express();
    app.get('/users/:id', (req, res) => res.send('ok'));
    app.use(tracingMiddleware(t.tracer, { clientHooks: false }));
    app.use((req, res) => res.status(404).send('none'));
    expect(await statusesOf(app, ['/users/1', '/nowhere', '/elsewhere'])).toEqual([200, 404, 404]);
    const afterRoutes = await warned('OTINST_MIDDLEWARE_AFTER_ROUTES');
    expect(afterRoutes).toHaveLength(1);
    expect(afterRoutes[0]!.message).toContain('register it first');
  });

  it('the options-object form: tracingMiddleware({ tracer, ignore })', async () => {
    const app = express();
    app.use(tracingMiddleware({ tracer: t.tracer, ignore: ['/health'], clientHooks: false }));
    app.get('/health', (req, res) => res.send('ok'));
    app.get('/users/:id', (req, res) => res.send('ok'));
    expect(await statusesOf(app, ['/health', '/users/3'])).toEqual([200, 200]);
    expect((await onlySpan(t)).operationName).toBe('GET /users/:id');
  });

  it('the options-object form rejects a second options object and bad options at creation', () => {
    expect(() => tracingMiddleware({ clientHooks: false }, { clientHooks: false })).toThrow(
      /^@otinst\/express: got two options objects/,
    );
    expect(() => tracingMiddleware({ tracer: {} as never })).toThrow(/^@otinst\/express: tracer must be/);
    expect(() => tracingMiddleware({ nope: 1 } as never)).toThrow(/^@otinst\/express: unknown option "nope"/);
  });
});
