// The durable dashboard: one page, no build step, no dependencies. It reads and acts
// through the JSON API under `api/` (durable-runtime/src/dashboard/api.rs).
//
// Rules this file keeps:
// - Data never becomes HTML: every element is built with `h()`, which sets text with
//   `textContent` and never assigns `innerHTML` (the page's content security policy also
//   forbids inline script).
// - The view is a function of `location.hash`, so links, Back and reloads work.
// - The part above "Browser" is pure and runs under node (tests/tests/dashboard.rs).
'use strict';

// ---------------------------------------------------------------- pure helpers

/** The statuses a listing can filter on (RuntimeStatus::ALL without the unused Canceled). */
const STATUSES = ['Running', 'Pending', 'Suspended', 'ContinuedAsNew', 'Completed', 'Failed', 'Terminated'];

/** Statuses after which an instance will not run again. */
const TERMINAL = ['Completed', 'Failed', 'Canceled', 'Terminated'];

/** Parses a location hash (`#/instances/abc?x=1`) into a route. */
function parseRoute(hash) {
  const text = (hash || '').replace(/^#/, '');
  const cut = text.indexOf('?');
  const path = cut < 0 ? text : text.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? '' : text.slice(cut + 1));
  const parts = path.split('/').filter((part) => part !== '').map(decodeSegment);
  if (parts[0] === 'entities' && parts.length >= 3) {
    return { view: 'entity', name: parts[1], key: parts.slice(2).join('/'), params };
  }
  if (parts[0] === 'entities') {
    return { view: 'entities', params };
  }
  if (parts[0] === 'overview') {
    return { view: 'overview', params };
  }
  if (parts[0] === 'instances' && parts.length >= 2) {
    return { view: 'instance', id: parts.slice(1).join('/'), params };
  }
  return { view: 'instances', params };
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch (_) {
    return segment;
  }
}

/** A query string from an object, leaving out empty values (`{a: 1, b: ''}` → `?a=1`). */
function queryString(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && String(value) !== '') {
      params.set(name, String(value));
    }
  }
  const text = params.toString();
  return text ? '?' + text : '';
}

function instanceHash(id) {
  return '#/instances/' + encodeURIComponent(id);
}

/** `$` stands for the empty key, as in Durable Functions' API. */
function entityHash(name, key) {
  return '#/entities/' + encodeURIComponent(name) + '/' + encodeURIComponent(key === '' ? '$' : key);
}

/** An entity's `@name@key` id as `{name, key}`, or null. */
function parseEntityId(id) {
  const match = /^@([^@]+)@([\s\S]*)$/.exec(id || '');
  return match ? { name: match[1], key: match[2] } : null;
}

/** A span of milliseconds for people: `0.42 ms`, `12 ms`, `3.2 s`, `5 min 3 s`, `2 h 5 min`, `3 d 4 h`. */
function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) {
    return '';
  }
  if (ms < 1) {
    return ms.toFixed(2) + ' ms';
  }
  if (ms < 1000) {
    return Math.round(ms) + ' ms';
  }
  const seconds = ms / 1000;
  if (seconds < 60) {
    return (seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)) + ' s';
  }
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  let rest = Math.round(seconds);
  const parts = [];
  for (const [unit, size] of units) {
    if (rest >= size || parts.length > 0) {
      parts.push(Math.floor(rest / size) + ' ' + unit);
      rest %= size;
    }
    if (parts.length === 2) {
      break;
    }
  }
  return parts.filter((part) => !part.startsWith('0 ')).join(' ');
}

/** An RFC 3339 time as `2026-11-23 19:16:31.058` (UTC). */
function formatTime(text) {
  return typeof text === 'string' ? text.replace('T', ' ').replace(/Z$/, '') : '';
}

/** JSON for people: pretty-printed, cut at `max` characters. */
function prettyJson(value, max) {
  const text = value === undefined ? 'null' : JSON.stringify(value, null, 2);
  if (max && text.length > max) {
    return { text: text.slice(0, max), cut: true };
  }
  return { text, cut: false };
}

/**
 * Places a timeline's spans and markers on a 0–100 % axis. Pending spans run to `now`
 * (or the execution's end); each bar is at least `minWidth` % wide so short ones stay
 * visible.
 */
function layoutTimeline(timeline, now, minWidth = 0.4) {
  const t0 = timeline.start ?? now;
  let t1 = timeline.end ?? now;
  for (const span of timeline.spans) {
    t1 = Math.max(t1, span.end ?? span.start, span.due ?? span.start);
  }
  for (const marker of timeline.markers) {
    t1 = Math.max(t1, marker.time);
  }
  const total = Math.max(t1 - t0, 1e-3);
  const at = (time) => Math.min(100, Math.max(0, ((time - t0) / total) * 100));
  const rows = timeline.spans.map((span) => {
    const end = span.end ?? (timeline.end ?? now);
    const start = at(span.start);
    const width = Math.min(Math.max(at(Math.max(end, span.start)) - start, minWidth), 100);
    return {
      span,
      // A bar widened to `minWidth` at the right edge moves left to stay on the axis.
      left: Math.min(start, 100 - width),
      width,
      due: span.due === undefined ? null : at(span.due),
      duration: span.end === null || span.end === undefined ? null : span.end - span.start,
    };
  });
  const markers = timeline.markers.map((marker) => ({ marker, left: at(marker.time) }));
  return { t0, t1, total, rows, markers };
}

/** The label of a span's row: `activity charge #0`. */
function spanLabel(span) {
  const kinds = {
    activity: 'activity',
    timer: 'timer',
    subOrchestration: 'sub-orchestration',
    entityCall: 'entity call',
    entityLock: 'lock',
  };
  const name = span.name ? ' ' + span.name : '';
  return (kinds[span.kind] || span.kind) + name + ' #' + span.seq;
}

