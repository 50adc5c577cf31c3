// genlab dashboard: plain DOM code over the read-only JSON API (no build step).
/* global uPlot */
'use strict';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const COMPARE_METRICS = ['fid', 'kid', 'is', 'precision', 'recall', 'density', 'coverage', 'cas', 'modes_covered', 'high_quality', 'nll', 'bits_per_dim', 'loss_d', 'loss_g', 'img_per_sec'];
const state = { runs: [], sweeps: new Map(), exports: {}, selected: [], sort: { key: 'startTime', dir: -1 }, filter: '', xaxis: 'step', charts: [] };

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const fmt = (v) => (v === null || v === undefined ? '–' : typeof v !== 'number' || Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));
const api = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${(await r.json().catch(() => ({}))).error ?? r.status}`);
  return r.json();
};
const colorOf = (run) => COLORS[state.selected.indexOf(run.runId) % COLORS.length];
const byId = (id) => state.runs.find((r) => r.runId === id);

const COLUMNS = [
  { key: 'runName', label: 'run', get: (r) => r.runName },
  { key: 'experiment', label: 'experiment', get: (r) => r.experiment },
  { key: 'model', label: 'model', get: (r) => r.tags['genlab.model'] ?? '' },
  { key: 'dataset', label: 'dataset', get: (r) => r.tags['genlab.dataset'] ?? '' },
  { key: 'status', label: 'status', get: (r) => r.status },
  { key: 'startTime', label: 'started', get: (r) => r.startTime, show: (v) => new Date(v).toLocaleString() },
  // A sweep variant: its sweep id (click: show that sweep's variants) and its place in it.
  { key: 'sweep', label: 'sweep', get: (r) => r.tags['genlab.sweep'] ?? '', cell: sweepCell },
  { key: 'steps', label: 'steps', get: (r) => Number(r.params['train.steps'] ?? NaN), num: true },
  { key: 'fid', label: 'fid', get: (r) => r.latest.fid ?? null, num: true },
  { key: 'loss_g', label: 'loss_g', get: (r) => r.latest.loss_g ?? null, num: true },
  // Its exports (exp export): the sampler page of the newest, or the command that makes one.
  { key: 'export', label: 'export', get: (r) => (state.exports[r.runId] ?? []).length, cell: exportCell },
];

/** A word for a shell: as is when it is safe, else in single quotes. */
const shq = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that exports a run with its sampler page (the dashboard is read-only: it shows it, to copy). */
function exportCommand(r) {
  const runDir = r.tags['genlab.run_dir'];
  const outputs = runDir ? runDir.replace(/[\\/][^\\/]+[\\/]?$/, '') : null;
  const name = (r.runName || r.runId.slice(0, 8)).replace(/[^\w.-]+/g, '-');
  return ['pnpm', 'exp', 'export', r.runId, ...(outputs ? ['--output-dir', outputs] : []), '--out', `exports/${name}`, '--with-page'].map(shq).join(' ');
}

/** The newest export of a run that has a sampler page. */
const pageExport = (r) => (state.exports[r.runId] ?? []).filter((e) => e.page).sort((a, b) => (a.exportedAt < b.exportedAt ? 1 : -1))[0];
const exportUrl = (r, e) => `/exports/${r.runId}/${e.index}/index.html`;

function exportCell(r) {
  const e = pageExport(r);
  if (e) return el('a', { href: exportUrl(r, e), target: '_blank', rel: 'noopener', 'data-testid': 'sampler-link', title: `${e.out}\nexported ${e.exportedAt} (checkpoint ${e.checkpoint}, step ${e.step}${e.quantize ? `, ${e.quantize}` : ''})` }, 'sampler');
  return el('button', { type: 'button', class: 'link', 'data-testid': 'export-button', onclick: () => showExportCommand(r) }, 'export…');
}

function showExportCommand(r) {
  const cmd = exportCommand(r);
  const code = el('code', { 'data-testid': 'export-command' }, cmd);
  const copy = el('button', { type: 'button', 'data-testid': 'export-copy' }, 'copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(cmd);
      copy.textContent = 'copied';
    } catch {
      getSelection().selectAllChildren(code);
      copy.textContent = 'selected: press Ctrl-C';
    }
  });
  const exported = state.exports[r.runId] ?? [];
  $('export-panel').replaceChildren(
    el('div', {}, `Export ${r.runName} with its sampler page (run this where the run's outputs are; then reload this page):`),
    el('div', { class: 'cmd' }, code, copy),
    ...(exported.length ? [el('div', { class: 'note' }, `It has ${exported.length} export${exported.length > 1 ? 's' : ''} without a page: ${exported.map((e) => e.out).join(', ')}`)] : []),
  );
  $('export-panel').hidden = false;
}

