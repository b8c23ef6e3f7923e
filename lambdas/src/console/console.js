// The status page's script: reads the API this page is served by (relative URLs, so it
// works at the local server's root, behind API Gateway and through `make console`), and
// draws totals, a 7-day chart, the job list with filter and paging, a job's detail with
// cancel and re-run, and the schedules. No libraries, no network beyond the API.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { cursors: [null], page: 0, next: null, selected: null, timer: null, listed: 0 };
const TERMINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'SKIPPED'];

function notice(text) { $('notice').textContent = text; }

// Behind API Gateway with the JWT authorizer the page itself is public and its API calls
// carry a bearer token the user pastes once; it stays in this tab's session storage only.
// Locally and through `make console` no token is needed (or the proxy signs the calls).
const TOKEN_KEY = 'job-api-token';

function authorization() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

function askForToken(message) {
  $('sign-in').hidden = false;
  notice(message);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { accept: 'application/json', ...authorization() } });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (response.status === 401) {
    const had = sessionStorage.getItem(TOKEN_KEY) !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(had ? 'The API refused the access token (expired?): paste a new one below.'
      : 'This API needs an access token: paste one below.');
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : (body && body.message) || `HTTP ${response.status}`;
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function time(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+/, '').replace('Z', '') : '–'; }

async function loadStats() {
  const stats = await api('jobs/stats');
  for (const dd of document.querySelectorAll('#totals dd')) dd.textContent = String(stats[dd.dataset.field] ?? 0);
  $('as-of').textContent = `As of ${time(stats.asOf)} UTC`;
  drawChart(stats.daily.slice().reverse());
}

// Grouped bars per day (oldest left); each bar has a <title>, and the figure a text summary.
function drawChart(days) {
  const series = ['succeeded', 'failed', 'retries'];
  const max = Math.max(1, ...days.flatMap((d) => series.map((s) => d[s] || 0)));
  const width = 700, height = 220, top = 16, bottom = 40, left = 36;
  const slot = (width - left) / days.length, bar = Math.min(22, (slot - 12) / series.length);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const summary = days.map((d) => `${d.date}: ${d.succeeded} succeeded, ${d.failed} failed, ${d.retries} retries`).join('; ');
  svg.setAttribute('aria-label', `Jobs per day, last 7 days. ${summary}`);
  const el = (name, attrs, text) => {
    const node = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.appendChild(node);
    return node;
  };
  const plot = height - top - bottom;
  el('line', { x1: left, y1: top + plot, x2: width, y2: top + plot, stroke: '#4a4a4a' });
  el('text', { x: 2, y: top + 8 }, String(max));
  el('text', { x: 2, y: top + plot }, '0');
  days.forEach((day, i) => {
    const x0 = left + i * slot + 6;
    series.forEach((name, j) => {
      const value = day[name] || 0;
      const h = (value / max) * plot;
      const rect = el('rect', { class: `${name} day-bar`, x: x0 + j * bar, y: top + plot - h, width: bar - 2, height: Math.max(h, 0.5) });
      const title = document.createElementNS(ns, 'title');
      title.textContent = `${day.date}: ${value} ${name}`;
      rect.appendChild(title);
    });
    el('text', { x: x0, y: height - bottom + 16, class: 'day' }, day.date.slice(5));
  });
  const chart = $('chart');
  chart.replaceChildren(svg);
  chart.dataset.days = String(days.length);
}

