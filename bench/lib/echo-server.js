'use strict';
/**
 * The local HTTP server that the `http` and `fetch` client benchmarks call:
 * plain `node:http`, a small JSON answer, in its own process so that its work
 * does not share the event loop of the client under test. Reports
 * `{ type: 'ready', port }` over IPC and exits with its parent.
 */
const http = require('node:http');

const BODY = JSON.stringify({ ok: true });

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message && message.type === 'exit') process.exit(0);
});
