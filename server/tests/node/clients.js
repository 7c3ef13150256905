// node-postgres (`pg`, with `pg-cursor` and `pg-copy-streams`) against a running Strata server.
//
// Usage: node clients.js HOST PORT
// Each check prints its name; any failure throws and exits non-zero. The expected values are
// what the same calls return against PostgreSQL 15 (node-postgres parses results by type OID,
// so a wrong OID or text format shows up as a wrong JavaScript value).
'use strict';

const assert = require('node:assert/strict');
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');
const pg = require('pg');
const Cursor = require('pg-cursor');
const { from: copyFrom, to: copyTo } = require('pg-copy-streams');

const [host, port] = process.argv.slice(2);
const config = { host, port: Number(port), user: 'strata', password: 'strata', database: 'strata' };

async function withClient(f) {
  const client = new pg.Client(config);
  await client.connect();
  try {
    await f(client);
  } finally {
    await client.end();
  }
}

async function expectError(promise, code) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.code, code, `${e.message} (${e.code})`);
    return e;
  }
  throw new Error(`expected SQLSTATE ${code}`);
}

const checks = [];
function check(name, f) {
  checks.push([name, f]);
}

check('simple and extended queries, typed results', () => withClient(async (c) => {
  await c.query(`CREATE TABLE node_cpu (ts timestamptz NOT NULL, host text, usage double precision,
                 cores integer, big bigint, price numeric(10,2), ok boolean, day date)`);
  // Extended protocol with text parameters, one statement per row.
  for (let i = 0; i < 10; i++) {
    await c.query(
      'INSERT INTO node_cpu (ts, host, usage, cores, big, price, ok, day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [new Date(Date.UTC(2024, 0, 1, 0, 0, i)), `h${i % 2}`, i * 1.5, i, 9007199254740993n.toString(),
        `${i}.25`, i % 2 === 0, '2024-01-0' + (1 + (i % 9))],
    );
  }
  const r = await c.query('SELECT * FROM node_cpu WHERE host = $1 ORDER BY ts', ['h1']);
  assert.equal(r.rowCount, 5);
  assert.deepEqual(r.fields.map((f) => f.name), ['ts', 'host', 'usage', 'cores', 'big', 'price', 'ok', 'day']);
  assert.deepEqual(r.fields.map((f) => f.dataTypeID), [1184, 25, 701, 23, 20, 1700, 16, 1082]);
  const row = r.rows[0];
  assert.equal(row.ts.getTime(), Date.UTC(2024, 0, 1, 0, 0, 1));
  assert.equal(row.usage, 1.5);
  assert.equal(row.cores, 1);
  assert.equal(row.big, '9007199254740993'); // int8 is a string in node-postgres, never rounded
  assert.equal(row.price, '1.25'); // numeric keeps its scale as text
  assert.equal(row.ok, false);
  assert.ok(row.day instanceof Date);
  // Simple protocol: the same values through text results.
  const s = await c.query('SELECT count(*), sum(cores), max(price) FROM node_cpu');
  assert.deepEqual(s.rows[0], { count: '10', sum: '45', max: '9.25' });
  // rowMode: 'array' and duplicate column names.
  const a = await c.query({ text: 'SELECT 1 AS x, 2 AS x', rowMode: 'array' });
  assert.deepEqual(a.rows, [[1, 2]]);
  // A named prepared statement, executed twice.
  const named = { name: 'by_host', text: 'SELECT count(*)::int AS n FROM node_cpu WHERE host = $1' };
  assert.equal((await c.query({ ...named, values: ['h0'] })).rows[0].n, 5);
  assert.equal((await c.query({ ...named, values: ['h9'] })).rows[0].n, 0);
}));

