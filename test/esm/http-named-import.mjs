// Named ESM imports of node:http bound BEFORE installPatches must see the patch
// (module.syncBuiltinESMExports) and see the original again after uninstallPatches.
// Run by packages/core/test/hooks/http-esm.test.ts on the build (`tsc -b`); prints one JSON line.
import { createServer, get, request } from 'node:http';
import { installPatches, runWithSpan, uninstallPatches } from '@otinst/core';
import { RecordingTracer } from '@otinst/recorder';

const tracer = new RecordingTracer({ serviceName: 'esm' });
const received = [];
const server = createServer((req, res) => {
  received.push(req.headers.traceparent ?? null);
  res.end('ok');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/`;

/** Sends under a parent span and waits until the request closed (when the hook finishes its span). */
function send(fn) {
  const parent = tracer.startSpan('parent');
  return runWithSpan(
    parent,
    () =>
      new Promise((resolve, reject) => {
        const req = fn();
        req.on('response', (res) => res.resume());
        req.on('error', reject);
        req.on('close', resolve);
      }),
  ).then(() => parent.finish());
}

const originalRequest = request;
const originalGet = get;
installPatches(['http']);
const patched = request !== originalRequest && get !== originalGet;
await send(() => request(url).end());
await send(() => get(url));
uninstallPatches();
const restored = request === originalRequest && get === originalGet;
await send(() => get(url));
server.close();

console.log(
  JSON.stringify({
    patched,
    restored,
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
