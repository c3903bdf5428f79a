import { getConfig } from '../config';

/**
 * The SQL statement scanner of the `pg`, `mysql2` and `knex` hooks: the
 * command word that names the span, and the statement as tagged (literals
 * replaced by `?` unless `captureSqlLiterals`, truncated). Scanners read at
 * most a bounded prefix of a statement: a 10 MB bulk INSERT costs the same as
 * a short one.
 */

/** Longest `db.statement` / `db.params` tag, in UTF-16 code units. */
export const STATEMENT_LIMIT = 4096;

/** How far `sqlCommand` looks for the main statement after a long `WITH` list. */
const COMMAND_SCAN_LIMIT = 65_536;

/** `SQL dialect` differences that matter to a scanner. */
export interface SqlDialect {
  /** MySQL: `\'` escapes inside '...' and "..." strings; `#` starts a comment; "..." is a string. */
  readonly mysql: boolean;
}

export const POSTGRES: SqlDialect = { mysql: false };
export const MYSQL: SqlDialect = { mysql: true };

const SPACE = 32;
const HASH = 35;
const DOLLAR = 36;
const SINGLE = 39;
const DOUBLE = 34;
const BACKTICK = 96;
const BACKSLASH = 92;
const OPEN = 40;
const CLOSE = 41;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const COMMA = 44;
const DOT = 46;
const BANG = 33;
const PLUS = 43;

function isSpace(code: number): boolean {
  return code === SPACE || (code >= 9 && code <= 13);
}

function isLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isWordChar(code: number): boolean {
  return isLetter(code) || isDigit(code) || code === 95 || code === DOLLAR || code > 127;
}

/** End of a quoted run that starts at `at` (the index after the closing quote, or `end`). */
function skipQuoted(sql: string, at: number, end: number, quote: number, backslashEscapes: boolean): number {
  for (let i = at + 1; i < end; i++) {
    const code = sql.charCodeAt(i);
    if (backslashEscapes && code === BACKSLASH) {
      i++;
    } else if (code === quote) {
      if (sql.charCodeAt(i + 1) !== quote) return i + 1;
      i++; // a doubled quote stays inside
    }
  }
  return end;
}

/** A PostgreSQL dollar-quote opener at `at` (`$$` or `$tag$`), or undefined. */
function dollarTag(sql: string, at: number, end: number): string | undefined {
  for (let i = at + 1; i < end && i - at <= 64; i++) {
    const code = sql.charCodeAt(i);
    if (code === DOLLAR) return sql.slice(at, i + 1);
    if (!(isLetter(code) || code === 95 || (i > at + 1 && isDigit(code)))) return undefined;
  }
  return undefined;
}

/**
 * If a comment starts at `at`, the index after it; otherwise -1. MySQL's
 * `/*! ... *\/` and `/*+ ... *\/` carry SQL that the server runs (and that
 * mysql2 puts values into), so the sanitiser must not treat them as comments.
 */
function commentEnd(sql: string, at: number, end: number, dialect: SqlDialect, executableIsCode: boolean): number {
  const code = sql.charCodeAt(at);
  const next = sql.charCodeAt(at + 1);
  if (code === DASH && next === DASH) {
    // MySQL needs a space (or the end) after `--`; `5--3` is arithmetic there
    if (dialect.mysql) {
      const after = sql.charCodeAt(at + 2);
      if (!(Number.isNaN(after) || after <= SPACE)) return -1;
    }
    const eol = sql.indexOf('\n', at + 2);
    return eol === -1 || eol >= end ? end : eol + 1;
  }
  if (code === HASH && dialect.mysql) {
    const eol = sql.indexOf('\n', at + 1);
    return eol === -1 || eol >= end ? end : eol + 1;
  }
  if (code === SLASH && next === STAR) {
    const marker = sql.charCodeAt(at + 2);
    if (executableIsCode && dialect.mysql && (marker === BANG || marker === PLUS)) return -1;
    const close = sql.indexOf('*/', at + 2);
    return close === -1 || close + 2 > end ? end : close + 2;
  }
  return -1;
}

/** Skips whitespace and comments (and, with `parens`, opening parentheses). */
function skipNoise(sql: string, at: number, end: number, dialect: SqlDialect, parens: boolean): number {
  let i = at;
  while (i < end) {
    const code = sql.charCodeAt(i);
    if (isSpace(code) || (parens && code === OPEN)) {
      i++;
      continue;
    }
    const after = commentEnd(sql, i, end, dialect, false);
    if (after === -1) return i;
    i = after;
  }
  return i;
}

function readWord(sql: string, at: number, end: number): string {
  let i = at;
  while (i < end && isLetter(sql.charCodeAt(i))) i++;
  return sql.slice(at, i);
}

