// A strict TypeScript consumer (moduleResolution nodenext): the public types
// resolve from the packed packages, with the frameworks' own types.
import Fastify from 'fastify';
import type { FastifyRequest } from 'fastify';
import Hapi from '@hapi/hapi';
import express from 'express';
import type { Request } from 'express';
import Koa from 'koa';
import type { Span } from 'opentracing';
import {
  configure,
  getCurrentSpan,
  installPatches,
  runWithSpan,
  startChildSpan,
  traceFunction,
  type HookName,
  type TracingOptions,
} from '@otinst/core';
import { formatTrace, RecordingTracer, type RecordedSpan } from '@otinst/recorder';
import { tracingMiddleware as expressTracing, type ExpressTracingOptions } from '@otinst/express';
import koaTracing, { type KoaTracingOptions } from '@otinst/koa';
import { tracingPlugin as fastifyTracing, type FastifyTracingOptions } from '@otinst/fastify';
import hapiTracing, { type HapiTracingOptions } from '@otinst/hapi';

const tracer = new RecordingTracer({ serviceName: 'typed' });
const hooks: HookName[] = ['http', 'pg'];
installPatches(hooks);
configure({ callerNameHeaders: ['x-caller'] });

const expressOptions: ExpressTracingOptions = {
  ignore: (req: Request) => req.path === '/health',
  onStart: (span: Span, req: Request) => span.setTag('tenant', req.get('x-tenant') ?? 'none'),
  captureRequestHeaders: ['user-agent'],
};
const app = express();
app.use(expressTracing(tracer, expressOptions));

const koaOptions: KoaTracingOptions = { operationName: ({ method, route }) => `${method} ${route ?? 'unmatched'}` };
new Koa().use(koaTracing(tracer, koaOptions));

const fastifyOptions: FastifyTracingOptions = {
  onFinish: (span, request: FastifyRequest, reply) => span.setTag('reply.sent', reply.sent && request.id !== ''),
};
void Fastify().register(fastifyTracing, { tracer, ...fastifyOptions });

const hapiOptions: HapiTracingOptions = { ignore: ['/health'] };
void Hapi.server().register({ plugin: hapiTracing, options: { tracer, ...hapiOptions } });

const generic: TracingOptions<{ url: string }> = { ignore: (req) => req.url === '/' };
void generic;

const double = traceFunction(async (n: number): Promise<number> => n * 2, { name: 'double' });
const span = startChildSpan('typed-root', { tracer });
void runWithSpan(span, () => double(21)).then((value: number) => {
  const current: Span | null = getCurrentSpan();
  void current;
  span.finish();
  const spans: RecordedSpan[] = tracer.spans();
  console.log(value, formatTrace(spans));
});
