// node:http imported from ESM for the first time AFTER installPatches: the
// namespace is built from the patched exports.
// Run by packages/core/test/hooks/http-esm.test.ts on the build (`tsc -b`); prints one JSON line.
import { createRequire } from 'node:module';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';

// through require: this builds no ESM namespace for node:http
const original = createRequire(import.meta.url)('node:http').request;
installPatches(['http']);
const { createServer, request } = await import('node:http');
const patched = request !== original;
const tracer = new RecordingTracer({ serviceName: 'esm' });
const received = [];
const server = createServer((req, res) => {
  received.push(req.headers.traceparent ?? null);
  res.end('ok');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const parent = tracer.startSpan('parent');
await runWithSpan(
  parent,
  () =>
    new Promise((resolve, reject) => {
      const req = request(`http://127.0.0.1:${server.address().port}/late`, (res) => res.resume());
      req.on('error', reject);
      req.on('close', resolve);
      req.end();
    }),
);
parent.finish();
uninstallPatches();
const { request: after } = await import('node:http');
server.close();

console.log(
  JSON.stringify({
    patched,
    restored: after === original,
    received,
    spans: tracer.spans().map(({ operationName, traceId, spanId, parentId, tags }) => ({
      operationName,
      traceId,
      spanId,
      parentId,
      tags,
    })),
  }),
);