async function loadJobs() {
  const params = new URLSearchParams({ limit: $('limit').value });
  if ($('status-filter').value) params.set('status', $('status-filter').value);
  if ($('submitter-filter').value) params.set('submittedBy', $('submitter-filter').value);
  const cursor = state.cursors[state.page];
  if (cursor) params.set('cursor', cursor);
  // A slower, older request (an automatic refresh) must not overwrite a newer one.
  const ticket = ++state.listed;
  const page = await api(`jobs?${params}`);
  if (ticket !== state.listed) return;
  state.next = page.nextCursor;
  $('jobs').dataset.query = params.toString();
  const body = $('jobs').querySelector('tbody');
  const rows = page.jobs.map((job) => {
    const tr = document.createElement('tr');
    tr.dataset.jobId = job.jobId;
    cell(tr, time(job.createdAt));
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link';
    // The end of the id: a v7 id begins with its time, alike for jobs of the same minute.
    open.textContent = `…${job.jobId.slice(-12)}`;
    open.setAttribute('aria-label', `Show job ${job.jobId}`);
    open.addEventListener('click', () => showJob(job.jobId, true));
    cell(tr, '').appendChild(open);
    cell(tr, job.task);
    cell(tr, job.submittedBy || '–', 'principal');
    const stopping = job.cancelRequested && !TERMINAL.includes(job.status);
    cell(tr, job.status + (stopping ? ' (cancelling)' : ''), `status ${job.status}`);
    cell(tr, `${job.attempts}/${job.maxAttempts}`);
    cell(tr, job.lastError || '', 'error');
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = cell(tr, 'No jobs.');
    td.colSpan = 7;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $('page-label').textContent = `Page ${state.page + 1}`;
  $('prev-page').disabled = state.page === 0;
  $('first-page').disabled = state.page === 0;
  $('next-page').disabled = !state.next;
}

async function showJob(id, focus) {
  const job = await api(`jobs/${encodeURIComponent(id)}`);
  state.selected = job;
  const terminal = TERMINAL.includes(job.status);
  const fields = [
    ['Job', job.jobId], ['Task', job.task], ['Status', job.status + (job.cancelRequestedAt && !terminal ? ' (cancel requested)' : '')],
    ['Attempts', `${job.attempts} of ${job.maxAttempts}`], ['Source', job.source.type + (job.source.name ? ` ${job.source.name}` : '')],
    ['Created', time(job.createdAt)], ['Started', time(job.startedAt)], ['Finished', time(job.finishedAt)],
    ['Last error', job.lastError || '–'], ['Input', JSON.stringify(job.input)],
    ['Re-run of', job.rerunOf || '–'], ['Re-run by', job.rerunBy || '–'],
    ['Submitted by', job.submittedBy || '–'], ['Cancelled by', job.cancelledBy || '–'],
  ];
  const list = $('detail-fields');
  list.replaceChildren(...fields.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v; dd.dataset.field = k;
    return [dt, dd];
  }));
  $('detail-result').textContent = job.result === undefined ? '–' : JSON.stringify(job.result, null, 2);
  $('cancel-job').disabled = terminal || Boolean(job.cancelRequestedAt);
  $('rerun-job').disabled = !['FAILED', 'CANCELLED'].includes(job.status) || Boolean(job.rerunBy);
  $('detail').hidden = false;
  if (focus) $('detail-heading').focus();
}

async function loadSchedules() {
  const body = $('schedules').querySelector('tbody');
  try {
    const { schedules, nextCursor } = await api('jobs/schedules?limit=50');
    $('schedules-note').textContent = !schedules.length ? 'No schedules.'
      : nextCursor ? `The first ${schedules.length} schedules; GET /jobs/schedules?cursor=… lists the rest.` : '';
    body.replaceChildren(...schedules.map((s) => {
      const tr = document.createElement('tr');
      cell(tr, s.name); cell(tr, s.cron); cell(tr, s.timezone); cell(tr, s.task);
      cell(tr, s.createdBy || '–', 'principal');
      cell(tr, s.enabled ? (s.nextRun ? time(s.nextRun.utc) : '–') : 'paused');
      const history = document.createElement('button');
      history.type = 'button';
      history.textContent = 'History';
      history.setAttribute('aria-label', `History of schedule ${s.name}`);
      history.addEventListener('click', () => act(() => showHistory(s.name)));
      const del = document.createElement('button');
      del.type = 'button';
      del.textContent = 'Delete';
      del.setAttribute('aria-label', `Delete schedule ${s.name}`);
      del.addEventListener('click', () => act(async () => {
        if (!window.confirm(`Delete schedule ${s.name}?`)) return;
        await api(`jobs/schedules/${encodeURIComponent(s.name)}`, { method: 'DELETE' });
        notice(`Schedule ${s.name} deleted.`);
      }));
      const actions = cell(tr, '');
      actions.append(history, ' ', del);
      return tr;
    }));
  } catch (err) {
    body.replaceChildren();
    $('schedules-note').textContent = `Schedules unavailable: ${err.message}`;
  }
}

