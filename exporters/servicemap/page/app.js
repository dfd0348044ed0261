/* The loggerhead service map page: fetches /api/graph, lays the graph out in
 * layers (clients left, servers right), draws it in SVG with zoom and pan, and
 * shows the details of a clicked node or edge. No dependencies, no network
 * access beyond the agent that serves it. */
/* global document, window, fetch, localStorage, requestAnimationFrame, setTimeout, clearTimeout, URLSearchParams */
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 230;
const NODE_H = 46;
const COL_GAP = 170;
const ROW_H = 74;
const SUB_GAP = 60;
const LABELS_BELOW_EDGES = 120;

const state = {
  data: undefined,
  structure: '',
  positions: new Map(),
  selected: undefined,
  view: { x: 0, y: 0, k: 1 },
  fitted: false,
  timer: undefined,
  refreshMs: 2000,
  inFlight: false,
};

const $ = (id) => document.getElementById(id);

// ---- formatting -------------------------------------------------------------

function bytes(n) {
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let unit = 'B';
  for (const u of units) {
    if (v < 1000) break;
    v /= 1000;
    unit = u;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${unit}`;
}
const rate = (n) => (n === null || n === undefined ? 'n/a' : `${bytes(n)}/s`);
const exact = (n) => n.toLocaleString('en-US');
const plural = (n, w) => `${exact(n)} ${w}${n === 1 ? '' : 's'}`;
const time = (ms) => new Date(ms).toLocaleTimeString();

function kindClass(kind) {
  if (kind === 'Service') return 'service';
  if (kind === 'process') return 'process';
  if (kind === 'container') return 'container';
  if (kind === 'host' || kind === 'Node') return 'host';
  if (kind === 'external') return 'external';
  return 'workload';
}

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function ellipsis(s, max) {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

// ---- layout -----------------------------------------------------------------

/**
 * Layers by longest path from the clients (cycles broken by a DFS in id order), then barycenter
 * ordering starting from `previous` positions.
 */
function layout(nodes, edges, previous) {
  const ids = nodes.map((n) => n.id);
  const out = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of edges) {
    if (e.source === e.target) continue;
    out.get(e.source).push(e.target);
    indeg.set(e.target, indeg.get(e.target) + 1);
  }
  const mark = new Map();
  const order = [];
  const dagOut = new Map(ids.map((id) => [id, []]));
  const visit = (start) => {
    const stack = [[start, 0]];
    mark.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) {
        mark.set(top[0], 2);
        order.push(top[0]);
        stack.pop();
      } else if (mark.get(next) !== 1) {
        dagOut.get(top[0]).push(next);
        if (mark.get(next) === undefined) {
          mark.set(next, 1);
          stack.push([next, 0]);
        }
      }
    }
  };
  for (const id of ids) if (indeg.get(id) === 0 && !mark.has(id)) visit(id);
  for (const id of ids) if (!mark.has(id)) visit(id);
  order.reverse();
  const layer = new Map(ids.map((id) => [id, 0]));
  for (const id of order)
    for (const t of dagOut.get(id)) layer.set(t, Math.max(layer.get(t), layer.get(id) + 1));
  const preds = new Map(ids.map((id) => [id, []]));
  for (const [s, ts] of dagOut) for (const t of ts) preds.get(t).push(s);
  const layers = [];
  for (const id of ids) {
    const l = layer.get(id);
    while (layers.length <= l) layers.push([]);
    layers[l].push(id);
  }
  // Nodes already on the map start in their previous vertical order, so a node appearing or leaving
  // does not reshuffle the rest.
  for (const ls of layers) {
    const at = (id) => previous.get(id)?.order ?? Infinity;
    ls.sort((a, b) => at(a) - at(b) || (a < b ? -1 : a > b ? 1 : 0));
  }
  const pos = new Map();
  const place = () => layers.forEach((ls) => ls.forEach((id, i) => pos.set(id, (i + 0.5) / ls.length)));
  place();
  const sweep = (neighbours, from, to, step) => {
    for (let l = from; l !== to; l += step) {
      const keyed = layers[l].map((id) => {
        const ns = neighbours(id);
        // Nodes of the previous map keep their order; new ones go to their neighbours' barycenter.
        const b =
          ns.length === 0 || previous.has(id)
            ? pos.get(id)
            : ns.reduce((sum, n) => sum + pos.get(n), 0) / ns.length;
        return [b, id];
      });
      // Stable: ties keep the current order (the previous map's, else by id).
      keyed.sort((a, b) => a[0] - b[0]);
      layers[l] = keyed.map((k) => k[1]);
      place();
    }
  };
  for (let i = 0; i < 4; i++) {
    sweep((id) => preds.get(id), 1, layers.length, 1);
    sweep((id) => dagOut.get(id), layers.length - 2, -1, -1);
  }
  // Large layers wrap into sub-columns; the row count is chosen so the whole map has about the
  // window's aspect ratio (a 200-node map then fits the window instead of one long strip).
  const svg = $('map');
  const aspect = Math.max(0.5, (svg.clientWidth || 1440) / (svg.clientHeight || 800));
  const largest = Math.max(1, ...layers.map((ls) => ls.length));
  let maxRows = largest;
  let best = Infinity;
  for (let rows = Math.min(6, largest); rows <= largest; rows++) {
    let width = -COL_GAP;
    for (const ls of layers) {
      const sub = Math.max(1, Math.ceil(ls.length / rows));
      width += COL_GAP + sub * NODE_W + (sub - 1) * SUB_GAP;
    }
    const score = Math.abs(Math.log(width / (rows * ROW_H) / aspect));
    if (score < best - 1e-9) {
      best = score;
      maxRows = rows;
    }
  }
  const positions = new Map();
  let x = 0;
  let column = 0;
  for (const ls of layers) {
    const columns = Math.max(1, Math.ceil(ls.length / maxRows));
    const rows = Math.ceil(ls.length / columns);
    ls.forEach((id, i) => {
      const c = Math.floor(i / rows);
      const r = i % rows;
      const inColumn = Math.min(rows, ls.length - c * rows);
      // Sub-columns of one layer are staggered by half a row so edges pass between boxes.
      const stagger = c % 2 === 1 ? ROW_H / 2 : 0;
      positions.set(id, {
        x: x + c * (NODE_W + SUB_GAP),
        y: (r - (inColumn - 1) / 2) * ROW_H + stagger,
        column: column + c,
        order: (i + 0.5) / ls.length,
      });
    });
    x += columns * NODE_W + (columns - 1) * SUB_GAP + COL_GAP;
    column += columns;
  }
  return positions;
}

// ---- drawing ----------------------------------------------------------------

function edgeGeometry(e, index) {
  const s = state.positions.get(e.source);
  const t = state.positions.get(e.target);
  const spread = (index % 5) * 14;
  if (e.source === e.target) {
    const x = s.x + NODE_W - 30;
    const y = s.y - NODE_H / 2;
    const d = `M ${x} ${y} C ${x - 10} ${y - 60} ${x + 60} ${y - 60} ${x + 30} ${y + 6}`;
    return { d, lx: x + 22, ly: y - 50 };
  }
  if (t.column > s.column) {
    const x1 = s.x + NODE_W;
    const y1 = s.y;
    const x2 = t.x - 2;
    const y2 = t.y;
    const dx = Math.max(60, (x2 - x1) / 2);
    const d = `M ${x1} ${y1} C ${x1 + dx} ${y1 + spread} ${x2 - dx} ${y2 + spread} ${x2} ${y2}`;
    // Labels sit at t = 0.7, where edges fanning out of one node have spread apart.
    const at = (p0, p1, p2, p3, t) =>
      (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3;
    return { d, lx: at(x1, x1 + dx, x2 - dx, x2, 0.7), ly: at(y1, y1 + spread, y2 + spread, y2, 0.7) };
  }
  // Back edge or same column: leave and enter on the bottom, curving below.
  const x1 = s.x + NODE_W / 2;
  const y1 = s.y + NODE_H / 2;
  const x2 = t.x + NODE_W / 2 + 12;
  const y2 = t.y + NODE_H / 2 + 2;
  const drop = 70 + spread;
  const d = `M ${x1} ${y1} C ${x1} ${y1 + drop} ${x2} ${y2 + drop} ${x2} ${y2}`;
  return { d, lx: (x1 + x2) / 2, ly: (y1 + y2) / 2 + (drop * 3) / 4 };
}

function draw() {
  const data = state.data;
  const edgesG = $('edges');
  const nodesG = $('nodes');
  const labelsG = $('labels');
  edgesG.replaceChildren();
  nodesG.replaceChildren();
  labelsG.replaceChildren();
  if (!data || !data.ready) return;
  const maxRate = Math.max(1, ...data.edges.map((e) => e.bytesPerSecond ?? 0));
  const pairIndex = new Map();
  for (const e of data.edges) {
    const pair = `${e.source}|${e.target}`;
    const index = pairIndex.get(pair) ?? 0;
    pairIndex.set(pair, index + 1);
    const geo = edgeGeometry(e, index);
    const g = el(
      'g',
      { class: 'edge', 'data-id': e.id, 'data-source': e.source, 'data-target': e.target },
      edgesG,
    );
    if (e.connectionsFailed > 0 && e.connectionsOpened === 0) g.classList.add('failed');
    const width = 1.2 + 4 * Math.sqrt((e.bytesPerSecond ?? 0) / maxRate);
    el('path', { class: 'line', d: geo.d, 'stroke-width': width.toFixed(2), 'marker-end': 'url(#arrow)' }, g);
    el('path', { class: 'hit', d: geo.d }, g);
    const title = el('title', {}, g);
    title.textContent = `${nameOf(e.source)} → ${nameOf(e.target)}:${e.serverPort}`;
    const label = el(
      'text',
      { class: 'label', x: geo.lx, y: geo.ly - 20, 'text-anchor': 'middle', 'data-id': e.id },
      labelsG,
    );
    const r = el('tspan', { class: 'rate', x: geo.lx }, label);
    r.textContent = `:${e.serverPort} · ${rate(e.bytesPerSecond)}`;
    const t = el('tspan', { class: 'totals', x: geo.lx, dy: 13 }, label);
    t.textContent = `${bytes(e.bytesClientToServer + e.bytesServerToClient)} · ${plural(e.connectionsOpened, 'conn')}${
      e.connectionsFailed > 0 ? ` · ${exact(e.connectionsFailed)} failed` : ''
    }`;
    g.addEventListener('click', (ev) => select({ type: 'edge', id: e.id }, ev));
    label.addEventListener('click', (ev) => select({ type: 'edge', id: e.id }, ev));
  }
  for (const n of data.nodes) {
    const p = state.positions.get(n.id);
    const g = el(
      'g',
      {
        class: `node k-${kindClass(n.kind)}`,
        'data-id': n.id,
        'data-name': n.name,
        'data-kind': n.kind,
        transform: `translate(${p.x} ${p.y - NODE_H / 2})`,
      },
      nodesG,
    );
    el('rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 8 }, g);
    el(
      'rect',
      {
        class: 'stripe',
        width: 5,
        height: NODE_H - 12,
        x: 6,
        y: 6,
        rx: 2,
        fill: `var(--k-${kindClass(n.kind)})`,
      },
      g,
    );
    const title = el('text', { class: 'title', x: 18, y: 19 }, g);
    title.textContent = ellipsis(n.name, 24);
    const sub = el('text', { class: 'sub', x: 18, y: 35 }, g);
    sub.textContent = ellipsis(n.namespace === '' ? n.kind : `${n.kind} · ${n.namespace}`, 21);
    const r = el('text', { class: 'sub rate', x: NODE_W - 10, y: 35, 'text-anchor': 'end' }, g);
    r.textContent = rate(n.bytesPerSecond);
    const tip = el('title', {}, g);
    tip.textContent = `${n.name} (${n.kind}${n.namespace ? `, ${n.namespace}` : ''})`;
    g.addEventListener('click', (ev) => select({ type: 'node', id: n.id }, ev));
  }
  applySelection();
  applyView();
}

function nameOf(id) {
  const n = state.data?.nodes.find((x) => x.id === id);
  return n ? n.name : id;
}

// ---- selection and details ----------------------------------------------------

function select(what, ev) {
  if (ev) ev.stopPropagation();
  state.selected = what;
  applySelection();
}

function applySelection() {
  const data = state.data;
  const sel = state.selected;
  const found =
    sel && data && data.ready
      ? sel.type === 'node'
        ? data.nodes.find((n) => n.id === sel.id)
        : data.edges.find((e) => e.id === sel.id)
      : undefined;
  const svg = $('map');
  for (const g of svg.querySelectorAll('.node, .edge, .label'))
    g.classList.remove('selected', 'related', 'dim', 'keep');
  if (!found) {
    state.selected = undefined;
    $('details').hidden = true;
    return;
  }
  const related = new Set();
  if (sel.type === 'node') {
    related.add(found.id);
    for (const e of data.edges) {
      if (e.source === found.id || e.target === found.id) {
        related.add(e.id);
        related.add(e.source);
        related.add(e.target);
      }
    }
  } else {
    related.add(found.id);
    related.add(found.source);
    related.add(found.target);
  }
  for (const g of svg.querySelectorAll('.node, .edge, .label')) {
    const id = g.getAttribute('data-id');
    if (id === sel.id) g.classList.add(g.classList.contains('label') ? 'keep' : 'selected');
    else if (related.has(id)) g.classList.add(g.classList.contains('label') ? 'keep' : 'related');
    else g.classList.add('dim');
  }
  for (const g of svg.querySelectorAll('.edge.selected path.line, .edge.related path.line'))
    g.setAttribute('marker-end', 'url(#arrow-selected)');
  showDetails(sel.type, found);
}

function row(dl, label, field, value, text, note) {
  const dt = html('dt', {}, label);
  const dd = html('dd', { 'data-field': field, 'data-value': value });
  dd.textContent = text;
  if (note) {
    dd.append(' ');
    dd.append(html('small', {}, note));
  }
  dl.append(dt, dd);
}

function bytesRow(dl, label, field, n) {
  row(dl, label, field, n, `${exact(n)} B`, n >= 1000 ? `(${bytes(n)})` : undefined);
}

function showDetails(type, item) {
  const dl = $('details-body');
  const extra = $('details-extra');
  dl.replaceChildren();
  extra.replaceChildren();
  $('details').hidden = false;
  $('details').setAttribute('data-type', type);
  $('details').setAttribute('data-id', item.id);
  if (type === 'node') {
    $('details-title').textContent = item.name;
    $('details-sub').textContent = item.namespace ? `${item.kind} in ${item.namespace}` : item.kind;
    row(dl, 'Throughput', 'bytesPerSecond', item.bytesPerSecond ?? '', rate(item.bytesPerSecond));
    bytesRow(dl, 'Bytes sent', 'bytesSent', item.bytesSent);
    bytesRow(dl, 'Bytes received', 'bytesReceived', item.bytesReceived);
    row(dl, 'Connections opened', 'connectionsOpened', item.connectionsOpened, exact(item.connectionsOpened));
    row(dl, 'Active connections', 'connectionsActive', item.connectionsActive, exact(item.connectionsActive));
    row(dl, 'Failed connections', 'connectionsFailed', item.connectionsFailed, exact(item.connectionsFailed));
    const list = (title, edges, other) => {
      if (edges.length === 0) return;
      extra.append(html('h3', {}, `${title} (${edges.length})`));
      const ul = html('ul');
      for (const e of edges) {
        const a = html('a', { 'data-edge': e.id });
        a.append(
          html('span', {}, `${nameOf(other(e))}:${e.serverPort}`),
          html('span', {}, rate(e.bytesPerSecond)),
        );
        a.addEventListener('click', () => select({ type: 'edge', id: e.id }));
        const li = html('li');
        li.append(a);
        ul.append(li);
      }
      extra.append(ul);
    };
    list(
      'Calls',
      state.data.edges.filter((e) => e.source === item.id),
      (e) => e.target,
    );
    list(
      'Called by',
      state.data.edges.filter((e) => e.target === item.id),
      (e) => e.source,
    );
    return;
  }
  $('details-title').textContent = `${nameOf(item.source)} → ${nameOf(item.target)}`;
  $('details-sub').textContent =
    `TCP port ${item.serverPort} · ${item.networkTypes.join(' + ')} · counted by the ${item.observer}${
      item.observers.length > 1 ? ' (seen from both ends)' : ''
    }`;
  row(dl, 'Throughput', 'bytesPerSecond', item.bytesPerSecond ?? '', rate(item.bytesPerSecond));
  row(
    dl,
    '  client → server',
    'bytesPerSecondClientToServer',
    item.bytesPerSecondClientToServer ?? '',
    rate(item.bytesPerSecondClientToServer),
  );
  row(
    dl,
    '  server → client',
    'bytesPerSecondServerToClient',
    item.bytesPerSecondServerToClient ?? '',
    rate(item.bytesPerSecondServerToClient),
  );
  bytesRow(dl, 'Bytes client → server', 'bytesClientToServer', item.bytesClientToServer);
  bytesRow(dl, 'Bytes server → client', 'bytesServerToClient', item.bytesServerToClient);
  bytesRow(dl, 'Bytes total', 'bytesTotal', item.bytesClientToServer + item.bytesServerToClient);
  row(dl, 'Connections opened', 'connectionsOpened', item.connectionsOpened, exact(item.connectionsOpened));
  row(dl, 'Connections closed', 'connectionsClosed', item.connectionsClosed, exact(item.connectionsClosed));
  row(dl, 'Active connections', 'connectionsActive', item.connectionsActive, exact(item.connectionsActive));
  row(dl, 'Failed connections', 'connectionsFailed', item.connectionsFailed, exact(item.connectionsFailed));
  row(dl, 'Retransmitted segments', 'retransSegs', item.retransSegs, exact(item.retransSegs));
  row(dl, 'Counting since', 'startTimeMs', item.startTimeMs, time(item.startTimeMs));
  row(dl, 'Last activity', 'lastActivityMs', item.lastActivityMs, time(item.lastActivityMs));
}

// ---- zoom and pan -----------------------------------------------------------

function applyView() {
  const v = state.view;
  $('viewport').setAttribute('transform', `translate(${v.x} ${v.y}) scale(${v.k})`);
  const many = (state.data?.edges.length ?? 0) > LABELS_BELOW_EDGES;
  $('map').classList.toggle('labels-hidden', many && v.k < 0.9);
}

function fit() {
  const svg = $('map');
  const w = svg.clientWidth;
  const h = svg.clientHeight;
  const ps = [...state.positions.values()];
  if (ps.length === 0 || w === 0) return;
  const minX = Math.min(...ps.map((p) => p.x)) - 40;
  const maxX = Math.max(...ps.map((p) => p.x)) + NODE_W + 40;
  const minY = Math.min(...ps.map((p) => p.y)) - NODE_H - 60;
  const maxY = Math.max(...ps.map((p) => p.y)) + NODE_H + 60;
  const panel = $('details').hidden ? 0 : 360;
  const k = Math.min(1.1, (w - panel) / (maxX - minX), h / (maxY - minY));
  state.view = {
    k,
    x: (w - panel - (maxX - minX) * k) / 2 - minX * k,
    y: (h - (maxY - minY) * k) / 2 - minY * k,
  };
  applyView();
}

function setupPanZoom() {
  const svg = $('map');
  svg.addEventListener(
    'wheel',
    (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect();
      const mx = ev.clientX - r.left;
      const my = ev.clientY - r.top;
      const v = state.view;
      const k = Math.min(4, Math.max(0.08, v.k * Math.exp(-ev.deltaY * 0.0015)));
      state.view = { k, x: mx - ((mx - v.x) * k) / v.k, y: my - ((my - v.y) * k) / v.k };
      applyView();
    },
    { passive: false },
  );
  let drag;
  svg.addEventListener('pointerdown', (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, vx: state.view.x, vy: state.view.y, moved: false };
  });
  window.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    svg.classList.add('panning');
    state.view = { ...state.view, x: drag.vx + dx, y: drag.vy + dy };
    applyView();
  });
  window.addEventListener('pointerup', () => {
    svg.classList.remove('panning');
    setTimeout(() => (drag = undefined), 0);
  });
  svg.addEventListener('click', () => {
    if (drag?.moved) return;
    select(undefined);
  });
}

// ---- data -------------------------------------------------------------------

function filters() {
  const f = {};
  const ns = $('filter-namespace').value;
  const kind = $('filter-kind').value;
  const name = $('filter-name').value.trim();
  if (ns) f.namespace = ns;
  if (kind) f.kind = kind;
  if (name) f.name = name;
  return f;
}

function fillSelect(select, values) {
  const current = select.value;
  const wanted = ['', ...values];
  if (current && !wanted.includes(current)) wanted.push(current);
  const have = [...select.options].map((o) => o.value);
  if (have.join('\n') === wanted.join('\n')) return;
  select.replaceChildren(...wanted.map((v) => html('option', { value: v }, v === '' ? 'all' : v)));
  select.value = current;
}

async function refresh() {
  if (state.inFlight) return;
  state.inFlight = true;
  clearTimeout(state.timer);
  const params = new URLSearchParams(filters());
  const status = $('status');
  try {
    const res = await fetch(`/api/graph${params.size > 0 ? `?${params}` : ''}`, { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    state.refreshMs = body.refreshIntervalMs ?? state.refreshMs;
    document.querySelector('.status').classList.remove('error');
    if (!body.ready) {
      state.data = body;
      status.textContent = 'waiting for the first poll of the agent…';
      showEmpty('Waiting for the first poll of the agent…');
      draw();
      return;
    }
    fillSelect($('filter-namespace'), body.namespaces);
    fillSelect($('filter-kind'), body.kinds);
    const structure = `${body.nodes.map((n) => n.id).join('\n')}\n\n${body.edges.map((e) => `${e.source}>${e.target}`).join('\n')}`;
    state.data = body;
    if (structure !== state.structure) {
      state.structure = structure;
      state.positions = layout(body.nodes, body.edges, state.positions);
      if (!state.fitted) state.needsFit = true;
    }
    showEmpty(
      body.edges.length === 0
        ? Object.keys(filters()).length > 0
          ? 'No links match the filters.'
          : 'No links yet: no TCP traffic seen.'
        : '',
    );
    draw();
    if (state.needsFit && body.nodes.length > 0) {
      state.needsFit = false;
      state.fitted = true;
      requestAnimationFrame(fit);
    }
    const all =
      body.nodes.length === body.total.nodes && body.edges.length === body.total.edges
        ? ''
        : ` (of ${plural(body.total.nodes, 'node')} · ${plural(body.total.edges, 'edge')})`;
    status.textContent = `updated ${time(body.timeMs)} · ${plural(body.nodes.length, 'node')} · ${plural(body.edges.length, 'edge')}${all} · agent up since ${time(body.startTimeMs)}`;
    status.setAttribute('data-time', String(body.timeMs));
    const trunc = $('truncated');
    trunc.hidden = !body.truncated;
    trunc.textContent = body.truncated
      ? `truncated: ${exact(body.matched.edges)} edges match, the busiest are shown`
      : '';
  } catch (error) {
    document.querySelector('.status').classList.add('error');
    status.textContent = `cannot load the graph: ${error.message}`;
  } finally {
    state.inFlight = false;
    if ($('auto-refresh').checked) state.timer = setTimeout(refresh, state.refreshMs);
  }
}

function showEmpty(text) {
  const e = $('empty');
  e.hidden = text === '';
  e.textContent = text;
}

function legend() {
  const items = [
    ['workload', 'workload'],
    ['service', 'Service'],
    ['process', 'process'],
    ['container', 'container'],
    ['host', 'host / node'],
    ['external', 'external'],
  ];
  $('legend').replaceChildren(
    ...items.map(([k, label]) => {
      const s = html('span');
      const i = html('i');
      i.style.background = `var(--k-${k})`;
      s.append(i, label);
      return s;
    }),
  );
}

function readHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  for (const key of ['namespace', 'kind']) {
    const v = params.get(key);
    if (v) {
      const s = $(`filter-${key}`);
      s.append(html('option', { value: v }, v));
      s.value = v;
    }
  }
  $('filter-name').value = params.get('name') ?? '';
}

function filtersChanged() {
  const params = new URLSearchParams(filters());
  window.history.replaceState(null, '', params.size > 0 ? `#${params}` : window.location.pathname);
  state.fitted = false;
  state.needsFit = true;
  state.structure = '';
  state.positions = new Map();
  refresh();
}

function init() {
  const theme = localStorage.getItem('loggerhead-theme');
  if (theme) document.documentElement.setAttribute('data-theme', theme);
  else if (window.matchMedia('(prefers-color-scheme: light)').matches) {
    document.documentElement.setAttribute('data-theme', 'light');
  }
  $('theme').addEventListener('click', () => {
    const dark = document.documentElement.getAttribute('data-theme') !== 'light';
    const next = dark ? 'light' : 'dark';
    document.documentElement.setAttribute('data-theme', next);
    localStorage.setItem('loggerhead-theme', next);
  });
  legend();
  readHash();
  setupPanZoom();
  let typing;
  $('filter-name').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(filtersChanged, 250);
  });
  $('filter-namespace').addEventListener('change', filtersChanged);
  $('filter-kind').addEventListener('change', filtersChanged);
  $('filters').addEventListener('submit', (ev) => ev.preventDefault());
  $('fit').addEventListener('click', fit);
  $('details-close').addEventListener('click', () => select(undefined));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') select(undefined);
  });
  $('auto-refresh').addEventListener('change', () => {
    if ($('auto-refresh').checked) refresh();
    else clearTimeout(state.timer);
  });
  window.addEventListener('resize', () => applyView());
  refresh();
}

init();
