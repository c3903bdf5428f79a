import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import mysql from 'mysql2';
import { sanitizeMysqlStatement, STATEMENT_LIMIT } from '../../src/hooks/sql-statement';

/**
 * mysql2 ≥ 3.20 publishes `query(sql, values)` with the values already
 * formatted into the text: the sanitiser must take every one of them out again
 * (getsentry/sentry-javascript#23601 review: double quotes and backslash
 * escapes are where such sanitisers leak).
 */

describe('sanitizeMysqlStatement', () => {
  it.each([
    ["SELECT * FROM t WHERE a = 'x\\'y' AND b IN (1, 2.5e3, -4)", 'SELECT * FROM t WHERE a = ? AND b IN (?, ?, ?)'],
    [`SELECT "double ""quoted"" \\" value" AS v`, 'SELECT ? AS v'],
    ["SELECT 'it''s', X'0aFF', x'00', B'0101', N'text', 0x1F, .5, 1e-7", 'SELECT ?, ?, ?, ?, ?, ?, ?, ?'],
    [
      'UPDATE `t1` SET `col 2` = TRUE, flag = false, v = NULL WHERE id = 3',
      'UPDATE `t1` SET `col 2` = ?, flag = ?, v = NULL WHERE id = ?',
    ],
    ['SELECT t1.col_2, @v1, 3 FROM t1', 'SELECT t1.col_2, @v1, ? FROM t1'],
    // comments are the application's text and stay; a quote inside one is no string
    ["SELECT 1 -- it's\n, 'x' /* don't */ # isn't\n", "SELECT ? -- it's\n, ? /* don't */ # isn't\n"],
    // MySQL runs what is inside /*! ... */ (and mysql2 formats values into it)
    ["SELECT /*!40001 SQL_NO_CACHE 'secret' */ 1", 'SELECT /*!? SQL_NO_CACHE ? */ ?'],
    // `5--3` is arithmetic in MySQL, not a comment: 5 minus -3 (a sign after an operator is part of the literal)
    ['SELECT 5--3', 'SELECT ?-?'],
    // a minus after an identifier or a literal is a subtraction and stays
    ['SELECT a-1, 2 - 3 FROM t', 'SELECT a-?, ? - ? FROM t'],
    // a literal left open at the end is still a literal
    ["SELECT 'never closed", 'SELECT ?'],
    ['SELECT `never closed', 'SELECT `never closed'],
  ])('%j → %j', (sql, expected) => {
    expect(sanitizeMysqlStatement(sql)).toBe(expected);
  });

  it('stops at the limit, marks the cut, and keeps no literal from the rest', () => {
    const values = Array.from({ length: 5000 }, (_, i) => `secret-${i}`);
    const formatted = mysql.format('INSERT INTO t (v) VALUES ?', [values.map((v) => [v])]);
    const sanitized = sanitizeMysqlStatement(formatted);
    expect(sanitized.length).toBeLessThanOrEqual(STATEMENT_LIMIT);
    expect(sanitized.startsWith('INSERT INTO t (v) VALUES (?), (?)')).toBe(true);
    expect(sanitized.endsWith('…')).toBe(true);
    expect(sanitized).not.toContain('secret');
  });

  // The shape a value takes once sanitised: every scalar is `?` (a negative number too), NULL stays.
  function shape(value: unknown): string {
    if (value === null || value === undefined) return 'NULL';
    if (Array.isArray(value)) return value.map((v) => (Array.isArray(v) ? `(${shape(v)})` : shape(v))).join(', ');
    return '?';
  }

  const scalar = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom("'", '"', '\\', "\\'", "''", '\\\\', '*/', '--', '#', '?', '`', '\0', '\x1a', '\n'),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.bigInt(),
    fc.boolean(),
    fc.constant(null),
    fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }),
    fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
  );
  const value = fc.oneof(
    scalar,
    fc.array(scalar, { minLength: 1, maxLength: 4 }),
    fc.array(fc.array(scalar, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  );

  it('takes out every value that mysql2 formats into a statement', () => {
    const template = 'SELECT * FROM `t` /* c */ WHERE a = ? AND b IN (?) OR c <> ? -- end';
    fc.assert(
      fc.property(value, value, value, (a, b, c) => {
        const formatted = mysql.format(template, [a, b, c]);
        const expected = template
          .replace('?', () => shape(a))
          .replace(/IN \(\?\)/, () => `IN (${shape(b)})`)
          .replace('<> ?', () => `<> ${shape(c)}`);
        expect(sanitizeMysqlStatement(formatted)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});
