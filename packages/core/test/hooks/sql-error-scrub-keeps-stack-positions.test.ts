import { describe, expect, it } from 'vitest';
import { RecordingTracer } from '@otinst/recorder';
import { recordSqlError, rememberValues } from '../../src/hooks/sql-errors';

/**
 * Issue 12: removing a query's parameter values from its error also edited
 * the stack (`parser.js:310:98` became `parser.js:3?:98`) and parts of longer
 * numbers. Only whole occurrences in the message (and the stack's message
 * line) are scrubbed; frame lines stay verbatim.
 */

function failedWith(error: Error, values: unknown[]) {
  const tracer = new RecordingTracer({ serviceName: 'test' });
  const span = tracer.startSpan('pg:SELECT');
  rememberValues(span, values);
  recordSqlError(span, error);
  span.finish();
  const [recorded] = tracer.spans();
  return recorded!.logs[0]!.fields as Record<string, unknown>;
}

describe('SQL error scrubbing', () => {
  const stack = [
    'error: invalid input syntax for type integer: "31" (row 310)',
    '    at Parser.parseErrorMessage (/app/node_modules/pg-protocol/dist/parser.js:310:98)',
    '    at handler (/app/src/repo31.js:31:5)',
  ].join('\n');

  function pgError(): Error {
    const error = new Error('invalid input syntax for type integer: "31" (row 310)');
    error.stack = stack;
    return error;
  }

  it('keeps file positions: frame lines are never edited', () => {
    const fields = failedWith(pgError(), [31]);
    expect(fields['stack']).toBe(
      [
        'error: invalid input syntax for type integer: "?" (row 310)',
        '    at Parser.parseErrorMessage (/app/node_modules/pg-protocol/dist/parser.js:310:98)',
        '    at handler (/app/src/repo31.js:31:5)',
      ].join('\n'),
    );
  });

  it('scrubs whole occurrences only: 310 is not the value 31', () => {
    const fields = failedWith(pgError(), ['31']);
    expect(fields['message']).toBe('invalid input syntax for type integer: "?" (row 310)');
  });

  it('the caller keeps the original error, untouched', () => {
    const error = pgError();
    failedWith(error, [31]);
    expect(error.message).toBe('invalid input syntax for type integer: "31" (row 310)');
    expect(error.stack).toBe(stack);
  });
});
