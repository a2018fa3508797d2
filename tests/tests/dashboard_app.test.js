// The dashboard script's pure helpers, run by tests/tests/dashboard.rs as
// `node dashboard_app.test.js path/to/app.js`. Loading the script must not touch the DOM.
'use strict';

const assert = require('node:assert/strict');
const app = require(require('node:path').resolve(process.argv[2]));

let passed = 0;
function test(name, body) {
  try {
    body();
    passed += 1;
  } catch (error) {
    console.error('FAILED ' + name);
    throw error;
  }
}

test('routes come from the hash', () => {
  assert.equal(app.parseRoute('').view, 'instances');
  assert.equal(app.parseRoute('#/').view, 'instances');
  const list = app.parseRoute('#/instances?status=Failed,Running&prefix=po-');
  assert.equal(list.view, 'instances');
  assert.equal(list.params.get('status'), 'Failed,Running');
  assert.equal(list.params.get('prefix'), 'po-');
  const one = app.parseRoute(app.instanceHash('order:7 with spaces'));
  assert.deepEqual([one.view, one.id], ['instance', 'order:7 with spaces']);
  assert.equal(app.parseRoute('#/entities?name=tally').view, 'entities');
  const entity = app.parseRoute(app.entityHash('tally', 'a/b?c#d'));
  assert.deepEqual([entity.view, entity.name, entity.key], ['entity', 'tally', 'a/b?c#d']);
  const empty = app.parseRoute(app.entityHash('tally', ''));
  assert.equal(empty.key, '$');
  assert.equal(app.parseRoute('#/instances/%E0%A4%A').id, '%E0%A4%A', 'a bad escape is kept');
});

test('query strings leave out empty values', () => {
  assert.equal(app.queryString({ a: 1, b: '', c: null, d: undefined, e: 'x y' }), '?a=1&e=x+y');
  assert.equal(app.queryString({ a: '' }), '');
});

test('entity ids parse', () => {
  assert.deepEqual(app.parseEntityId('@tally@a@b'), { name: 'tally', key: 'a@b' });
  assert.deepEqual(app.parseEntityId('@tally@'), { name: 'tally', key: '' });
  assert.equal(app.parseEntityId('order-7'), null);
  assert.equal(app.parseEntityId(null), null);
});

test('durations read well', () => {
  assert.equal(app.formatDuration(0.123), '0.12 ms');
  assert.equal(app.formatDuration(12.4), '12 ms');
  assert.equal(app.formatDuration(3210), '3.2 s');
  assert.equal(app.formatDuration(42_000), '42 s');
  assert.equal(app.formatDuration(303_000), '5 min 3 s');
  assert.equal(app.formatDuration(3_600_000), '1 h');
  assert.equal(app.formatDuration(7_500_000), '2 h 5 min');
  assert.equal(app.formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 59_000), '3 d 4 h');
  assert.equal(app.formatDuration(-1), '');
  assert.equal(app.formatDuration(NaN), '');
});

test('times and details print compactly', () => {
  assert.equal(app.formatTime('2026-11-23T19:16:31.058Z'), '2026-11-23 19:16:31.058');
  assert.equal(app.formatTime(null), '');
  assert.equal(app.summarizeDetails(null), '');
  assert.equal(app.summarizeDetails({ name: 'x' }), '{"name":"x"}');
  assert.equal(app.summarizeDetails({ text: 'a'.repeat(200) }, 20), '{"text":"aaaaaaaaaaa…');
  assert.deepEqual(app.prettyJson({ a: 1 }), { text: '{\n  "a": 1\n}', cut: false });
  assert.deepEqual(app.prettyJson('abcdef', 3), { text: '"ab', cut: true });
  assert.equal(app.prettyJson(undefined).text, 'null');
});

test('the timeline is laid out on the execution', () => {
  const timeline = {
    start: 1000,
    end: 2000,
    spans: [
      { kind: 'activity', name: 'charge', seq: 0, start: 1000, end: 1500, outcome: 'completed' },
      { kind: 'timer', name: '', seq: 1, start: 1500, end: null, due: 1900, outcome: 'pending' },
      { kind: 'activity', name: 'tiny', seq: 2, start: 1999.9, end: 2000, outcome: 'completed' },
    ],
    markers: [{ kind: 'EventRaised', time: 1750, label: 'go' }],
    truncated: false,
  };
  const layout = app.layoutTimeline(timeline, 5000);
  assert.equal(layout.total, 1000);
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  assert.deepEqual(layout.rows.map((r) => [round(r.left), round(r.width), round(r.duration)]), [
    [0, 50, 500],
    [50, 50, null],
    [99.6, 0.4, 0.1],
  ], 'a tiny span stays visible (0.4 %) and on the axis');
  assert.equal(layout.rows[1].due, 90);
  assert.equal(layout.markers[0].left, 75);
  assert.equal(app.spanLabel(timeline.spans[0]), 'activity charge #0');
  assert.equal(app.spanLabel(timeline.spans[1]), 'timer #1');
  assert.equal(app.spanLabel({ kind: 'subOrchestration', name: 'child', seq: 4 }), 'sub-orchestration child #4');
});