function sweepCell(r) {
  const id = r.tags['genlab.sweep'];
  if (!id) return '';
  const parent = state.sweeps.get(id);
  const title = `variant ${r.tags['genlab.sweep.index'] ?? '?'} of ${parent?.tags['genlab.sweep.size'] ?? '?'}: ${r.tags['genlab.sweep.variant'] ?? ''}` + (parent ? `\nsweep run ${parent.runName}: ${parent.status}` : '');
  const link = el('a', { href: '#', title, 'data-testid': 'sweep-link' }, `${id} #${r.tags['genlab.sweep.index'] ?? '?'}`);
  link.addEventListener('click', (e) => {
    e.preventDefault();
    state.filter = id;
    $('filter').value = id;
    renderRuns();
    void showQueue(id);
  });
  return link;
}

// A sweep on a job queue (`exp ui --queue redis://…`): its variants as the queue sees them
// (the same states as `exp sweep status`), refreshed every two seconds while it is shown.
async function showQueue(sweepId) {
  clearTimeout(state.queueTimer);
  const panel = $('queue');
  if (!state.queue || !sweepId) {
    panel.hidden = true;
    return;
  }
  let s;
  try {
    s = await api(`/api/sweeps/${sweepId}/queue`);
  } catch {
    panel.hidden = true; // not a queued sweep
    return;
  }
  if (state.filter !== sweepId) return;
  const counts = Object.entries(s.counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(', ');
  $('queue-head').textContent = `sweep ${sweepId} on the queue: ${counts}${s.record.cancelledAt ? ' (cancelled)' : ''}`;
  $('queue-table').tHead.replaceChildren(el('tr', {}, ...['#', 'variant', 'state', 'attempts', 'where / why'].map((h) => el('th', {}, h))));
  $('queue-table').tBodies[0].replaceChildren(
    ...s.variants.map((v) =>
      el(
        'tr',
        { 'data-testid': 'queue-row', class: `q-${v.state}` },
        el('td', { class: 'num' }, String(v.index + 1)),
        el('td', {}, v.label),
        el('td', {}, v.state),
        el('td', { class: 'num' }, `${v.attempts}/${v.maxAttempts}`),
        el('td', {}, v.state === 'running' ? `on ${v.host ?? '?'} at step ${v.step ?? 0}${v.totalSteps ? `/${v.totalSteps}` : ''}` : v.state === 'finished' ? `on ${v.host ?? '?'}` : (v.reason ?? '')),
      ),
    ),
  );
  panel.hidden = false;
  if (!s.done) state.queueTimer = setTimeout(() => void showQueue(sweepId), 2000);
}

function visibleRuns() {
  const f = state.filter.toLowerCase();
  const col = COLUMNS.find((c) => c.key === state.sort.key) ?? COLUMNS[5];
  return state.runs
    .filter((r) => !f || [r.runName, r.experiment, r.status, r.runId, ...Object.values(r.tags), ...Object.entries(r.params).map(([k, v]) => `${k}=${v}`)].join(' ').toLowerCase().includes(f))
    .sort((a, b) => {
      const x = col.get(a);
      const y = col.get(b);
      return (x < y ? -1 : x > y ? 1 : 0) * state.sort.dir;
    });
}

function renderRuns() {
  const thead = $('runs').tHead;
  thead.replaceChildren(
    el(
      'tr',
      {},
      el('th', {}, ''),
      ...COLUMNS.map((c) =>
        el('th', { 'data-sort': c.key, onclick: () => { state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : 1 }; renderRuns(); } }, c.label + (state.sort.key === c.key ? (state.sort.dir > 0 ? ' ▲' : ' ▼') : '')),
      ),
    ),
  );
  const rows = visibleRuns();
  $('runs').tBodies[0].replaceChildren(
    ...rows.map((r) => {
      const checked = state.selected.includes(r.runId);
      const box = el('input', { type: 'checkbox', 'data-run': r.runId, 'aria-label': `select ${r.runName}` });
      box.checked = checked;
      box.addEventListener('change', () => toggle(r.runId, box.checked));
      return el(
        'tr',
        { class: checked ? 'sel' : '', 'data-testid': 'run-row', 'data-run': r.runId },
        el('td', {}, box),
        ...COLUMNS.map((c) => {
          const v = c.get(r);
          return el('td', { class: c.num ? 'num' : '' }, c.cell ? c.cell(r) : c.show ? c.show(v) : c.num ? fmt(Number.isNaN(v) ? null : v) : v);
        }),
      );
    }),
  );
  const sweeps = state.sweeps.size ? ` (${state.sweeps.size} sweep${state.sweeps.size === 1 ? '' : 's'}: click a sweep id for its variants)` : '';
  $('count').textContent = `${rows.length} of ${state.runs.length} runs${sweeps}`;
}