/**
 * The text of a JSON editor: `{ok: true, value}` (empty text is `null`), or
 * `{ok: false, message}` saying where it is wrong.
 */
function parseJson(text) {
  if (typeof text !== 'string' || text.trim() === '') {
    return { ok: true, value: null };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, message: 'not valid JSON: ' + error.message };
  }
}

/** A sampled point's rate per minute of the counts named by `keys` (`['failed']`). */
function perMinute(point, keys) {
  const count = keys.reduce((sum, key) => sum + (point[key] || 0), 0);
  return point.seconds > 0 ? (count * 60) / point.seconds : 0;
}

/**
 * Bars for a chart of `points` (the overview's series) on a `width` × `height` box whose
 * x axis is the `windowMs` before `now`: one bar per point, ending at its time, as wide as
 * its interval, as tall as its rate per minute over the highest (`max`, at least 1).
 */
function chartBars(points, keys, width, height, now, windowMs) {
  const start = now - windowMs;
  const shown = points.filter((point) => Date.parse(point.at) > start);
  const rates = shown.map((point) => perMinute(point, keys));
  const max = Math.max(1, ...rates);
  const x = (time) => ((time - start) / windowMs) * width;
  const bars = shown.map((point, index) => {
    const end = Date.parse(point.at);
    const left = Math.max(0, x(end - point.seconds * 1000));
    const right = Math.min(width, x(end));
    const tall = (rates[index] / max) * height;
    return {
      x: left,
      width: Math.max(right - left - 1, 1),
      y: height - tall,
      height: tall,
      rate: rates[index],
      at: point.at,
    };
  });
  return { max, bars };
}

/**
 * The span the overview's charts cover: the time sampled so far, in whole minutes, from 1
 * to 10 (what the server keeps), so a fresh dashboard's few bars are not slivers.
 */
function chartWindow(since, now) {
  const minute = 60 * 1000;
  const sampled = Date.parse(since || '');
  const span = Number.isFinite(sampled) ? now - sampled : 0;
  return Math.min(10, Math.max(1, Math.ceil(span / minute))) * minute;
}

/** A rate for people: `0`, `0.4`, `12`, `1,250`. */
function formatRate(rate) {
  if (!Number.isFinite(rate) || rate <= 0) {
    return '0';
  }
  return rate < 10 ? String(Math.round(rate * 10) / 10) : Math.round(rate).toLocaleString('en-US');
}

/** A history event's details in one line, cut at `max` characters. */
function summarizeDetails(details, max = 140) {
  if (details === null || details === undefined) {
    return '';
  }
  const text = JSON.stringify(details);
  return text.length > max ? text.slice(0, max) + '…' : text;
}

if (typeof module === 'object' && module.exports) {
  module.exports = {
    STATUSES,
    TERMINAL,
    parseRoute,
    queryString,
    instanceHash,
    entityHash,
    parseEntityId,
    formatDuration,
    formatTime,
    prettyJson,
    layoutTimeline,
    spanLabel,
    summarizeDetails,
    parseJson,
    perMinute,
    chartBars,
    chartWindow,
    formatRate,
  };
}

// ---------------------------------------------------------------- Browser

