'use strict';
/** Child processes that talk to the harness over IPC (`fork`), under the node binary chosen with `--node`. */
const { fork } = require('node:child_process');

/**
 * Forks `script` and resolves with `{ child, message }` at the first message
 * of one of the `expect`ed types. Rejects when the child exits or stays
 * silent for `timeoutMs` first.
 */
function forkAndWait(script, args, node, expect, timeoutMs) {
  const child = fork(script, args, {
    execPath: node,
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // EPIPE on a message to a child that just exited: the exit handlers report what matters
  child.on('error', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message) => {
      if (message && expect.includes(message.type)) {
        cleanup();
        resolve({ child, message });
      }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`${script} ${args.join(' ')} exited (${signal ?? code}) before answering`));
    };
    function cleanup() {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Sends `message` to a running child and waits for its answer of type `answerType`. */
function ask(child, message, answerType, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no ${answerType} answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (answer) => {
      if (answer && answer.type === answerType) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(answer);
      }
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** Asks a child to exit; kills it if it has not gone after a second. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    // the child may be on its way out already: a failed send is no error
    if (child.connected) child.send({ type: 'exit' }, (error) => error && child.kill('SIGTERM'));
    else child.kill('SIGTERM');
  });
}

module.exports = { forkAndWait, ask, stop };