/** The index after a balanced `( ... )` that opens at `at` (strings and comments respected), or -1. */
function skipParens(sql: string, at: number, end: number, dialect: SqlDialect): number {
  let depth = 0;
  for (let i = at; i < end;) {
    const code = sql.charCodeAt(i);
    if (code === OPEN) {
      depth++;
      i++;
    } else if (code === CLOSE) {
      depth--;
      i++;
      if (depth === 0) return i;
    } else if (code === SINGLE || code === DOUBLE || code === BACKTICK) {
      i = skipQuoted(sql, i, end, code, dialect.mysql && code !== BACKTICK);
    } else if (code === DOLLAR && !dialect.mysql && (i === 0 || !isWordChar(sql.charCodeAt(i - 1)))) {
      const tag = dollarTag(sql, i, end);
      if (tag === undefined) {
        i++;
      } else {
        const close = sql.indexOf(tag, i + tag.length);
        i = close === -1 ? end : close + tag.length;
      }
    } else {
      const after = commentEnd(sql, i, end, dialect, false);
      i = after === -1 ? i + 1 : after;
    }
  }
  return -1;
}

/** Skips one identifier (bare, "quoted" or `backticked`) at `at`; -1 when there is none. */
function skipIdentifier(sql: string, at: number, end: number): number {
  const code = sql.charCodeAt(at);
  if (code === DOUBLE || code === BACKTICK) return skipQuoted(sql, at, end, code, false);
  let i = at;
  while (i < end && isWordChar(sql.charCodeAt(i))) i++;
  return i === at ? -1 : i;
}

/**
 * The main command of a statement after `WITH`: skips every `name [(cols)] AS
 * [NOT] [MATERIALIZED] ( ... )` and returns the word that follows, or
 * undefined when the text does not have that shape.
 */
function commandAfterWith(sql: string, at: number, end: number, dialect: SqlDialect): string | undefined {
  let i = skipNoise(sql, at, end, dialect, false);
  if (readWord(sql, i, end).toUpperCase() === 'RECURSIVE') i = skipNoise(sql, i + 9, end, dialect, false);
  for (;;) {
    i = skipIdentifier(sql, i, end);
    if (i === -1) return undefined;
    i = skipNoise(sql, i, end, dialect, false);
    if (sql.charCodeAt(i) === OPEN) {
      i = skipParens(sql, i, end, dialect);
      if (i === -1) return undefined;
      i = skipNoise(sql, i, end, dialect, false);
    }
    if (readWord(sql, i, end).toUpperCase() !== 'AS') return undefined;
    i = skipNoise(sql, i + 2, end, dialect, false);
    let word = readWord(sql, i, end).toUpperCase();
    if (word === 'NOT') {
      i = skipNoise(sql, i + 3, end, dialect, false);
      word = readWord(sql, i, end).toUpperCase();
    }
    if (word === 'MATERIALIZED') i = skipNoise(sql, i + word.length, end, dialect, false);
    if (sql.charCodeAt(i) !== OPEN) return undefined;
    i = skipParens(sql, i, end, dialect);
    if (i === -1) return undefined;
    i = skipNoise(sql, i, end, dialect, false);
    if (sql.charCodeAt(i) !== COMMA) break;
    i = skipNoise(sql, i + 1, end, dialect, false);
  }
  const main = readWord(sql, skipNoise(sql, i, end, dialect, true), end).toUpperCase();
  // PostgreSQL's SEARCH / CYCLE clauses of a recursive CTE come before the main statement
  return main === '' || main === 'SEARCH' || main === 'CYCLE' ? undefined : main;
}

/**
 * The command of a SQL statement, upper-cased: its first keyword after
 * leading whitespace, comments and opening parentheses (`SELECT`, `INSERT`,
 * `BEGIN`, ...). For `WITH` the main statement's keyword is returned
 * (`WITH t AS (...) DELETE ...` is a `DELETE`); when the CTE list cannot be
 * read, `WITH` itself. Undefined when the text starts with no keyword.
 *
 * @example
 * ```ts
 * sqlCommand('/* report *\/ (select 1) union (select 2)'); // 'SELECT'
 * sqlCommand('WITH x AS (SELECT 1) UPDATE t SET a = 1');  // 'UPDATE'
 * ```
 */
export function sqlCommand(sql: string, dialect: SqlDialect = POSTGRES): string | undefined {
  const end = Math.min(sql.length, COMMAND_SCAN_LIMIT);
  const at = skipNoise(sql, 0, end, dialect, true);
  const word = readWord(sql, at, end);
  // a word that runs on into digits or `_` (`t1`, `$1`) is an identifier, no keyword
  if (word === '' || word.length > 32 || isWordChar(sql.charCodeAt(at + word.length))) return undefined;
  const command = word.toUpperCase();
  if (command !== 'WITH') return command;
  return commandAfterWith(sql, at + 4, end, dialect) ?? command;
}

