import { describe, expect, it } from 'vitest';
import { MYSQL, POSTGRES, scrubSqlLiterals } from '../../src/hooks/sql-statement';

/**
 * Issue 12: `db.statement` kept SQL literals verbatim on pg
 * (`WHERE password = 'hunter2'`). The scanner replaces string and number
 * literals by `?` and keeps everything else: identifiers, placeholders,
 * comments, operators, the statement's shape.
 */

describe('scrubSqlLiterals, PostgreSQL', () => {
  it.each([
    ["SELECT * FROM users WHERE password = 'hunter2'", 'SELECT * FROM users WHERE password = ?'],
    ["SELECT 'it''s', E'it\\'s', e'a\\\\'", 'SELECT ?, ?, ?'],
    ['SELECT $$secret$$, $tag$a $$ b$tag$, $fn$ BEGIN RETURN 1; END $fn$', 'SELECT ?, ?, ?'],
    ["SELECT B'0101', X'1F', U&'d\\0061t', N'text'", 'SELECT ?, ?, ?, ?'],
    // identifiers (also "quoted" and with $ or digits inside) and placeholders stay
    [
      'SELECT "Col 1", t1.c2, a$1 FROM "t 2" WHERE a = $1 AND b = $12',
      'SELECT "Col 1", t1.c2, a$1 FROM "t 2" WHERE a = $1 AND b = $12',
    ],
    ['SELECT $1::int + 1, 2.5e-3, .5, 1e10', 'SELECT $1::int + ?, ?, ?, ?'],
    // a sign where it can only be one belongs to the literal; a subtraction stays
    [
      'SELECT -5, a - 3, a-3, x * -2, (-1), f(1, -2) WHERE b = -7 AND c IN (-1)',
      'SELECT ?, a - ?, a-?, x * ?, (?), f(?, ?) WHERE b = ? AND c IN (?)',
    ],
    ["SELECT '2020-01-01'::date, INTERVAL '1 day', CAST('9' AS int)", 'SELECT ?::date, INTERVAL ?, CAST(? AS int)'],
    // comments keep their text (a quote inside one is no string)
    ["SELECT 1 -- it's 'x'\n, 2 /* don't */", "SELECT ? -- it's 'x'\n, ? /* don't */"],
    ['SELECT true, NULL, now()', 'SELECT true, NULL, now()'],
    [
      "INSERT INTO t (a, b) VALUES ('x', 1), ('y', 2) RETURNING id",
      'INSERT INTO t (a, b) VALUES (?, ?), (?, ?) RETURNING id',
    ],
    // a literal left open at the end is still a literal
    ["SELECT 'never closed", 'SELECT ?'],
    ['SELECT $q$never closed', 'SELECT ?'],
  ])('%j → %j', (sql, expected) => {
    expect(scrubSqlLiterals(sql, POSTGRES)).toBe(expected);
  });

  it('hands back the literals it took out, unquoted, for error scrubbing', () => {
    const found: string[] = [];
    scrubSqlLiterals("SELECT 'it''s', $$dollar$$, 42, -7 FROM t WHERE a = $1", POSTGRES, undefined, found);
    expect(found).toEqual(["it's", 'dollar', '42', '-7']);
  });
});

describe('scrubSqlLiterals, MySQL', () => {
  it.each([
    ['SELECT "double" AS v, `ident` FROM t', 'SELECT ? AS v, `ident` FROM t'],
    ["SELECT 'a\\'b', X'0A', 0x1F, 0b101, TRUE, -3", 'SELECT ?, ?, ?, ?, ?, ?'],
    ['SELECT * FROM t WHERE id = ? AND n > ?', 'SELECT * FROM t WHERE id = ? AND n > ?'],
    ["SELECT 1 # it's\n", "SELECT ? # it's\n"],
  ])('%j → %j', (sql, expected) => {
    expect(scrubSqlLiterals(sql, MYSQL)).toBe(expected);
  });
});