check('the types node-postgres parses by OID', () => withClient(async (c) => {
  await c.query(`CREATE TABLE node_types (ts timestamp NOT NULL, i interval, b bytea, u uuid, j json,
                 t time, n numeric(20,4), s smallint, r real, v varchar(8), ch char(3))`);
  await c.query(
    'INSERT INTO node_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
    ['2024-02-29 12:34:56.789', '1 day 02:03:04', Buffer.from([0, 1, 254, 255]),
      'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', JSON.stringify({ a: [1, 2] }), '13:14:15.5',
      '12345678901234.5678', 7, 0.5, 'abc', 'x'],
  );
  const { rows: [row], fields } = await c.query('SELECT * FROM node_types');
  assert.deepEqual(fields.map((f) => f.dataTypeID), [1114, 1186, 17, 2950, 114, 1083, 1700, 21, 700, 1043, 1042]);
  // timestamp without time zone is read in the client's local zone, as node-postgres does.
  assert.equal(row.ts.getFullYear(), 2024);
  assert.equal(row.ts.getMilliseconds(), 789);
  assert.deepEqual({ ...row.i }, { days: 1, hours: 2, minutes: 3, seconds: 4 });
  assert.deepEqual([...row.b], [0, 1, 254, 255]);
  assert.equal(row.u, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  assert.deepEqual(row.j, { a: [1, 2] });
  assert.equal(row.t, '13:14:15.5');
  assert.equal(row.n, '12345678901234.5678');
  assert.equal(row.s, 7);
  assert.equal(row.r, 0.5);
  assert.equal(row.v, 'abc');
  assert.equal(row.ch, 'x  ');
  const { rows: [e] } = await c.query(
    "SELECT interval '1 year 2 months -3 days 04:05:06.5' AS i, '\\x00ff'::bytea AS b, NULL::uuid AS u");
  assert.deepEqual({ ...e.i }, { years: 1, months: 2, days: -3, hours: 4, minutes: 5, seconds: 6, milliseconds: 500 });
  assert.deepEqual([...e.b], [0, 255]);
  assert.equal(e.u, null);
}));

check('errors carry SQLSTATE and position; the connection goes on', () => withClient(async (c) => {
  let e = await expectError(c.query('SELECT * FROM no_such_table'), '42P01');
  assert.equal(e.position, '15');
  e = await expectError(c.query('SELEC 1'), '42601');
  assert.equal(e.position, '1');
  await expectError(c.query('SELECT 1/0'), '22012');
  await expectError(c.query('SELECT $1::int', ['nope']), '22P02');
  await expectError(c.query('SELECT no_such_column FROM node_cpu'), '42703');
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
}));

check('transactions: COMMIT publishes, ROLLBACK discards, a failed block is 25P02', () => withClient(async (c) => {
  await c.query('CREATE TABLE node_tx (ts timestamptz NOT NULL, v integer)');
  await c.query('BEGIN');
  await c.query("INSERT INTO node_tx VALUES ('2024-01-01', 1)");
  await c.query('COMMIT');
  await c.query('BEGIN');
  await c.query("INSERT INTO node_tx VALUES ('2024-01-02', 2)");
  await c.query('ROLLBACK');
  await c.query('BEGIN');
  await expectError(c.query('SELECT 1/0'), '22012');
  await expectError(c.query('SELECT 1'), '25P02');
  await c.query('ROLLBACK');
  assert.deepEqual((await c.query('SELECT v FROM node_tx')).rows, [{ v: 1 }]);
}));

check('a multi-statement simple query gives one result per statement', () => withClient(async (c) => {
  const results = await c.query('SELECT 1 AS a; SELECT 2 AS b, 3 AS c; SHOW DateStyle');
  assert.equal(results.length, 3);
  assert.deepEqual(results[0].rows, [{ a: 1 }]);
  assert.deepEqual(results[1].rows, [{ b: 2, c: 3 }]);
  assert.deepEqual(results[2].rows, [{ DateStyle: 'ISO, MDY' }]);
}));

check('pg-cursor reads in batches through portal row limits', () => withClient(async (c) => {
  await c.query(`INSERT INTO node_tx SELECT to_timestamp(1800000000 + x), x::int
                 FROM generate_series(1, 250) AS g(x)`);
  const cursor = c.query(new Cursor('SELECT v FROM node_tx WHERE v > $1 ORDER BY ts', [0]));
  const seen = [];
  for (;;) {
    const rows = await cursor.read(100);
    if (rows.length === 0) break;
    assert.ok(rows.length <= 100);
    seen.push(...rows.map((r) => r.v));
  }
  await cursor.close();
  assert.equal(seen.length, 251);
  assert.deepEqual(seen.slice(0, 3), [1, 1, 2]);
  assert.equal(seen[250], 250);
}));

check('COPY FROM STDIN and COPY TO STDOUT through pg-copy-streams', () => withClient(async (c) => {
  await c.query('CREATE TABLE node_copy (ts timestamptz NOT NULL, host text, v double precision)');
  const lines = [];
  for (let i = 0; i < 1000; i++) lines.push(`2024-03-01 00:00:${String(i % 60).padStart(2, '0')}+00\th${Math.floor(i / 60)}\t${i}\n`);
  const ingest = c.query(copyFrom('COPY node_copy (ts, host, v) FROM STDIN'));
  await pipeline(Readable.from(lines), ingest);
  assert.equal(ingest.rowCount, 1000);
  const out = c.query(copyTo("COPY (SELECT host, v FROM node_copy WHERE host = 'h0' ORDER BY ts) TO STDOUT WITH (FORMAT csv, HEADER)"));
  let text = '';
  for await (const chunk of out) text += chunk.toString();
  const got = text.trim().split('\n');
  assert.equal(got[0], 'host,v');
  assert.equal(got.length, 61);
  assert.equal(got[1], 'h0,0');
  // A bad row fails the whole COPY with PostgreSQL's code and stores nothing.
  const bad = c.query(copyFrom('COPY node_copy (ts, host, v) FROM STDIN'));
  await assert.rejects(
    pipeline(Readable.from(['2024-04-01 00:00:00+00\thx\t1\n', '2024-04-01 00:00:01+00\thx\tnot-a-number\n']), bad),
    (e) => e.code === '22P02',
  );
  assert.equal((await c.query("SELECT count(*)::int AS n FROM node_copy WHERE host = 'hx'")).rows[0].n, 0);
}));

check('a pool shares connections; catalog queries node tools send', async () => {
  const pool = new pg.Pool({ ...config, max: 3 });
  try {
    const counts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => pool.query('SELECT $1::int + 1 AS n', [i])),
    );
    assert.deepEqual(counts.map((r) => r.rows[0].n), Array.from({ length: 12 }, (_, i) => i + 1));
    const tables = await pool.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'node_%' ORDER BY 1");
    assert.deepEqual(tables.rows.map((r) => r.table_name), ['node_copy', 'node_cpu', 'node_tx', 'node_types']);
    const version = await pool.query('SHOW server_version_num');
    assert.ok(Number(version.rows[0].server_version_num) >= 150000);
  } finally {
    await pool.end();
  }
});

(async () => {
  // Leftovers of an earlier run (when pointed at a long-lived server such as PostgreSQL itself).
  await withClient((c) => c.query('DROP TABLE IF EXISTS node_cpu, node_types, node_tx, node_copy'));
  for (const [name, f] of checks) {
    console.log(`-- ${name}`);
    await f();
  }
  console.log('all node client checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