function toggle(runId, on) {
  state.selected = on ? [...state.selected, runId] : state.selected.filter((x) => x !== runId);
  renderRuns();
  void renderSelection();
}

function renderCompare(runs) {
  const metrics = COMPARE_METRICS.filter((k) => runs.some((r) => r.latest[k] !== undefined));
  // Numbers measured under different protocols do not share a column silently.
  const protocols = [...new Set(runs.map((r) => r.tags['genlab.eval.protocol']).filter(Boolean))];
  $('compare-note').textContent = protocols.length > 1 ? `These runs were evaluated under ${protocols.length} different protocols: sample metrics are not comparable across them (see the protocol column).` : '';
  $('compare').tHead.replaceChildren(el('tr', {}, el('th', {}, 'run'), el('th', {}, 'model'), el('th', {}, 'dataset'), ...metrics.map((k) => el('th', {}, k)), el('th', {}, 'protocol')));
  // The real-vs-real floor of each protocol, once, below the runs.
  const floors = protocols.map((p) => runs.find((r) => r.tags['genlab.eval.protocol'] === p && metrics.some((k) => r.latest[`floor/${k}`] !== undefined))).filter(Boolean);
  $('compare').tBodies[0].replaceChildren(
    ...runs.map((r) =>
      el(
        'tr',
        { 'data-testid': 'compare-row' },
        el('td', {}, el('span', { class: 'swatch', style: `background:${colorOf(r)}` }), r.runName),
        el('td', {}, r.tags['genlab.model'] ?? ''),
        el('td', {}, r.tags['genlab.dataset'] ?? ''),
        ...metrics.map((k) => el('td', { class: 'num' }, fmt(r.latest[k]))),
        el('td', {}, protocols.length ? String(protocols.indexOf(r.tags['genlab.eval.protocol']) + 1 || '–') : '–'),
      ),
    ),
    ...floors.map((r) =>
      el(
        'tr',
        { 'data-testid': 'floor-row', class: 'floor' },
        el('td', {}, 'real-vs-real floor'),
        el('td', {}, ''),
        el('td', {}, r.tags['genlab.dataset'] ?? ''),
        ...metrics.map((k) => el('td', { class: 'num' }, fmt(r.latest[`floor/${k}`]))),
        el('td', {}, String(protocols.indexOf(r.tags['genlab.eval.protocol']) + 1)),
      ),
    ),
  );
}

