import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatParameters } from '../../src/hooks/sql-errors';
import { MYSQL, POSTGRES, sqlCommand, STATEMENT_LIMIT, truncate } from '../../src/hooks/sql-statement';

/** The SQL helpers that name the pg and mysql2 spans and shape their statement tags. */

describe('sqlCommand', () => {
  it.each([
    ['select 1', 'SELECT'],
    ['  \n\t SELECT 1', 'SELECT'],
    ['-- note\nINSERT INTO t VALUES (1)', 'INSERT'],
    ['/* a */ /* b */ update t set a = 1', 'UPDATE'],
    ['((SELECT 1)) UNION (SELECT 2)', 'SELECT'],
    ['delete from t', 'DELETE'],
    ['BEGIN;', 'BEGIN'],
    ['VACUUM', 'VACUUM'],
    ['WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b', 'SELECT'],
    ['WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT sum(n) FROM t', 'SELECT'],
    ['with x as materialized (select 1) delete from t', 'DELETE'],
    ['WITH x AS NOT MATERIALIZED (SELECT 1) UPDATE t SET a = 1', 'UPDATE'],
    [`WITH "odd )name" AS (SELECT ')' AS p /* ) */) INSERT INTO t SELECT * FROM "odd )name"`, 'INSERT'],
    ['WITH x AS (SELECT $$ ) $$, $q$ ) $q$, $1) SELECT 1', 'SELECT'],
    ['WITH x AS (SELECT 1) -- ) \n , y AS (SELECT 2) ( SELECT 3 )', 'SELECT'],
    // shapes the scanner cannot read: the first keyword
    ['WITH x AS (SELECT 1', 'WITH'],
    ['WITH', 'WITH'],
    ['WITH RECURSIVE t AS (SELECT 1) SEARCH DEPTH FIRST BY id SET ord SELECT * FROM t', 'WITH'],
  ])('%j → %s', (sql, command) => {
    expect(sqlCommand(sql)).toBe(command);
  });

  it.each([[''], ['   '], ['$1'], ['t1 = 2'], ['_x'], ['42'], [`${'x'.repeat(40)} 1`], ['# comment\nSELECT 1']])(
    '%j has no command (PostgreSQL)',
    (sql) => {
      expect(sqlCommand(sql, POSTGRES)).toBeUndefined();
    },
  );

  it('MySQL: # comments, backslash escapes in strings, backticks', () => {
    expect(sqlCommand('# comment\nSELECT 1', MYSQL)).toBe('SELECT');
    expect(sqlCommand("WITH `a)` AS (SELECT ')\\')' AS p) DELETE FROM t", MYSQL)).toBe('DELETE');
    // in PostgreSQL the backslash is an ordinary character: the quote after it ends the string
    expect(sqlCommand("WITH a AS (SELECT 'x\\') SELECT 1", POSTGRES)).toBe('SELECT');
  });

  it('returns an upper-case word of at most 32 letters, or undefined, for any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.boolean(), (text, mysql) => {
        const command = sqlCommand(text, mysql ? MYSQL : POSTGRES);
        return command === undefined || /^[A-Z]{1,32}$/.test(command);
      }),
      { numRuns: 2000 },
    );
  });

  it('finds the keyword behind any mix of whitespace, comments and parentheses', () => {
    const noise = fc.array(fc.constantFrom(' ', '\n', '\t', '(', '/* c */', '-- c\n', '/**/'), { maxLength: 8 });
    const keyword = fc.constantFrom('select', 'Insert', 'UPDATE', 'delete', 'commit');
    fc.assert(
      fc.property(noise, keyword, (parts, word) => sqlCommand(`${parts.join('')}${word} 1`) === word.toUpperCase()),
    );
  });
});

describe('truncate', () => {
  it('keeps short text; cuts long text to the limit with a marker', () => {
    expect(truncate('abc', 10)).toBe('abc');
    expect(truncate('x'.repeat(5000))).toHaveLength(STATEMENT_LIMIT);
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
  });

  it('never splits a surrogate pair', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer({ min: 2, max: 40 }), (text, limit) => {
        const cut = truncate(text, limit);
        if (text.length <= limit) {
          expect(cut).toBe(text);
        } else {
          expect(cut.length).toBeLessThanOrEqual(limit);
          expect(cut.endsWith('…')).toBe(true);
          expect(text.startsWith(cut.slice(0, -1))).toBe(true);
        }
        expect(cut.isWellFormed()).toBe(true);
      }),
    );
  });
});

describe('formatParameters', () => {
  it('JSON, bigints as strings, buffers by size, truncated; never throws', () => {
    expect(formatParameters(['x', 7, null])).toBe('["x",7,null]');
    expect(formatParameters([10n])).toBe('["10"]');
    expect(formatParameters([Buffer.from('abc')])).toBe('["<Buffer 3 bytes>"]');
    expect(formatParameters(undefined)).toBeUndefined();
    const circular: unknown[] = [];
    circular.push(circular);
    expect(typeof formatParameters(circular)).toBe('string');
    expect(formatParameters(['y'.repeat(10_000)])).toHaveLength(STATEMENT_LIMIT);
  });
});
