// SignalPipeline live page: subscribes to the bridge's /ws, keeps a sliding window per stream and redraws the charts
// at most once per animation frame (frames arrive at ~30/s per stream; drawing is batched by requestAnimationFrame).
// Protocol: docs/websocket-bridge.md. Plain JS, no build step.
(() => {
  'use strict';

  const WINDOW_SECONDS = 10;          // how much history each chart shows
  const MAX_POINTS = 40000;           // hard cap per series, whatever the rate
  const LATENCY_SAMPLES = 1000;       // chunks kept for the p50/p99 figures
  const FIGURE_INTERVAL_MS = 250;     // figures change at most 4 times a second, so they stay readable
  const STREAMS_POLL_MS = 2000;
  const STREAMS_TIMEOUT_MS = 3000;     // a /streams poll not answered by then counts as unanswered
  const UNREACHABLE_POLLS = 2;        // /streams unreachable this many polls in a row, and the socket silent as long: the bridge is gone
  const MAX_SERVER_POINTS = 24000;
  const AUTO_SELECTED = 3;            // streams shown before the user picks any
  const MAX_SELECTED = 256;           // the bridge's Bridge:MaxSubscriptionsPerClient default: more is closed 1008
  const MAX_MESSAGE_BYTES = 3800;     // under the bridge's Bridge:MaxClientMessageBytes (4096): a longer message is closed 1009
  const REFUSED_CODES = [1003, 1007, 1008, 1009]; // the bridge refused what this page sent: the same again would be refused

  const $ = (id) => document.getElementById(id);
  const ui = {
    connection: $('connection'),
    frames: $('frames-received'),
    dropped: $('frames-dropped'),
    pause: $('pause'),
    showAll: $('show-all'),
    list: $('stream-list'),
    noStreams: $('no-streams'),
    charts: $('charts'),
    empty: $('empty'),
    limitNote: $('limit-note'),
    template: $('card-template'),
  };

  const state = {
    socket: null,
    reconnectDelay: 1000,
    refused: false,     // closed by the bridge for what was sent: reconnect when the selection changes, not in a loop
    paused: false,
    userPicked: false,
    selected: new Set(),
    known: new Map(),   // stream id -> summary from GET /streams
    rows: new Map(),    // stream id -> <li>
    cards: new Map(),   // stream id -> card state
    dirty: new Set(),
    framePending: false,
    framesReceived: 0,
    dropped: 0,
    lastMessageAt: 0,   // performance.now() of the socket's last message (or of its opening)
    unreachablePolls: 0,
  };

  // ---- connection ----------------------------------------------------------------------------------------------

  function connect() {
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    state.socket = socket;
    state.lastMessageAt = performance.now();
    setConnection('connecting', 'connecting…');

    socket.onopen = () => {
      state.reconnectDelay = 1000;
      setConnection(state.paused ? 'paused' : 'open', state.paused ? 'paused' : 'live');
      sendSubscription();
      if (state.paused) send({ type: 'pause' });
    };
    socket.onmessage = (event) => {
      state.lastMessageAt = performance.now();
      const message = JSON.parse(event.data);
      if (message.type === 'data') onData(message);
    };
    socket.onclose = (event) => {
      if (state.socket !== socket) return;
      const reason = event.reason ? ` (${event.reason})` : '';
      if (REFUSED_CODES.includes(event.code)) {
        state.refused = true;
        setConnection('closed', `closed by the bridge${reason}; change the selection to reconnect`);
        return;
      }
      retry(`disconnected${reason}; retrying`);
    };
  }

  function retry(text) {
    setConnection('closed', text);
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 8000);
  }

  // A socket can stay open with nothing behind it: a proxy that keeps the page's side of the connection while the bridge
  // is gone (seen under the AppHost), or a host that vanished without a reset. So when /streams cannot be reached for
  // UNREACHABLE_POLLS polls in a row and the socket has brought nothing for as long, the page gives that socket up and
  // connects again (with the same backoff), instead of showing "live" over a dead connection.
  function checkReachable(reached) {
    state.unreachablePolls = reached ? 0 : state.unreachablePolls + 1;
    const socket = state.socket;
    const silentMs = performance.now() - state.lastMessageAt;
    if (reached || state.unreachablePolls < UNREACHABLE_POLLS || silentMs < UNREACHABLE_POLLS * STREAMS_POLL_MS) return;
    if (!socket || socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) return;
    state.unreachablePolls = 0;
    state.socket = null; // its close, whenever it comes, is no longer this page's
    socket.close();
    retry('the bridge does not answer; retrying');
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }

  // The selection in as many subscribe messages as it takes to keep each under the bridge's message limit (stream ids
  // are up to 256 bytes); the bridge adds them up.
  function sendSubscription() {
    send({ type: 'unsubscribe', streams: ['*'] });
    const encoder = new TextEncoder();
    let batch = [];
    let bytes = 0;
    const flush = () => {
      if (batch.length > 0) send({ type: 'subscribe', streams: batch, points_per_second: pointBudget() });
      batch = [];
      bytes = 0;
    };
    for (const id of state.selected) {
      const size = encoder.encode(JSON.stringify(id)).length + 1;
      if (batch.length > 0 && bytes + size > MAX_MESSAGE_BYTES) flush();
      batch.push(id);
      bytes += size;
    }
    flush();
  }

  // Enough points for min/max per pixel across the window, with some to spare so the scroll looks continuous.
  function pointBudget() {
    const width = Math.max(400, ui.charts.clientWidth || 1000);
    const perStream = Math.ceil((width * 8) / WINDOW_SECONDS);
    return Math.min(MAX_SERVER_POINTS, perStream * Math.max(1, state.selected.size));
  }

  function setConnection(kind, text) {
    ui.connection.dataset.state = kind;
    ui.connection.textContent = text;
    document.body.dataset.connection = kind;
  }

  // ---- data ----------------------------------------------------------------------------------------------------

  function onData(message) {
    state.framesReceived++;
    state.dropped = message.dropped;
    for (const frame of message.frames) {
      const card = state.cards.get(frame.stream_id);
      if (card) append(card, frame);
    }
    schedule();
  }

  function append(card, frame) {
    const n = frame.raw.length;
    const last = card.x.length ? card.x[card.x.length - 1] : -Infinity;
    if (frame.x0 < last) clearSeries(card); // the bridge restarted: positions start again

    for (let i = 0; i < n; i++) {
      card.x.push(frame.x ? frame.x[i] : frame.x0 + i);
      card.raw.push(frame.raw[i]);
      card.filtered.push(frame.filtered[i]);
    }

    for (const v of frame.e2e_ms) pushBounded(card.e2e, v);
    for (const v of frame.pipeline_ms) pushBounded(card.pipeline, v);
    card.rate = frame.rate;
    card.algorithm = frame.algorithm;
    card.seq = frame.seq_last;
    card.frames++;
    state.dirty.add(card);
  }

  function pushBounded(array, value) {
    array.push(value);
    if (array.length > LATENCY_SAMPLES) array.splice(0, array.length - LATENCY_SAMPLES);
  }

  function clearSeries(card) {
    card.x.length = 0;
    card.raw.length = 0;
    card.filtered.length = 0;
  }

  // ---- drawing -------------------------------------------------------------------------------------------------

  function schedule() {
    if (!state.framePending) {
      state.framePending = true;
      requestAnimationFrame(draw);
    }
  }

  function draw() {
    state.framePending = false;
    const now = performance.now();
    for (const card of state.dirty) {
      trim(card);
      card.plot.setData([card.x, card.raw, card.filtered]);
      card.el.dataset.points = String(card.x.length);
      card.el.dataset.frames = String(card.frames);
      if (now - card.figuresAt >= FIGURE_INTERVAL_MS) {
        card.figuresAt = now;
        updateFigures(card);
      }
    }
    state.dirty.clear();
    ui.frames.textContent = formatCount(state.framesReceived);
    ui.dropped.textContent = formatCount(state.dropped);
    document.body.dataset.frames = String(state.framesReceived);
  }

  function trim(card) {
    if (card.x.length === 0) return;
    const newest = card.x[card.x.length - 1];
    const span = card.rate > 0 ? card.rate * WINDOW_SECONDS : Infinity;
    let cut = lowerBound(card.x, newest - span);
    cut = Math.max(cut, card.x.length - MAX_POINTS);
    if (cut > 0) {
      card.x.splice(0, cut);
      card.raw.splice(0, cut);
      card.filtered.splice(0, cut);
    }
  }

  function lowerBound(array, value) {
    let lo = 0;
    let hi = array.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (array[mid] < value) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function updateFigures(card) {
    setFigure(card, 'rate', formatRate(card.rate), card.rate);
    setFigure(card, 'algorithm', card.algorithm || '–', card.algorithm);
    setFigure(card, 'seq', formatCount(card.seq), card.seq);
    const sorted = [...card.e2e].sort((a, b) => a - b);
    const p50 = quantile(sorted, 0.5);
    const p99 = quantile(sorted, 0.99);
    setFigure(card, 'p50', formatMs(p50), p50);
    setFigure(card, 'p99', formatMs(p99), p99);
    const pipeline = quantile([...card.pipeline].sort((a, b) => a - b), 0.5);
    setFigure(card, 'pipeline-p50', formatMs(pipeline), pipeline);
    setFigure(card, 'points', formatCount(card.x.length), card.x.length);
  }

  function setFigure(card, name, text, value) {
    const el = card.figures[name];
    if (el.textContent !== text) el.textContent = text;
    el.dataset.value = value === undefined || value === null ? '' : String(value);
  }

  function quantile(sorted, q) {
    if (sorted.length === 0) return null;
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  function formatRate(rate) {
    if (!(rate > 0)) return '0';
    if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} M`;
    if (rate >= 1e4) return `${(rate / 1e3).toFixed(1)} k`;
    return Math.round(rate).toLocaleString('en-US');
  }

  function formatMs(ms) {
    if (ms === null || ms === undefined) return '–';
    return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
  }

  function formatCount(n) {
    return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
  }

  // ---- cards ---------------------------------------------------------------------------------------------------

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function createCard(streamId) {
    const el = ui.template.content.firstElementChild.cloneNode(true);
    el.dataset.streamCard = streamId;
    el.dataset.points = '0';
    el.dataset.frames = '0';
    el.querySelector('.stream-name').textContent = streamId;
    const figures = {};
    for (const f of el.querySelectorAll('[data-figure]')) figures[f.dataset.figure] = f;
    ui.charts.appendChild(el);

    const card = {
      id: streamId, el, figures, x: [], raw: [], filtered: [], e2e: [], pipeline: [],
      rate: 0, algorithm: '', seq: null, frames: 0, figuresAt: 0, plot: null,
    };
    const chartEl = el.querySelector('.chart');
    const grid = { stroke: cssVar('--grid'), width: 1 };
    const axis = { stroke: cssVar('--muted'), grid, ticks: { stroke: cssVar('--grid') }, font: '11px system-ui, sans-serif' };
    card.plot = new uPlot({
      width: Math.max(300, chartEl.clientWidth),
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: {
          time: false,
          // A constant window that scrolls, rather than a chart that stretches while it fills.
          range: (u, min, max) => (card.rate > 0 && card.x.length ? [newestX(card) - card.rate * WINDOW_SECONDS, newestX(card)] : [min, max]),
        },
      },
      series: [
        {},
        { label: 'raw', stroke: cssVar('--raw'), width: 1, points: { show: false } },
        { label: 'filtered', stroke: cssVar('--filtered'), width: 1.75, points: { show: false } },
      ],
      axes: [
        {
          ...axis,
          // x is the sample position; ticks sit on whole seconds before the newest sample.
          splits: (u, axis, min, max) => {
            if (!(card.rate > 0)) return [min, max];
            const newest = newestX(card);
            const splits = [];
            for (let s = 0; newest - s * card.rate >= min && splits.length < 30; s += 1) splits.unshift(newest - s * card.rate);
            return splits;
          },
          values: (u, splits) => splits.map((v) => (card.rate > 0 ? `${Math.round((v - newestX(card)) / card.rate)} s` : String(Math.round(v)))),
        },
        { ...axis, size: 56 },
      ],
    }, [[], [], []], chartEl);
    card.filter = FilterPanel.attach(el.querySelector('.filter-panel'), streamId, cssVar);
    state.cards.set(streamId, card);
    return card;
  }

  function newestX(card) {
    return card.x.length ? card.x[card.x.length - 1] : 0;
  }

  function removeCard(streamId) {
    const card = state.cards.get(streamId);
    if (!card) return;
    card.plot.destroy();
    card.filter.destroy();
    card.el.remove();
    state.cards.delete(streamId);
    state.dirty.delete(card);
  }

  function applySelection() {
    for (const id of [...state.cards.keys()]) {
      if (!state.selected.has(id)) removeCard(id);
    }
    for (const id of [...state.selected].sort()) {
      if (!state.cards.has(id)) createCard(id);
    }
    ui.empty.hidden = state.selected.size > 0;
    const capped = state.selected.size >= MAX_SELECTED && state.known.size > state.selected.size;
    ui.limitNote.hidden = !capped;
    ui.limitNote.textContent = capped
      ? `Showing ${state.selected.size} of ${state.known.size} streams: a page follows at most ${MAX_SELECTED} (the bridge's limit per client).`
      : '';
    for (const [id, row] of state.rows) {
      row.classList.toggle('selected', state.selected.has(id));
      row.querySelector('input').checked = state.selected.has(id);
    }
    if (state.refused && state.selected.size > 0) {
      state.refused = false;
      connect(); // the new socket subscribes when it opens
      return;
    }
    sendSubscription();
  }

  // ---- stream picker -------------------------------------------------------------------------------------------

  async function pollStreams() {
    let reached = false;
    try {
      // With a time limit: the AppHost's proxy, its bridge gone, accepts the request and never answers it.
      const response = await fetch('streams', { cache: 'no-store', signal: AbortSignal.timeout(STREAMS_TIMEOUT_MS) });
      // A 502 or 504 is a proxy's answer for a bridge it cannot reach; any other answer is the bridge's own.
      reached = response.status !== 502 && response.status !== 504;
      if (response.ok) renderStreams(await response.json());
    } catch {
      // No answer at all, or none in time: the bridge is restarting or gone (checkReachable decides, with the socket's silence).
    }
    checkReachable(reached);
    setTimeout(pollStreams, STREAMS_POLL_MS);
  }

  function renderStreams(streams) {
    ui.noStreams.hidden = streams.length > 0;
    const listed = new Set(streams.map((s) => s.stream_id));
    // Until the user picks, the page shows the first few streams listed: one the bridge forgot gives its place to the
    // next, so a page left open out of the box does not keep charts that never move.
    let changed = false;
    if (!state.userPicked) {
      for (const id of [...state.selected]) {
        if (!listed.has(id)) {
          state.selected.delete(id);
          changed = true;
        }
      }
    }

    // The bridge forgets streams silent for Bridge:StreamTtlSeconds; so does the list (a selected one keeps its row, so it
    // can be unticked), else every stream id ever seen stays, in the list, in "show all" and in its count.
    for (const id of [...state.known.keys()]) {
      if (!listed.has(id)) state.known.delete(id);
    }
    for (const [id, row] of [...state.rows]) {
      if (!listed.has(id) && !state.selected.has(id)) {
        row.remove();
        state.rows.delete(id);
      }
    }
    for (const s of streams) {
      state.known.set(s.stream_id, s);
      let row = state.rows.get(s.stream_id);
      if (!row) {
        row = createRow(s.stream_id);
        state.rows.set(s.stream_id, row);
        insertSorted(row, s.stream_id);
      }
      row.querySelector('.meta').textContent = `${s.algorithm} · ${formatRate(s.rate)}/s`;
      row.dataset.rate = String(s.rate);
    }

    if (!state.userPicked) {
      for (const s of streams) {
        if (state.selected.size >= AUTO_SELECTED) break;
        if (!state.selected.has(s.stream_id)) {
          state.selected.add(s.stream_id);
          changed = true;
        }
      }
    }
    if (changed) applySelection();
  }

  function createRow(streamId) {
    const row = document.createElement('li');
    row.dataset.streamId = streamId;
    const toggle = document.createElement('input');
    toggle.type = 'checkbox';
    toggle.dataset.streamToggle = streamId;
    toggle.setAttribute('aria-label', `show ${streamId}`);
    toggle.addEventListener('change', () => {
      state.userPicked = true;
      if (toggle.checked && state.selected.size >= MAX_SELECTED) {
        toggle.checked = false; // the note says why
      } else if (toggle.checked) {
        state.selected.add(streamId);
      } else {
        state.selected.delete(streamId);
      }
      applySelection();
    });
    const pick = document.createElement('button');
    pick.type = 'button';
    pick.className = 'pick';
    pick.textContent = streamId;
    pick.title = `Show only ${streamId}`;
    pick.dataset.streamPick = streamId;
    pick.addEventListener('click', () => {
      state.userPicked = true;
      state.selected = new Set([streamId]);
      applySelection();
    });
    const meta = document.createElement('span');
    meta.className = 'meta num';
    row.append(toggle, pick, meta);
    return row;
  }

  function insertSorted(row, streamId) {
    for (const other of ui.list.children) {
      if (other.dataset.streamId.localeCompare(streamId, 'en', { numeric: true }) > 0) {
        ui.list.insertBefore(row, other);
        return;
      }
    }
    ui.list.appendChild(row);
  }

  // ---- controls ------------------------------------------------------------------------------------------------

  ui.pause.addEventListener('click', () => {
    state.paused = !state.paused;
    ui.pause.setAttribute('aria-pressed', String(state.paused));
    ui.pause.textContent = state.paused ? 'Resume' : 'Pause';
    send({ type: state.paused ? 'pause' : 'resume' });
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      setConnection(state.paused ? 'paused' : 'open', state.paused ? 'paused' : 'live');
    }
  });

  ui.showAll.addEventListener('click', () => {
    state.userPicked = true;
    state.selected = new Set([...state.known.keys()].sort().slice(0, MAX_SELECTED));
    applySelection();
  });

  new ResizeObserver(() => {
    for (const card of state.cards.values()) {
      const width = card.el.querySelector('.chart').clientWidth;
      if (width > 0 && width !== card.plot.width) card.plot.setSize({ width, height: 220 });
    }
  }).observe(ui.charts);

  connect();
  pollStreams();
})();