function renderParams(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const showAll = $('all-params').checked;
  const differing = keys.filter((k) => showAll || new Set(runs.map((r) => r.params[k])).size > 1);
  $('params').tHead.replaceChildren(el('tr', {}, el('th', {}, 'param'), ...runs.map((r) => el('th', {}, el('span', { class: 'swatch', style: `background:${colorOf(r)}` }), r.runName))));
  $('params').tBodies[0].replaceChildren(
    ...(differing.length ? differing : ['(no differences)']).map((k) => el('tr', { 'data-testid': 'param-row' }, el('td', {}, k), ...runs.map((r) => el('td', {}, r.params[k] ?? (differing.length ? '–' : ''))))),
  );
}

async function renderCharts(runs) {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  // Floors are constants of the data, shown in the compare table rather than as curves.
  const order = ['loss_d', 'loss_g', 'd_real', 'd_fake', ...COMPARE_METRICS];
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.latest)))].filter((k) => !k.startsWith('floor/')).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  const histories = await Promise.all(runs.map((r) => Promise.all(keys.map((k) => (r.latest[k] === undefined ? [] : api(`/api/runs/${r.runId}/history?key=${encodeURIComponent(k)}`))))));
  const box = $('charts');
  box.replaceChildren();
  keys.forEach((key, ki) => {
    const tables = runs
      .map((r, ri) => {
        const pts = histories[ri][ki];
        const xs = pts.map((p) => (state.xaxis === 'step' ? p.step : (p.timestamp - r.startTime) / 1000));
        return [xs, pts.map((p) => p.value)];
      })
      .filter(([xs]) => xs.length);
    if (!tables.length) return;
    const withPoints = runs.filter((_, ri) => histories[ri][ki].length);
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const holder = el('div', { class: 'chart', 'data-testid': 'chart', 'data-key': key }, el('h3', {}, key));
    box.append(holder);
    const chart = new uPlot(
      {
        width: 420,
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: state.xaxis === 'step' ? 'step' : 'seconds' }, {}],
        series: [{ label: state.xaxis }, ...withPoints.map((r) => ({ label: r.runName, stroke: colorOf(r), width: 1.5, spanGaps: true }))],
      },
      data,
      holder,
    );
    state.charts.push(chart);
  });
}