// A schedule's last expected runs next to the jobs they produced, and its changes.
async function showHistory(name) {
  const detail = await api(`jobs/schedules/${encodeURIComponent(name)}?runs=10`);
  $('history-heading').textContent = `History of ${name}`;
  $('history-note').textContent = `${detail.missed} missed of the last ${detail.runs.length} expected runs · overlap ${detail.overlap}` +
    (detail.enabled ? '' : ' · paused');
  $('history-runs').querySelector('tbody').replaceChildren(...detail.runs.map((run) => {
    const tr = document.createElement('tr');
    if (run.missed) tr.className = 'missed';
    cell(tr, time(run.scheduledFor.utc));
    cell(tr, run.state);
    cell(tr, run.status || '–');
    cell(tr, run.delayMs === undefined ? '–' : `${(run.delayMs / 1000).toFixed(1)} s`);
    cell(tr, run.status ? run.jobId : '–');
    return tr;
  }));
  $('history-changes').replaceChildren(...detail.changes.map((change) => {
    const li = document.createElement('li');
    const what = change.fields.includes('enabled') ? (change.after.enabled ? 'resumed' : 'paused') : 'changed';
    li.textContent = `${time(change.at)}: ${what} (${change.fields.join(', ')})${change.by ? ` by ${change.by}` : ''}`;
    return li;
  }));
  $('history').hidden = false;
  $('history-heading').focus();
}

async function refresh() {
  if (!$('sign-in').hidden) return; // waiting for a token: nothing would load
  try {
    await Promise.all([loadStats(), loadJobs(), loadSchedules()]);
    if (state.selected && !$('detail').hidden) await showJob(state.selected.jobId, false);
  } catch (err) {
    if (err.status !== 401) notice(`Could not load: ${err.message}`);
  }
}

async function act(action) {
  try {
    await action();
  } catch (err) {
    notice(err.message);
  }
  await refresh();
}

// Every 5 s while the page is visible; a hidden tab polls nothing, and catches up at
// once when it is shown again.
function schedule() {
  clearInterval(state.timer);
  const polling = $('auto-refresh').checked && document.visibilityState !== 'hidden';
  state.timer = polling ? setInterval(refresh, 5000) : null;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'hidden' && $('auto-refresh').checked) refresh();
  schedule();
});

function restartPaging() { state.cursors = [null]; state.page = 0; refresh(); }

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    $('sign-in').hidden = true;
    notice('');
    refresh();
  });
  $('status-filter').addEventListener('change', restartPaging);
  $('submitter-filter').addEventListener('change', restartPaging);
  $('limit').addEventListener('change', restartPaging);
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('refresh').addEventListener('click', refresh);
  $('auto-refresh').addEventListener('change', schedule);
  $('first-page').addEventListener('click', restartPaging);
  $('prev-page').addEventListener('click', () => { state.page = Math.max(0, state.page - 1); refresh(); });
  $('next-page').addEventListener('click', () => {
    if (!state.next) return;
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    refresh();
  });
  $('close-detail').addEventListener('click', () => { $('detail').hidden = true; state.selected = null; $('jobs-heading').focus(); });
  $('cancel-job').addEventListener('click', () => act(async () => {
    const id = state.selected.jobId;
    const job = await api(`jobs/${id}/cancel`, { method: 'POST' });
    notice(job.status === 'CANCELLED' ? `Job ${id} cancelled.` : `Cancel requested: job ${id} stops within one heartbeat.`);
  }));
  $('rerun-job').addEventListener('click', () => act(async () => {
    const id = state.selected.jobId;
    const rerun = await api(`jobs/${id}/rerun`, { method: 'POST' });
    notice(`Job ${id} re-run as ${rerun.jobId}.`);
    await showJob(rerun.jobId, true);
  }));
  refresh();
  schedule();
});
