import { tracingMiddleware } from '@otinst/express';
import express5 from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import { recorderTracer } from '../../../test/support/tracers';
import { expectErrorLog, onlySpan, serve } from './helpers';

/**
 * The route templates and the error capture must not depend on the order of
 * creation: here every router, route and mount exists before
 * `tracingMiddleware()` runs, and no express layer has been called yet in this
 * process (each test file runs in its own process).
 */
describe.each([
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express5],
])('%s app built before the middleware', (_name, express) => {
  it('still names routes with their mount templates and records errors', async () => {
    const t = recorderTracer();
    const failure = new Error('passed on');
    let tracing: express5.RequestHandler = (req, res, next) => next();
    const app = express();
    app.use((req, res, next) => tracing(req, res, next));
    const members = express.Router();
    members.get('/:memberId', (req, res) => res.send('member'));
    const org = express.Router();
    org.use('/teams/:teamId/members', members);
    org.get('/fail', (req, res, next) => next(failure));
    app.use('/orgs/:orgId', org);

    tracing = tracingMiddleware(t.tracer, { clientHooks: false });
    const served = await serve(app);
    try {
      await fetch(`${served.url}/orgs/acme/teams/red/members/9`).then((response) => response.text());
      expect((await onlySpan(t)).operationName).toBe('GET /orgs/:orgId/teams/:teamId/members/:memberId');
      t.reset();
      await fetch(`${served.url}/orgs/acme/fail`).then((response) => response.text());
      const span = await onlySpan(t);
      expect(span.operationName).toBe('GET /orgs/:orgId/fail');
      expect(span.tags['http.status_code']).toBe(500);
      expectErrorLog(t, span, failure);
    } finally {
      await served.close();
    }
  });
});