/** Cuts `text` to `limit` code units without splitting a surrogate pair, marking the cut with `…`. */
export function truncate(text: string, limit: number = STATEMENT_LIMIT): string {
  if (text.length <= limit) return text;
  let cut = limit - 1;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}

/** Keywords after which a `-` starts a negative number, not a subtraction. */
const BEFORE_NEGATIVE = new Set([
  'SELECT',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'IN',
  'IS',
  'BY',
  'SET',
  'VALUES',
  'THEN',
  'ELSE',
  'WHEN',
  'CASE',
  'BETWEEN',
  'LIKE',
  'RETURN',
  'LIMIT',
  'OFFSET',
  'ON',
  'HAVING',
  'ANY',
  'ALL',
  'SOME',
  'DEFAULT',
  'AS',
]);

/** Characters after which a `-` starts a negative number. */
const BEFORE_NEGATIVE_CHARS = '=<>(,+-*/%!|&^~[';

/**
 * Where the literal of a number at `at` starts: at its `-` when that sign can
 * only be one (after an operator, an opening parenthesis, a comma, a keyword
 * or the start), else at `at` (`a -1` stays a subtraction: `a -?`).
 */
function numberStart(sql: string, at: number, floor: number): number {
  let i = at - 1;
  while (i >= floor && isSpace(sql.charCodeAt(i))) i--;
  if (i < floor || sql.charCodeAt(i) !== DASH) return at;
  const sign = i;
  i--;
  while (i >= floor && isSpace(sql.charCodeAt(i))) i--;
  if (i < floor) return floor === 0 ? sign : at;
  const before = sql[i]!;
  if (BEFORE_NEGATIVE_CHARS.includes(before)) return sign;
  if (!isLetter(sql.charCodeAt(i))) return at;
  let j = i;
  while (j > 0 && isWordChar(sql.charCodeAt(j - 1))) j--;
  return BEFORE_NEGATIVE.has(sql.slice(j, i + 1).toUpperCase()) ? sign : at;
}

/** How many literals `scrubSqlLiterals` hands back for error scrubbing. */
const FOUND_LIMIT = 64;