async function renderSamples(runs) {
  const box = $('samples');
  box.replaceChildren();
  const pngs = async (runId, dir) => (await api(`/api/runs/${runId}/artifacts?dir=${encodeURIComponent(dir)}`)).filter((f) => f.endsWith('.png'));
  for (const r of runs) {
    // The sample grids, and the grids of a model's previews (samples/<name>/, e.g. a VAE's
    // reconstructions), each a view with its own slider over the steps.
    const views = [['samples', await pngs(r.runId, 'samples')]];
    for (const dir of await api(`/api/runs/${r.runId}/artifact-dirs?dir=samples`)) {
      const files = await pngs(r.runId, dir);
      if (files.length) views.push([dir.replace(/^samples\//, ''), files]);
    }
    const card = el('div', { class: 'sample', 'data-testid': 'sample', 'data-run': r.runId }, el('div', {}, el('span', { class: 'swatch', style: `background:${colorOf(r)}` }), r.runName));
    if (!views.some(([, files]) => files.length)) {
      card.append(el('div', {}, 'no sample grids'));
      box.append(card);
      continue;
    }
    // step-0000500.png … then final.png last.
    for (const [, files] of views) files.sort((a, b) => (a.includes('final') ? 1 : b.includes('final') ? -1 : a < b ? -1 : 1));
    const img = el('img', { alt: `samples of ${r.runName}`, 'data-testid': 'sample-img' });
    const label = el('div', {});
    const slider = el('input', { type: 'range', min: '0', 'data-testid': 'sample-slider' });
    let files = [];
    const show = () => {
      const f = files[Number(slider.value)];
      img.src = `/api/runs/${r.runId}/artifact?path=${encodeURIComponent(f)}`;
      label.textContent = f.replace(/^samples\//, '').replace(/\.png$/, '').replace(/(^|\/)step-0*/, '$1step ');
    };
    const pick = (i) => {
      files = views[i][1];
      slider.max = String(files.length - 1);
      slider.value = String(files.length - 1);
      show();
    };
    slider.addEventListener('input', show);
    const first = views.findIndex(([, f]) => f.length);
    if (views.length > 1) {
      const select = el('select', { 'data-testid': 'sample-view' }, ...views.map(([name, f], i) => el('option', { value: String(i), ...(f.length ? {} : { disabled: '' }) }, name)));
      select.value = String(first);
      select.addEventListener('change', () => pick(Number(select.value)));
      card.append(select);
    }
    pick(first);
    card.append(img, slider, label);
    box.append(card);
  }
}

/** The sampler page of each selected run that has one, embedded; the export command for the others. */
function renderSamplers(runs) {
  $('samplers').replaceChildren(
    ...runs.map((r) => {
      const e = pageExport(r);
      const head = el('div', {}, el('span', { class: 'swatch', style: `background:${colorOf(r)}` }), r.runName);
      if (!e) {
        const button = el('button', { type: 'button', class: 'link', onclick: () => showExportCommand(r) }, 'how to export it');
        return el('div', { class: 'sampler', 'data-testid': 'sampler', 'data-run': r.runId }, head, el('div', {}, 'not exported with a page: ', button));
      }
      return el(
        'div',
        { class: 'sampler', 'data-testid': 'sampler', 'data-run': r.runId },
        head,
        el('div', { class: 'small' }, `${e.out} (checkpoint ${e.checkpoint}, step ${e.step}${e.quantize ? `, ${e.quantize}` : ''}) · `, el('a', { href: exportUrl(r, e), target: '_blank', rel: 'noopener' }, 'open in a new tab')),
        el('iframe', { src: exportUrl(r, e), title: `sampler of ${r.runName}`, 'data-testid': 'sampler-frame' }),
      );
    }),
  );
}

async function renderSelection() {
  const runs = state.selected.map(byId).filter(Boolean);
  $('selected').hidden = runs.length === 0;
  if (!runs.length) return;
  try {
    renderCompare(runs);
    renderParams(runs);
    renderSamplers(runs);
    await renderCharts(runs);
    await renderSamples(runs);
  } catch (e) {
    showError(e);
  }
}

function showError(e) {
  $('error').hidden = false;
  $('error').textContent = String(e.message ?? e);
}

async function main() {
  $('source').textContent = (await api('/api/source')).source;
  const [runs, exports] = await Promise.all([api('/api/runs'), api('/api/exports')]);
  state.exports = exports;
  // A sweep's parent run groups its variants; it has no metrics of its own, so it is not a
  // row: its variants link to it through their sweep id.
  const isParent = (r) => r.tags['genlab.sweep.role'] === 'parent';
  state.sweeps = new Map(runs.filter(isParent).map((r) => [r.tags['genlab.sweep'], r]));
  state.runs = runs.filter((r) => !isParent(r));
  state.queue = (await api('/api/queue')).queue;
  $('filter').addEventListener('input', (e) => {
    state.filter = e.target.value;
    renderRuns();
    void showQueue(state.sweeps.has(state.filter) ? state.filter : undefined);
  });
  $('all-params').addEventListener('change', () => renderParams(state.selected.map(byId).filter(Boolean)));
  for (const radio of document.querySelectorAll('input[name=xaxis]')) {
    radio.addEventListener('change', (e) => {
      state.xaxis = e.target.value;
      void renderCharts(state.selected.map(byId).filter(Boolean));
    });
  }
  renderRuns();
  document.body.dataset.ready = 'true';
}

main().catch(showError);
