import Router from '@koa/router';
import { getCurrentSpan, isTracingSuppressed, startChildSpan } from '@otinst/core';
import { tracingMiddleware } from '@otinst/koa';
import Koa3 from 'koa';
import type { Context } from 'koa';
import Koa2 from 'koa2';
import { Readable } from 'node:stream';
import { serve, spanIdOf } from '../../../test/support/adapter-tests';
import { CONTRACT_ERROR, describeServerSpanContract, type ServerDriver } from '../../../test/support/server-contract';

type KoaClass = typeof Koa3;

const delay = () => new Promise((resolve) => setTimeout(resolve, 1));

function driver(name: string, Koa: KoaClass): ServerDriver {
  return {
    name,
    component: 'koa',
    userRoute: '/users/:id',
    async start(options, reveal = true) {
      const current = reveal ? () => spanIdOf(getCurrentSpan()) : () => null;
      const app = new Koa();
      app.silent = true;
      if (options !== undefined) app.use(tracingMiddleware(options));
      const router = new Router();
      router.get('/users/:id', (ctx) => (ctx.body = { id: ctx.params.id, span: current() }));
      router.get('/context', async (ctx) => {
        const seen: Record<string, unknown> = { handler: current() };
        await delay();
        seen.afterAwait = current();
        seen.inImmediate = await new Promise((resolve) => setImmediate(() => resolve(current())));
        startChildSpan('child work').finish();
        ctx.body = seen;
      });
      router.get('/boom', () => {
        throw CONTRACT_ERROR;
      });
      router.get('/client-error', (ctx) => ctx.throw(400, 'bad input'));
      router.get('/unavailable', (ctx) => {
        ctx.status = 503;
        ctx.body = { retry: true };
      });
      router.get('/stream', (ctx) => {
        ctx.body = new Readable({ read() {} }).once('resume', function (this: Readable) {
          this.push('part 1;');
        });
      });
      router.get('/health', (ctx) => {
        ctx.body = { current: getCurrentSpan() === null ? null : 'span', suppressed: isTracingSuppressed() };
      });
      app.use(router.routes());
      return serve(app.callback());
    },
    header: (ctx, header) => (ctx as Context).get(header),
    isNativeRequest: (ctx) => typeof (ctx as Context).throw === 'function',
    isNativeResponse: (ctx) => typeof (ctx as Context).throw === 'function',
  };
}

describeServerSpanContract(driver('koa 3', Koa3));
describeServerSpanContract(driver('koa 2', Koa2 as unknown as KoaClass));