test('a running execution runs to now, and a later due time stretches the axis', () => {
  const running = {
    start: 0,
    end: null,
    spans: [{ kind: 'timer', name: '', seq: 0, start: 0, end: null, due: 400, outcome: 'pending' }],
    markers: [],
  };
  const layout = app.layoutTimeline(running, 100);
  assert.equal(layout.t1, 400, 'the due time is on the axis');
  assert.equal(layout.rows[0].width, 25, 'pending runs to now');
  assert.equal(layout.rows[0].due, 100);
  const empty = app.layoutTimeline({ start: null, end: null, spans: [], markers: [] }, 7);
  assert.equal(empty.t0, 7);
});

test('the statuses offered are the ones the API parses', () => {
  assert.deepEqual(app.STATUSES, ['Running', 'Pending', 'Suspended', 'ContinuedAsNew', 'Completed', 'Failed', 'Terminated']);
  assert.ok(app.TERMINAL.includes('Failed') && !app.TERMINAL.includes('Suspended'));
});

test('the overview has its route', () => {
  assert.equal(app.parseRoute('#/overview').view, 'overview');
});

test('the JSON editor accepts JSON and empty text, and says what is wrong', () => {
  assert.deepEqual(app.parseJson('{"by": "ana", "n": [1, 2]}'), { ok: true, value: { by: 'ana', n: [1, 2] } });
  assert.deepEqual(app.parseJson('  '), { ok: true, value: null });
  assert.deepEqual(app.parseJson('0'), { ok: true, value: 0 });
  const wrong = app.parseJson('{"by": ');
  assert.equal(wrong.ok, false);
  assert.match(wrong.message, /^not valid JSON: /);
  assert.equal(app.parseJson("{'single': 1}").ok, false);
});

test('chart bars are rates per minute on a time axis', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const points = [
    // Before the window: left out.
    { at: '2025-12-31T23:59:00Z', seconds: 5, completed: 100, failed: 0, terminated: 0 },
    { at: '2026-01-01T00:05:00Z', seconds: 5, completed: 4, failed: 1, terminated: 0 },
    { at: '2026-01-01T00:10:00Z', seconds: 10, completed: 0, failed: 2, terminated: 3 },
  ];
  assert.equal(app.perMinute(points[1], ['completed', 'failed']), 60);
  assert.equal(app.perMinute({ seconds: 0, failed: 3 }, ['failed']), 0, 'no interval, no rate');
  const all = app.chartBars(points, ['completed', 'failed', 'terminated'], 600, 100, now, 10 * 60_000);
  assert.equal(all.max, 60);
  assert.deepEqual(all.bars.map((b) => [b.x, b.width, b.y, b.height, b.rate]), [
    [295, 4, 0, 100, 60],
    [590, 9, 50, 50, 30],
  ]);
  const failed = app.chartBars(points, ['failed'], 600, 100, now, 10 * 60_000);
  assert.equal(failed.max, 12);
  assert.deepEqual(failed.bars.map((b) => b.height), [100, 100]);
  const quiet = app.chartBars([{ at: '2026-01-01T00:09:55Z', seconds: 5 }], ['failed'], 600, 100, now, 60_000);
  assert.equal(quiet.max, 1, 'an empty chart still has a scale');
  assert.deepEqual(quiet.bars.map((b) => b.height), [0]);
});

test('the charts cover what was sampled, 1 to 10 minutes', () => {
  const now = Date.parse('2026-01-01T01:00:00Z');
  assert.equal(app.chartWindow(null, now), 60_000);
  assert.equal(app.chartWindow('2026-01-01T00:59:50Z', now), 60_000);
  assert.equal(app.chartWindow('2026-01-01T00:56:30Z', now), 4 * 60_000);
  assert.equal(app.chartWindow('2026-01-01T00:00:00Z', now), 10 * 60_000);
  assert.equal(app.formatRate(0), '0');
  assert.equal(app.formatRate(0.44), '0.4');
  assert.equal(app.formatRate(1250.2), '1,250');
});

console.log(passed + ' passed');