if (typeof document !== 'undefined') {
  (function browser() {
    /** The key, when the page was opened as `/dashboard/?code=KEY`. */
    const key = new URLSearchParams(location.search).get('code');
    const main = document.getElementById('main');
    /** The timer of the current view's automatic refresh. */
    let refreshTimer = null;
    /** Bumped on every navigation, so an old view's late answers are dropped. */
    let generation = 0;

    /** Builds an element: `h('a', {href: '#/'}, 'text', child)`. Strings become text. */
    function h(tag, attributes, ...children) {
      const element = document.createElement(tag);
      for (const [name, value] of Object.entries(attributes || {})) {
        if (value === undefined || value === null || value === false) {
          continue;
        }
        if (name === 'class') {
          element.className = value;
        } else if (name.startsWith('on') && typeof value === 'function') {
          element.addEventListener(name.slice(2), value);
        } else if (name === 'value') {
          element.value = value;
        } else if (name === 'checked') {
          element.checked = Boolean(value);
        } else {
          element.setAttribute(name, value === true ? '' : String(value));
        }
      }
      append(element, children);
      return element;
    }

    /** An SVG element: `svg('rect', {x: 1})`; attributes as given, children as in `h()`. */
    function svg(tag, attributes, ...children) {
      const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
      for (const [name, value] of Object.entries(attributes || {})) {
        if (value !== undefined && value !== null && value !== false) {
          element.setAttribute(name, String(value));
        }
      }
      append(element, children);
      return element;
    }

    function append(element, children) {
      for (const child of children) {
        if (child === null || child === undefined || child === false) {
          continue;
        }
        if (Array.isArray(child)) {
          append(element, child);
        } else if (child instanceof Node) {
          element.appendChild(child);
        } else {
          element.appendChild(document.createTextNode(String(child)));
        }
      }
    }

    class ApiFailure extends Error {
      constructor(status, message) {
        super(message);
        this.status = status;
      }
    }

    /** Calls the dashboard's API; rejects with an ApiFailure carrying the server's message. */
    async function api(method, path, body) {
      const headers = { Accept: 'application/json' };
      if (key) {
        headers['x-functions-key'] = key;
      }
      if (method !== 'GET') {
        headers['x-durable-dashboard'] = '1';
        headers['Content-Type'] = 'application/json';
      }
      const response = await fetch('api/' + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'same-origin',
      });
      const text = await response.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (_) {
        data = null;
      }
      if (!response.ok) {
        let message = (data && data.message) || text || response.statusText;
        if (response.status === 401) {
          message += ' — open the dashboard as /dashboard/?code=KEY';
        }
        throw new ApiFailure(response.status, message);
      }
      return data;
    }

    function toast(message, failed) {
      const box = document.getElementById('toast');
      box.textContent = message;
      box.className = failed ? 'show failed' : 'show';
      clearTimeout(toast.timer);
      toast.timer = setTimeout(() => {
        box.className = '';
      }, failed ? 8000 : 3500);
    }

    function errorBox(error) {
      return h('div', { class: 'error' }, error.message || String(error));
    }

    function badge(status) {
      return h('span', { class: 'badge status-' + String(status).toLowerCase() }, status);
    }

    function time(text) {
      if (!text) {
        return '';
      }
      const local = new Date(text);
      return h('time', { datetime: text, title: isNaN(local) ? text : 'local: ' + local.toLocaleString() },
        formatTime(text));
    }

    function jsonBlock(title, value, open) {
      const shown = prettyJson(value, 20000);
      const pre = h('pre', { class: 'json' }, shown.text);
      const more = shown.cut
        ? h('button', {
          type: 'button',
          class: 'link',
          onclick: (event) => {
            pre.textContent = prettyJson(value).text;
            event.target.remove();
          },
        }, 'show all')
        : null;
      const name = title.toLowerCase().replace(/[^a-z]+/g, '-');
      return h('details', { class: 'block ' + name, open }, h('summary', {}, title), pre, more);
    }

    function setView(...nodes) {
      main.replaceChildren(...nodes);
    }

    function refreshEvery(ms, action) {
      clearInterval(refreshTimer);
      refreshTimer = ms ? setInterval(action, ms) : null;
    }

    /** A form field with its label. */
    function field(label, input) {
      return h('label', { class: 'field' }, h('span', {}, label), input);
    }

    /**
     * A JSON editor: a textarea named `name` with its label, checked as it is typed; an
     * error shows under it (`#NAME-error`, announced, and the textarea marked invalid).
     * `read()` gives `{ok, value}` and, when it is not JSON, shows why and focuses it.
     */
    function jsonEditor(label, name, placeholder) {
      const error = h('span', { class: 'invalid', id: name + '-error', 'aria-live': 'polite' });
      const area = h('textarea', {
        name,
        id: name,
        rows: 3,
        placeholder,
        spellcheck: 'false',
        'aria-describedby': name + '-error',
      });
      const check = () => {
        const parsed = parseJson(area.value);
        error.textContent = parsed.ok ? '' : parsed.message;
        if (parsed.ok) {
          area.removeAttribute('aria-invalid');
        } else {
          area.setAttribute('aria-invalid', 'true');
        }
        return parsed;
      };
      area.addEventListener('input', check);
      // The message is outside the label, so it is not part of the textarea's name.
      const element = h('div', { class: 'field' }, h('label', { for: name }, label), area, error);
      return {
        element,
        read() {
          const parsed = check();
          if (!parsed.ok) {
            area.focus();
          }
          return parsed;
        },
      };
    }

    /** `datetime-local` value (local time) ↔ RFC 3339 (UTC). */
    function localToIso(value) {
      if (!value) {
        return '';
      }
      const date = new Date(value);
      return isNaN(date) ? '' : date.toISOString();
    }

    function isoToLocal(value) {
      const date = new Date(value || '');
      if (!value || isNaN(date)) {
        return '';
      }
      const pad = (n) => String(n).padStart(2, '0');
      return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) + 'T' +
        pad(date.getHours()) + ':' + pad(date.getMinutes());
    }

    // ------------------------------------------------------------ instances

    async function instancesView(route, mine) {
      const params = route.params;
      const chosen = new Set((params.get('status') || '').split(',').filter(Boolean));
      const form = h('form', { class: 'filters', autocomplete: 'off' },
        h('fieldset', { class: 'statuses' }, h('legend', {}, 'Status'),
          STATUSES.map((status) => h('label', { class: 'check' },
            h('input', { type: 'checkbox', name: 'status', value: status, checked: chosen.has(status) }),
            status))),
        field('Name', h('input', { name: 'name', value: params.get('name') || '', placeholder: 'orchestration', spellcheck: 'false' })),
        field('Id prefix', h('input', { name: 'prefix', value: params.get('prefix') || '', spellcheck: 'false' })),
        field('Created from (local)', h('input', { type: 'datetime-local', name: 'createdFrom', value: isoToLocal(params.get('createdFrom')) })),
        field('Created before (local)', h('input', { type: 'datetime-local', name: 'createdTo', value: isoToLocal(params.get('createdTo')) })),
        field('Per page', h('select', { name: 'pageSize' },
          ['25', '50', '100', '250', '500'].map((size) =>
            h('option', { value: size, selected: (params.get('pageSize') || '50') === size }, size)))),
        h('div', { class: 'buttons' },
          h('button', { type: 'submit' }, 'Apply'),
          h('a', { class: 'button secondary', href: '#/instances' }, 'Clear')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const data = new FormData(form);
        location.hash = '#/instances' + queryString({
          status: data.getAll('status').join(','),
          name: data.get('name').trim(),
          prefix: data.get('prefix').trim(),
          createdFrom: localToIso(data.get('createdFrom')),
          createdTo: localToIso(data.get('createdTo')),
          pageSize: data.get('pageSize') === '50' ? '' : data.get('pageSize'),
        });
      });
      const results = h('div', { class: 'results' }, h('p', { class: 'muted' }, 'Loading…'));
      const live = h('input', { type: 'checkbox', name: 'live' });
      const counts = h('nav', { class: 'counts', 'aria-label': 'Instances by status' });
      setView(h('h1', {}, 'Instances'), counts, form,
        h('div', { class: 'toolbar' },
          h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Refresh'),
          h('label', { class: 'check' }, live, 'refresh every 5 s')),
        results);
      live.addEventListener('change', () => refreshEvery(live.checked ? 5000 : 0, load));

      const query = {
        status: params.get('status'),
        name: params.get('name'),
        prefix: params.get('prefix'),
        createdFrom: params.get('createdFrom'),
        createdTo: params.get('createdTo'),
        pageSize: params.get('pageSize'),
        continuation: params.get('continuation'),
      };
      async function load() {
        // The counts are a convenience: when they cannot be read the list still shows.
        api('GET', 'stats').then((stats) => {
          if (mine === generation) {
            counts.replaceChildren(...statusCounts(stats.instances, params.get('status')));
          }
        }, (error) => {
          if (mine === generation) {
            counts.replaceChildren(h('span', { class: 'muted small' }, 'Counts: ' + error.message));
          }
        });
        try {
          const page = await api('GET', 'instances' + queryString(query));
          if (mine !== generation) {
            return;
          }
          results.replaceChildren(instanceTable(page, params));
        } catch (error) {
          if (mine === generation) {
            results.replaceChildren(errorBox(error));
          }
        }
      }
      await load();
    }

    /**
     * Links to the list by status with their counts (`Failed 3`), the filter in use marked;
     * statuses without instances are left out, but for the one in use.
     */
    function statusCounts(counts, current) {
      const links = [h('a', {
        href: '#/instances',
        class: 'count' + (current ? '' : ' current'),
        'aria-current': current ? null : 'true',
      }, h('span', { class: 'label' }, 'All'), ' ', h('span', { class: 'num' }, counts.total.toLocaleString('en-US')))];
      for (const status of STATUSES.concat(['Unknown'])) {
        const count = counts.byStatus[status] || 0;
        if (count === 0 && current !== status) {
          continue;
        }
        links.push(h('a', {
          href: '#/instances?status=' + status,
          class: 'count' + (current === status ? ' current' : ''),
          'data-status': status,
          'aria-current': current === status ? 'true' : null,
        }, badge(status), ' ', h('span', { class: 'num' }, count.toLocaleString('en-US'))));
      }
      return links;
    }

    function instanceTable(page, params) {
      if (page.instances.length === 0) {
        return h('p', { class: 'muted' }, params.get('continuation') ? 'No more instances.' : 'No instances match.');
      }
      const columns = ['Instance id', 'Name', 'Status', 'Created (UTC)', 'Updated (UTC)'];
      const rows = page.instances.map((instance) => h('tr', {},
        h('td', { class: 'id', 'data-label': columns[0] }, h('a', { href: instanceHash(instance.instanceId) }, instance.instanceId),
          instance.parentInstanceId ? h('span', { class: 'muted small' }, ' sub') : null),
        h('td', { 'data-label': columns[1] }, instance.name, instance.version ? h('span', { class: 'muted' }, ' v' + instance.version) : null),
        h('td', { 'data-label': columns[2] }, badge(instance.runtimeStatus),
          instance.failure ? h('div', { class: 'muted small clip', title: instance.failure }, instance.failure) : null),
        h('td', { 'data-label': columns[3] }, time(instance.createdTime)),
        h('td', { 'data-label': columns[4] }, time(instance.lastUpdatedTime))));
      return h('div', {},
        h('table', { class: 'list instances cards' },
          h('thead', {}, h('tr', {}, columns.map((t) => h('th', {}, t)))),
          h('tbody', {}, rows)),
        pager(page.continuationToken, params, '#/instances'));
    }

    /** Keyset paging goes forward only: a link to the next page and back to the first. */
    function pager(token, params, base) {
      const next = new URLSearchParams(params);
      const first = new URLSearchParams(params);
      first.delete('continuation');
      const links = [];
      if (params.get('continuation')) {
        links.push(h('a', { class: 'button secondary', href: base + (first.toString() ? '?' + first : '') }, '⇤ First page'));
      }
      if (token) {
        next.set('continuation', token);
        links.push(h('a', { class: 'button secondary', href: base + '?' + next }, 'Next page →'));
      }
      return h('div', { class: 'pager' }, links);
    }

    // ------------------------------------------------------------ one instance

    async function instanceView(route, mine) {
      const id = route.id;
      const path = 'instances/' + encodeURIComponent(id);
      const header = h('div', {}, h('h1', {}, 'Instance ', h('span', { class: 'id' }, id)));
      const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
      setView(h('p', {}, h('a', { href: '#/instances' }, '← Instances')), header, body);
      /** What was last drawn, to redraw only when something changed. */
      let drawn = null;
      let historyLimit = 200;

      async function load(force) {
        try {
          const status = await api('GET', path);
          // Every commit that appends history moves `lastUpdatedTime`: while it stays, the
          // history (a whole read on the server) is not fetched again.
          const stamp = status.runtimeStatus + status.lastUpdatedTime;
          if (mine !== generation || (!force && stamp === drawn)) {
            return;
          }
          const history = await api('GET', path + '/history' + queryString({ limit: historyLimit }));
          if (mine !== generation) {
            return;
          }
          drawn = stamp;
          body.replaceChildren(
            statusPanel(status),
            actionsPanel(status, () => load(true)),
            payloads(status),
            timelinePanel(history.timeline, status),
            historyPanel(history, status, () => {
              historyLimit = Math.min(historyLimit * 4, 5000);
              load(true);
            }));
          const finished = TERMINAL.includes(status.runtimeStatus) || status.runtimeStatus === 'Unknown';
          refreshEvery(finished ? 0 : 2000, () => load(false));
        } catch (error) {
          if (mine === generation) {
            refreshEvery(0);
            body.replaceChildren(errorBox(error));
          }
        }
      }
      await load(true);
    }

    function statusPanel(status) {
      const rows = [
        ['Status', badge(status.runtimeStatus)],
        ['Name', status.name + (status.version ? ' (version ' + status.version + ')' : '')],
        ['Created (UTC)', time(status.createdTime)],
        ['Updated (UTC)', time(status.lastUpdatedTime)],
        ['Execution id', h('span', { class: 'id' }, status.executionId)],
      ];
      if (status.parentInstanceId) {
        rows.push(['Parent', h('a', { href: instanceHash(status.parentInstanceId) }, status.parentInstanceId)]);
      }
      if (!TERMINAL.includes(status.runtimeStatus)) {
        rows.push(['', h('span', { class: 'muted small' }, 'refreshing every 2 s while it runs')]);
      }
      return h('dl', { class: 'facts' }, rows.map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));
    }

    function actionsPanel(status, reload) {
      const allowed = new Set(status.actions);
      if (allowed.size === 0) {
        return h('section', { class: 'panel' }, h('h2', {}, 'Actions'),
          h('p', { class: 'muted' }, 'None: this instance is set aside (its status is unknown to this build); see ARCHITECTURE.md, "Corrupt rows".'));
      }
      const id = status.instanceId;
      const path = 'instances/' + encodeURIComponent(id) + '/';
      const reason = h('input', { name: 'reason', placeholder: 'Reason (recorded in history)', spellcheck: 'false' });
      const recursive = h('input', { type: 'checkbox', name: 'recursive' });
      const sameId = h('input', { type: 'checkbox', name: 'sameId' });
      const eventName = h('input', { name: 'eventName', placeholder: 'Event name', spellcheck: 'false' });
      const eventData = jsonEditor('Data', 'eventData', 'Event data as JSON (empty: null)');

      async function run(label, action, payload, after) {
        try {
          const answer = action === 'purge'
            ? await api('DELETE', 'instances/' + encodeURIComponent(id))
            : await api('POST', path + action, payload);
          toast(answer && answer.message ? answer.message : label + ' done');
          if (after) {
            after(answer);
          } else {
            setTimeout(reload, 300);
          }
        } catch (error) {
          toast(label + ': ' + error.message, true);
        }
      }
      const button = (action, label, handler, danger) => allowed.has(action)
        ? h('button', { type: 'button', class: danger ? 'danger' : '', onclick: handler }, label)
        : null;
      const common = h('div', { class: 'row' },
        field('Reason', reason),
        button('suspend', 'Suspend', () => run('Suspend', 'suspend', { reason: reason.value })),
        button('resume', 'Resume', () => run('Resume', 'resume', { reason: reason.value })),
        button('rewind', 'Rewind', () => run('Rewind', 'rewind', { reason: reason.value })),
        allowed.has('terminate') ? h('span', { class: 'group' },
          button('terminate', 'Terminate', () => {
            if (confirm('Terminate ' + id + (recursive.checked ? ' and its sub-orchestrations' : '') + '?')) {
              run('Terminate', 'terminate', { reason: reason.value, recursive: recursive.checked });
            }
          }, true),
          h('label', { class: 'check' }, recursive, 'with sub-orchestrations')) : null);
      const raise = allowed.has('raise') ? h('div', { class: 'row' },
        field('Event', eventName), eventData.element,
        button('raise', 'Raise event', () => {
          if (eventName.value.trim() === '') {
            toast('Name the event to raise.', true);
            eventName.focus();
            return;
          }
          const data = eventData.read();
          if (data.ok) {
            run('Raise event', 'raise', { name: eventName.value.trim(), data: data.value });
          }
        })) : null;
      const more = h('div', { class: 'row' },
        allowed.has('restart') ? h('span', { class: 'group' },
          button('restart', 'Restart', () => {
            if (confirm('Start ' + status.name + ' again with the same input' + (sameId.checked ? ', under this id' : ', under a new id') + '?')) {
              run('Restart', 'restart', { newInstanceId: !sameId.checked }, (answer) => {
                location.hash = instanceHash(answer.instanceId);
              });
            }
          }),
          h('label', { class: 'check' }, sameId, 'under the same id')) : null,
        button('purge', 'Purge', () => {
          if (confirm('Delete ' + id + ' and its history? This cannot be undone.')) {
            run('Purge', 'purge', undefined, () => {
              location.hash = '#/instances';
            });
          }
        }, true));
      return h('section', { class: 'panel' }, h('h2', {}, 'Actions'), common, raise, more);
    }

    function payloads(status) {
      const blocks = [];
      if (status.failureDetails) {
        const chain = [];
        for (let failure = status.failureDetails; failure; failure = failure.inner) {
          chain.push(h('li', {}, h('strong', {}, failure.error_type), ': ', failure.message,
            failure.non_retriable ? h('span', { class: 'muted' }, ' (not retriable)') : null));
        }
        blocks.push(h('section', { class: 'panel failure' }, h('h2', {}, 'Failure'), h('ul', {}, chain)));
      }
      blocks.push(jsonBlock('Input', status.input, false));
      blocks.push(jsonBlock('Output', status.output, TERMINAL.includes(status.runtimeStatus) && status.output !== null));
      if (status.customStatus !== null && status.customStatus !== undefined) {
        blocks.push(jsonBlock('Custom status', status.customStatus, true));
      }
      return h('div', {}, blocks);
    }

    function targetLink(target) {
      if (!target) {
        return null;
      }
      const entity = parseEntityId(target);
      return entity
        ? h('a', { href: entityHash(entity.name, entity.key) }, target)
        : h('a', { href: instanceHash(target) }, target);
    }

    function timelinePanel(timeline, status) {
      const section = h('section', { class: 'panel' }, h('h2', {}, 'Timeline'));
      if (!timeline || timeline.start === null) {
        section.appendChild(h('p', { class: 'muted' }, 'No history yet.'));
        return section;
      }
      const layout = layoutTimeline(timeline, Date.now());
      const bar = (row) => {
        const element = h('div', {
          class: 'bar ' + row.span.outcome + ' kind-' + row.span.kind,
          title: spanLabel(row.span) + ': ' + row.span.outcome +
            (row.duration === null ? '' : ', ' + formatDuration(row.duration)) +
            (row.span.failure ? '\n' + row.span.failure : ''),
        });
        // CSSOM, not a style attribute: allowed by the content security policy.
        element.style.left = row.left + '%';
        element.style.width = row.width + '%';
        return element;
      };
      const dueTick = (row) => {
        if (row.due === null) {
          return null;
        }
        const tick = h('div', { class: 'due', title: 'due' });
        tick.style.left = row.due + '%';
        return tick;
      };
      // A failed execution's end is marked as a failure.
      const failedEnd = (marker) => marker.kind === 'ExecutionCompleted' && status.runtimeStatus === 'Failed';
      const ticks = layout.markers.map(({ marker, left }) => {
        const tick = h('div', {
          class: 'tick tick-' + marker.kind + (failedEnd(marker) ? ' tick-failed' : ''),
          title: marker.kind + (marker.label ? ': ' + marker.label : '') + (marker.target ? ' → ' + marker.target : ''),
        });
        tick.style.left = left + '%';
        return tick;
      });
      const rows = layout.rows.map((row) => h('div', { class: 'lane' },
        h('div', { class: 'label', title: row.span.name },
          spanLabel(row.span), ' ', targetLink(row.span.target)),
        h('div', { class: 'track' }, bar(row), dueTick(row)),
        h('div', { class: 'took muted' }, row.duration === null ? row.span.outcome : formatDuration(row.duration))));
      const finished = timeline.end !== null;
      section.append(
        h('p', { class: 'muted small' },
          formatDuration(layout.t1 - layout.t0) + (finished ? '' : ' so far') + ' · ' +
          timeline.spans.length + ' spans · ' + timeline.markers.length + ' events · hover for details',
          timeline.truncated ? h('strong', {}, ' · cut at the first 2,000') : null),
        h('div', { class: 'timeline' },
          h('div', { class: 'lane markers' }, h('div', { class: 'label' }, 'events'), h('div', { class: 'track' }, ticks), h('div', {})),
          rows),
        legend(layout.markers));
      return section;
    }

    function legend(markers) {
      const list = markers.map(({ marker }) => h('li', {},
        h('span', { class: 'dot tick-' + marker.kind }), ' ', marker.kind,
        marker.label ? ': ' + marker.label : '', marker.target ? ' → ' : '', targetLink(marker.target)));
      return markers.length === 0 ? null : h('details', { class: 'block' }, h('summary', {}, 'Events on the timeline'), h('ul', { class: 'events' }, list));
    }

    function historyPanel(history, status, more) {
      const rows = history.events.map((event) => {
        const details = h('td', { class: 'details' });
        const summary = summarizeDetails(event.details);
        if (summary) {
          const expand = h('button', {
            type: 'button',
            class: 'link',
            onclick: () => details.replaceChildren(h('pre', { class: 'json' }, prettyJson(event.details).text)),
          }, summary);
          details.appendChild(expand);
        }
        details.setAttribute('data-label', 'Details');
        // Failed calls, and the end of a failed execution, stand out.
        const failed = event.type.endsWith('Failed') || (event.details && event.details.status === 'Failed');
        return h('tr', { class: 'event-' + event.type + (failed ? ' failed' : '') },
          h('td', { class: 'num', 'data-label': '#' }, event.index),
          h('td', { class: 'num', 'data-label': 'Seq' }, event.eventId === null ? '' : event.eventId),
          h('td', { 'data-label': 'Time (UTC)' }, time(event.timestamp)),
          h('td', { 'data-label': 'Event' }, event.type),
          details);
      });
      const shown = history.events.length;
      return h('section', { class: 'panel' },
        h('h2', {}, 'History ', h('span', { class: 'muted small' }, shown < history.total ? shown + ' of ' + history.total + ' events' : history.total + ' events')),
        h('table', { class: 'list history cards' },
          h('thead', {}, h('tr', {}, ['#', 'Seq', 'Time (UTC)', 'Event', 'Details (click to expand)'].map((t) => h('th', {}, t)))),
          h('tbody', {}, rows)),
        shown < history.total ? h('button', { type: 'button', class: 'secondary', onclick: more }, 'Show more') : null);
    }

    // ------------------------------------------------------------ overview


    async function overviewView(route, mine) {
      const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
      setView(h('h1', {}, 'Task hub overview'), body);
      async function load() {
        try {
          const overview = await api('GET', 'overview');
          if (mine !== generation) {
            return;
          }
          body.replaceChildren(
            h('p', { class: 'muted small' }, 'As of ', time(overview.asOf), ' UTC · refreshed every 5 s'),
            h('div', { class: 'columns' }, countsPanel(overview), backlogPanel(overview.backlog)),
            chartsPanel(overview.series, Date.parse(overview.asOf)));
        } catch (error) {
          if (mine === generation) {
            body.replaceChildren(errorBox(error));
          }
        }
      }
      await load();
      if (mine === generation) {
        refreshEvery(5000, load);
      }
    }

    function countsPanel(overview) {
      const entities = overview.entities;
      const waiting = entities.byStatus.Pending || 0;
      return h('section', { class: 'panel counts' },
        h('h2', {}, 'Instances ', h('span', { class: 'muted small' }, overview.instances.total.toLocaleString('en-US'))),
        h('nav', { class: 'counts', 'aria-label': 'Instances by status' }, statusCounts(overview.instances, null)),
        h('p', { class: 'small' }, h('a', { href: '#/entities' }, 'Entities'), ': ',
          entities.total.toLocaleString('en-US'),
          waiting ? h('span', { class: 'muted' }, ' (' + waiting.toLocaleString('en-US') + ' before their first operation)') : null));
    }

    function backlogPanel(backlog) {
      const rows = [
        ['Due messages', backlog.dueMessages, 'ready for a turn now'],
        ['Durable timers', backlog.futureMessages, 'messages not due yet: timers and retry waits'],
        ['Queued activities', backlog.queuedActivities, 'waiting for a worker'],
        ['Running activities', backlog.runningActivities, 'leased by a worker'],
      ];
      return h('section', { class: 'panel backlog' },
        h('h2', {}, 'Backlog'),
        h('dl', { class: 'facts' },
          rows.map(([name, count, note]) => [
            h('dt', {}, name),
            h('dd', {}, h('span', { class: 'num strong' }, count.toLocaleString('en-US')), ' ', h('span', { class: 'muted small' }, note))]),
          h('dt', {}, 'Next wake-up'),
          h('dd', {}, backlog.nextDueAt ? time(backlog.nextDueAt) : h('span', { class: 'muted' }, 'nothing scheduled'))));
    }

    function chartsPanel(series, now) {
      const windowMs = chartWindow(series.since, now);
      const charts = [
        ['throughput', 'Finished per minute', ['completed', 'failed', 'terminated'], 'completed, failed and terminated'],
        ['failures', 'Failed per minute', ['failed'], 'instances that failed'],
      ];
      const since = series.since
        ? ['Sampled every ' + series.intervalSeconds + ' s by this dashboard server since ', time(series.since),
          ' UTC; a count that shrank (a purge, a rewind) adds nothing.']
        : ['Sampling has just started.'];
      return h('section', { class: 'panel charts' },
        h('h2', {}, 'The last ' + formatDuration(windowMs)),
        h('div', { class: 'columns' }, charts.map(([name, title, keys, what]) => chart(series.points, name, title, keys, what, now, windowMs))),
        h('p', { class: 'muted small' }, since));
    }

    function chart(points, name, title, keys, what, now, windowMs) {
      const width = 600;
      const height = 120;
      const { max, bars } = chartBars(points, keys, width, height, now, windowMs);
      const last = bars.length ? bars[bars.length - 1].rate : 0;
      const peak = bars.reduce((top, bar) => Math.max(top, bar.rate), 0);
      const summary = title + ': latest ' + formatRate(last) + ', peak ' + formatRate(peak) + ' over the last ' + formatDuration(windowMs);
      const picture = svg('svg', {
        viewBox: '0 0 ' + width + ' ' + height,
        preserveAspectRatio: 'none',
        role: 'img',
        'aria-label': summary,
      },
      [0.5, 1].map((level) => svg('line', { class: 'grid', x1: 0, x2: width, y1: height * (1 - level), y2: height * (1 - level) })),
      bars.map((bar) => svg('rect', { class: 'bar', x: bar.x, y: bar.y, width: bar.width, height: bar.height },
        svg('title', {}, formatTime(bar.at) + ': ' + formatRate(bar.rate) + ' per minute'))),
      svg('line', { class: 'axis', x1: 0, x2: width, y1: height, y2: height }));
      return h('figure', { class: 'chart ' + name },
        h('div', { class: 'plot' },
          h('span', { class: 'scale muted small', 'aria-hidden': 'true' }, formatRate(max)),
          picture,
          h('div', { class: 'ticks muted small', 'aria-hidden': 'true' },
            h('span', {}, '−' + formatDuration(windowMs)), h('span', {}, '−' + formatDuration(windowMs / 2)), h('span', {}, 'now'))),
        h('figcaption', {}, h('strong', {}, title), ' (' + what + '): latest ', h('span', { class: 'num' }, formatRate(last)),
          ', peak ', h('span', { class: 'num' }, formatRate(peak)),
          bars.length ? null : h('span', { class: 'muted' }, ' · the first bar comes with the second sample')));
    }

    // ------------------------------------------------------------ entities

    async function entitiesView(route, mine) {
      const params = route.params;
      const form = h('form', { class: 'filters', autocomplete: 'off' },
        field('Entity name', h('input', { name: 'name', value: params.get('name') || '', spellcheck: 'false' })),
        field('Key prefix', h('input', { name: 'keyPrefix', value: params.get('keyPrefix') || '', spellcheck: 'false' })),
        h('div', { class: 'buttons' },
          h('button', { type: 'submit' }, 'Apply'),
          h('a', { class: 'button secondary', href: '#/entities' }, 'Clear')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const data = new FormData(form);
        location.hash = '#/entities' + queryString({ name: data.get('name').trim(), keyPrefix: data.get('keyPrefix') });
      });
      const results = h('div', { class: 'results' }, h('p', { class: 'muted' }, 'Loading…'));
      setView(h('h1', {}, 'Entities'), form, results);
      try {
        const page = await api('GET', 'entities' + queryString({
          name: params.get('name'),
          keyPrefix: params.get('keyPrefix'),
          continuation: params.get('continuation'),
        }));
        if (mine !== generation) {
          return;
        }
        if (page.entities.length === 0) {
          results.replaceChildren(h('p', { class: 'muted' }, 'No entities match.'));
          return;
        }
        const columns = ['Name', 'Key', 'Last modified (UTC)', 'Locked by', 'Waiting'];
        const rows = page.entities.map((entity) => h('tr', {},
          h('td', { 'data-label': columns[0] }, entity.name),
          h('td', { class: 'id', 'data-label': columns[1] }, h('a', { href: entityHash(entity.name, entity.key) }, entity.key === '' ? '(empty key)' : entity.key)),
          h('td', { 'data-label': columns[2] }, time(entity.lastModified)),
          h('td', { 'data-label': columns[3] }, entity.lockedBy ? h('a', { href: instanceHash(entity.lockedBy) }, entity.lockedBy) : 'nobody'),
          h('td', { class: 'num', 'data-label': columns[4] }, entity.backlog)));
        results.replaceChildren(
          h('table', { class: 'list entities cards' },
            h('thead', {}, h('tr', {}, columns.map((t) => h('th', {}, t)))),
            h('tbody', {}, rows)),
          pager(page.continuationToken, params, '#/entities'));
      } catch (error) {
        if (mine === generation) {
          results.replaceChildren(errorBox(error));
        }
      }
    }

    async function entityView(route, mine) {
      const key = route.key === '$' ? '' : route.key;
      const path = 'entities/' + encodeURIComponent(route.name) + '/' + encodeURIComponent(key === '' ? '$' : key);
      const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
      setView(h('p', {}, h('a', { href: '#/entities' }, '← Entities')),
        h('h1', {}, 'Entity ', h('span', { class: 'id' }, '@' + route.name + '@' + key)), body);
      const operation = h('input', { name: 'operation', placeholder: 'Operation', spellcheck: 'false' });
      const input = jsonEditor('Input', 'input', 'Input as JSON (empty: null)');
      // Only while this view is still the one shown.
      const reload = () => setTimeout(() => mine === generation && entityView(route, mine), 500);
      const signal = h('section', { class: 'panel' }, h('h2', {}, 'Actions'),
        h('div', { class: 'row' }, field('Operation', operation), input.element,
          h('button', {
            type: 'button',
            onclick: async () => {
              if (operation.value.trim() === '') {
                toast('Name the operation to signal.', true);
                operation.focus();
                return;
              }
              const value = input.read();
              if (!value.ok) {
                return;
              }
              try {
                const answer = await api('POST', path + '/signal', { operation: operation.value.trim(), input: value.value });
                toast(answer.message);
                reload();
              } catch (error) {
                toast('Signal: ' + error.message, true);
              }
            },
          }, 'Signal'),
          h('button', {
            type: 'button',
            class: 'danger',
            onclick: async () => {
              if (!confirm('Delete the state of @' + route.name + '@' + key + '?')) {
                return;
              }
              try {
                toast((await api('DELETE', path)).message);
                reload();
              } catch (error) {
                toast('Delete: ' + error.message, true);
              }
            },
          }, 'Delete')),
        h('p', { class: 'muted small' }, 'Signals are one-way: a worker runs the operation, then Refresh shows the new state.'));
      try {
        const entity = await api('GET', path);
        if (mine !== generation) {
          return;
        }
        body.replaceChildren(
          h('dl', { class: 'facts' },
            h('dt', {}, 'Last modified (UTC)'), h('dd', {}, time(entity.lastModified)),
            h('dt', {}, 'Locked by'), h('dd', {}, entity.lockedBy ? h('a', { href: instanceHash(entity.lockedBy) }, entity.lockedBy) : 'nobody'),
            h('dt', {}, 'Waiting for the lock'), h('dd', {}, String(entity.backlog))),
          h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'secondary', onclick: () => entityView(route, mine) }, 'Refresh')),
          jsonBlock('State', entity.state, true),
          signal);
      } catch (error) {
        if (mine === generation) {
          // A missing entity can still be signalled into existence.
          body.replaceChildren(errorBox(error), error.status === 404 ? signal : null);
        }
      }
    }

    // ------------------------------------------------------------ navigation

    function navigate() {
      generation += 1;
      refreshEvery(0);
      const route = parseRoute(location.hash);
      const section = route.view.startsWith('entit') ? 'entities' : route.view === 'overview' ? 'overview' : 'instances';
      for (const link of document.querySelectorAll('[data-nav]')) {
        link.classList.toggle('active', link.dataset.nav === section);
        if (link.dataset.nav === section) {
          link.setAttribute('aria-current', 'page');
        } else {
          link.removeAttribute('aria-current');
        }
      }
      const views = {
        instances: instancesView,
        instance: instanceView,
        entities: entitiesView,
        entity: entityView,
        overview: overviewView,
      };
      const entityKey = route.key === '$' ? '' : route.key;
      document.title = 'durable · ' + (route.id || (route.view === 'entity' ? '@' + route.name + '@' + entityKey : route.view));
      views[route.view](route, generation).catch((error) => setView(errorBox(error)));
    }

    document.getElementById('goto').addEventListener('submit', (event) => {
      event.preventDefault();
      const id = event.target.elements.id.value.trim();
      if (id) {
        const entity = parseEntityId(id);
        location.hash = entity ? entityHash(entity.name, entity.key) : instanceHash(id);
        event.target.reset();
      }
    });
    window.addEventListener('hashchange', navigate);
    navigate();
  })();
}