/** A literal's value as a server would quote it in an error: quotes, prefix and doubled quotes taken out. */
function literalValue(text: string): string {
  const open = text.search(/['"$]/);
  if (open === -1) return text;
  const quote = text[open]!;
  if (quote === '$') {
    const tag = text.slice(open, text.indexOf('$', open + 1) + 1);
    return text.slice(open + tag.length, text.endsWith(tag) ? -tag.length : undefined);
  }
  const body = text.slice(open + 1, text.endsWith(quote) && text.length > open + 1 ? -1 : undefined);
  return body.split(quote + quote).join(quote);
}

/** A one-letter string prefix: PostgreSQL `E'..'` (escapes), `B'..'`, `X'..'`, `N'..'`; MySQL `X`, `B`, `N`. */
const STRING_PREFIX = /^[xXbBnNeE]$/;

/**
 * Replaces the string and number literals of a statement by `?`, keeping its
 * shape: strings (`'...'` with doubled quotes; PostgreSQL `E'..'` with
 * backslash escapes, `B'..'`, `X'..'`, `N'..'`, `U&'..'`, dollar-quoted
 * `$$..$$` / `$tag$..$tag$`; MySQL `"..."` and backslash escapes, `X'..'`,
 * `B'..'`, `N'..'`), numbers (decimal, exponent, `0x1F`, `0b101`, and a
 * leading `-` where it can only be a sign) and, for MySQL, `TRUE`/`FALSE`.
 * Keeps keywords, identifiers (`"quoted"` in PostgreSQL, `backticked` in
 * MySQL), placeholders (`$1`, `?`), `NULL`, operators and comments; scans the
 * SQL inside MySQL's executable comments (`/*! ... *\/`). A literal left open
 * (the text ends inside it) becomes `?` as well. Stops once the output
 * reaches `limit` (then truncated like `truncate`).
 *
 * @example
 * ```ts
 * scrubSqlLiterals("SELECT * FROM t WHERE a = 'x' AND b IN (1, -2.5e3)", POSTGRES);
 * // 'SELECT * FROM t WHERE a = ? AND b IN (?, ?)'
 * ```
 */
export function scrubSqlLiterals(
  sql: string,
  dialect: SqlDialect,
  limit: number = STATEMENT_LIMIT,
  found?: string[],
): string {
  const mysql = dialect.mysql;
  const end = sql.length;
  let out = '';
  // sql[copyFrom, i) is scanned code not yet copied to `out`; literals are never copied
  let copyFrom = 0;
  let i = 0;
  const literal = (start: number, after: number) => {
    out += `${sql.slice(copyFrom, start)}?`;
    if (found !== undefined && found.length < FOUND_LIMIT) found.push(literalValue(sql.slice(start, after)));
    copyFrom = after;
    i = after;
  };
  while (i < end && out.length + (i - copyFrom) <= limit) {
    const code = sql.charCodeAt(i);
    if (code === SINGLE || (code === DOUBLE && mysql)) {
      literal(i, skipQuoted(sql, i, end, code, mysql));
      continue;
    }
    if (code === BACKTICK || code === DOUBLE) {
      // identifiers: MySQL `name`, PostgreSQL "name"
      i = skipQuoted(sql, i, end, code, false);
      continue;
    }
    const comment = commentEnd(sql, i, end, dialect, true);
    if (comment !== -1) {
      i = comment;
      continue;
    }
    if (code === DOLLAR && !mysql) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        // a `$1` placeholder
        i++;
        while (i < end && isDigit(sql.charCodeAt(i))) i++;
        continue;
      }
      const tag = dollarTag(sql, i, end);
      if (tag !== undefined) {
        const close = sql.indexOf(tag, i + tag.length);
        literal(i, close === -1 ? end : close + tag.length);
        continue;
      }
      i++;
      continue;
    }
    if (isDigit(code) || (code === DOT && isDigit(sql.charCodeAt(i + 1)))) {
      literal(numberStart(sql, i, copyFrom), skipNumber(sql, i, end));
      continue;
    }
    if (isWordChar(code)) {
      let j = i;
      while (j < end && isWordChar(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j);
      if (sql.charCodeAt(j) === SINGLE && STRING_PREFIX.test(word) && (!mysql || !/[eE]/.test(word))) {
        // E'..' / X'0A' / B'01' / N'text': the prefix belongs to the literal; only E'' has escapes in PostgreSQL
        literal(i, skipQuoted(sql, j, end, SINGLE, mysql || /[eE]/.test(word)));
        continue;
      }
      if (!mysql && (word === 'U' || word === 'u') && sql.charCodeAt(j) === 38 && sql.charCodeAt(j + 1) === SINGLE) {
        literal(i, skipQuoted(sql, j + 1, end, SINGLE, false));
        continue;
      }
      if (mysql && (j - i === 4 || j - i === 5)) {
        const upper = word.toUpperCase();
        if (upper === 'TRUE' || upper === 'FALSE') {
          out += `${sql.slice(copyFrom, i)}?`;
          copyFrom = j;
        }
      }
      i = j;
      continue;
    }
    i++;
  }
  out += sql.slice(copyFrom, Math.min(i, end));
  // stopped before the end: mark the cut
  return truncate(i < end ? `${out}…` : out, limit);
}

/**
 * `scrubSqlLiterals` for MySQL: for the text mysql2 ≥ 3.20 publishes on its
 * tracing channel, where the values of `query(sql, values)` are already
 * formatted into the SQL.
 */
export function sanitizeMysqlStatement(sql: string, limit: number = STATEMENT_LIMIT): string {
  return scrubSqlLiterals(sql, MYSQL, limit);
}

/**
 * `db.statement` for a statement as the caller wrote it: literals replaced by
 * `?` (`scrubSqlLiterals`) unless `configure({ captureSqlLiterals: true })`;
 * truncated either way. `valuesInside`: the text has the query's parameter
 * values formatted in (mysql2's channel payload): those are scrubbed whatever
 * the setting. `found` collects the literals taken out (servers quote them in
 * their error messages, which are scrubbed of them too).
 */
export function sqlStatementTag(sql: string, dialect: SqlDialect, valuesInside = false, found?: string[]): string {
  if (!valuesInside && getConfig().captureSqlLiterals) return truncate(sql);
  return scrubSqlLiterals(sql, dialect, STATEMENT_LIMIT, found);
}

/** The index after a numeric literal at `at`: `12`, `1.5`, `.5`, `1e-7`, `0x1F`, `0b101`. */
function skipNumber(sql: string, at: number, end: number): number {
  let i = at;
  if (sql.charCodeAt(i) === 48 && /[xXbB]/.test(sql[i + 1] ?? '')) {
    i += 2;
    while (i < end && /[0-9a-fA-F]/.test(sql[i]!)) i++;
    return i;
  }
  while (i < end && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === DOT)) i++;
  const e = sql.charCodeAt(i);
  if (e === 101 || e === 69) {
    let j = i + 1;
    const sign = sql.charCodeAt(j);
    if (sign === PLUS || sign === DASH) j++;
    if (isDigit(sql.charCodeAt(j))) {
      i = j;
      while (i < end && isDigit(sql.charCodeAt(i))) i++;
    }
  }
  // `1abc` is an identifier in MySQL; swallow the rest of the word with the number
  while (i < end && isWordChar(sql.charCodeAt(i))) i++;
  return i;
}
