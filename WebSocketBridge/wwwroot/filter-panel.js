// The filter panel of a stream card: what the stream's filter runs (algorithm, parameters, where they come from, since
// which seq) and a small plot over time of what it has learned (kalman: gain; rls/lms: the weights), from the bridge's
// GET /streams/{id}/filter (the processor's view, cached by the bridge; docs/websocket-bridge.md). Polled only while the
// panel is open. Plain JS, no build step; uPlot is the page's own.
(() => {
  'use strict';

  const POLL_MS = 1000;
  const MAX_POINTS = 300;           // five minutes at one answer a second
  const MAX_WEIGHTS = 8;            // lines drawn for an rls/lms weight vector; the rest are named in a note
  const PLOT_HEIGHT = 140;
  const PALETTE = ['#0f8b8d', '#5a6cf0', '#c27c0e', '#c23b3b', '#1f9d55', '#9b59b6', '#e67e22', '#7f8c8d'];

  const format = (v) => (typeof v === 'number' ? Number(v.toPrecision(4)).toString() : String(v));
  const pairs = (object) => Object.entries(object || {}).map(([k, v]) => `${k}=${format(v)}`).join(' · ') || '–';

  function attach(el, streamId, cssVar) {
    const fields = {};
    for (const f of el.querySelectorAll('[data-filter-field]')) fields[f.dataset.filterField] = f;
    const status = el.querySelector('[data-filter-status]');
    const chartEl = el.querySelector('.filter-chart');
    const note = el.querySelector('.filter-note');
    const legend = note.parentElement;
    el.dataset.filterPanel = streamId;
    el.dataset.state = 'closed';
    el.dataset.points = '0';

    const panel = { timer: null, running: false, stopped: false, plot: null, shape: '', data: null };
    const url = `streams/${encodeURIComponent(streamId)}/filter`;

    function setState(state, text) {
      el.dataset.state = state;
      status.textContent = text;
      status.hidden = !text;
    }

    // Closed, or gone with its card: the loop ends, and an answer that arrives after that is dropped (the panel says
    // 'closed' until it is opened again).
    const closed = () => !el.open || panel.stopped;

    // One loop per panel, however often it is opened and closed: it asks, waits a second, and ends once closed.
    async function run() {
      if (panel.running) return;
      panel.running = true;
      while (!closed() && (await ask())) {
        await new Promise((resolve) => { panel.timer = setTimeout(resolve, POLL_MS); });
      }
      panel.running = false;
    }

    // One question; false when asking again is pointless.
    async function ask() {
      try {
        const response = await fetch(url, { cache: 'no-store' });
        if (response.ok) {
          const view = await response.json();
          if (closed()) return false;
          show(view);
          return true;
        }
        const problem = await response.json().catch(() => ({}));
        if (closed()) return false;
        if (response.status === 501) {
          setState('not-configured', 'Filter state not available: this bridge has no processor address (Bridge:ProcessorUrl or PROCESSOR_URL).');
          return false; // a setting, not a moment
        }
        if (response.status === 404) {
          setState('not-found', 'The processor does not hold this stream right now (no chunk yet, or idle); asking again.');
        } else {
          setState('unavailable', `${problem.detail || `The bridge answered ${response.status}.`} Asking again.`);
        }
      } catch {
        if (closed()) return false;
        setState('unavailable', 'The bridge cannot be reached; asking again.');
      }
      return true;
    }

    function show(view) {
      const config = view.config || {};
      const filter = view.filter;
      setField('algorithm', config.algorithm || '–');
      setField('params', pairs(config.params));
      setField('source', config.source === 'default' ? 'deployment default' : (config.source || '–'));
      setField('switch-seq', config.switchSeq === null || config.switchSeq === undefined ? 'its first chunk' : format(config.switchSeq));
      setField('last-seq', view.lastSeq === null || view.lastSeq === undefined ? '–' : format(view.lastSeq));
      const pending = view.pendingConfig;
      setField('pending', !pending ? '–' : pending.error ? `refused: ${pending.error}` : `${pending.algorithm} ${pairs(pending.params)} (at the next chunk)`);
      setField('values', filter ? describe(filter) : 'no chunk filtered yet');
      setState('ok', '');
      if (filter) plot(filter);
    }

    // kalman: estimate, error variance, gain; rls/lms: the first weights; ls: window fill; and samples filtered.
    function describe(filter) {
      const parts = Object.entries(filter.values || {}).map(([k, v]) => `${k}=${format(v)}`);
      for (const [name, vector] of Object.entries(filter.vectors || {})) {
        const shown = vector.slice(0, MAX_WEIGHTS).map(format).join(', ');
        parts.push(`${name}=[${shown}${vector.length > MAX_WEIGHTS ? `, … ${vector.length} in all` : ''}]`);
      }
      parts.push(`samples=${format(filter.samplesProcessed)}`);
      return parts.join(' · ');
    }

    function setField(name, text) {
      const f = fields[name];
      if (f && f.textContent !== text) f.textContent = text;
    }

    // What is plotted: the weight vector when there is one, else the kalman gain, else nothing (ls: text only).
    function series(filter) {
      const weights = filter.vectors && filter.vectors.weights;
      if (Array.isArray(weights) && weights.length > 0) {
        const shown = weights.slice(0, MAX_WEIGHTS);
        const rest = weights.length - shown.length;
        return {
          names: shown.map((_, i) => `w${i}`), values: shown, length: weights.length,
          note: `weights, newest tap first${rest > 0 ? `; first ${shown.length} of ${weights.length} shown` : ''}`,
        };
      }
      if (filter.values && typeof filter.values.gain === 'number') {
        return { names: ['gain'], values: [filter.values.gain], length: 1, note: 'kalman gain (what the next sample gets)' };
      }
      return null;
    }

    // Ticks on whole seconds back from the newest answer, a readable step apart (at most about 8 ticks).
    function secondSplits(u, axisIndex, min, max) {
      const end = newest();
      const step = [1, 2, 5, 10, 15, 30, 60, 120].find((s) => (max - min) / s <= 8) || 300;
      const splits = [];
      for (let x = end; x >= min && splits.length < 20; x -= step) splits.unshift(x);
      return splits.length ? splits : [min, max];
    }

    function newest() {
      const x = panel.data[0];
      return x.length ? x[x.length - 1] : 0;
    }

    function plot(filter) {
      const s = series(filter);
      if (!s) {
        note.textContent = `nothing to plot for ${filter.algorithm}`;
        return;
      }
      // The whole vector's length, not the lines shown (at most MAX_WEIGHTS): order 16 -> 32 is a new filter too.
      const shape = `${filter.algorithm}:${s.length}`;
      if (shape !== panel.shape) rebuild(shape, s.names);
      const data = panel.data;
      data[0].push(Date.now() / 1000);
      s.values.forEach((v, i) => data[i + 1].push(v));
      if (data[0].length > MAX_POINTS) data.forEach((column) => column.splice(0, column.length - MAX_POINTS));
      panel.plot.setData(data);
      note.textContent = s.note;
      el.dataset.points = String(data[0].length);
    }

    // A new algorithm or vector length starts a new plot: the old lines mean something else.
    function rebuild(shape, names) {
      if (panel.plot) panel.plot.destroy();
      panel.shape = shape;
      panel.data = [[], ...names.map(() => [])];
      legend.replaceChildren(...names.map((name, i) => {
        const key = document.createElement('span');
        key.className = 'key';
        key.style.setProperty('--key', PALETTE[i % PALETTE.length]);
        key.textContent = name;
        return key;
      }), note);
      const grid = { stroke: cssVar('--grid'), width: 1 };
      const axis = { stroke: cssVar('--muted'), grid, ticks: { stroke: cssVar('--grid') }, font: '11px system-ui, sans-serif' };
      panel.plot = new uPlot({
        width: Math.max(300, chartEl.clientWidth),
        height: PLOT_HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false } },
        series: [{}, ...names.map((name, i) => ({ label: name, stroke: PALETTE[i % PALETTE.length], width: 1.5, points: { show: false } }))],
        // x is the page's clock in seconds, labelled as seconds before the newest answer.
        axes: [{ ...axis, splits: secondSplits, values: (u, splits) => splits.map((v) => `${Math.round(v - newest())} s`) }, { ...axis, size: 64 }],
      }, panel.data, chartEl);
    }

    el.addEventListener('toggle', () => {
      if (el.open) {
        if (el.dataset.state === 'closed') setState('loading', 'Asking the processor…');
        run();
      } else {
        el.dataset.state = 'closed';
      }
    });

    const resize = new ResizeObserver(() => {
      const width = chartEl.clientWidth;
      if (panel.plot && width > 0 && width !== panel.plot.width) panel.plot.setSize({ width, height: PLOT_HEIGHT });
    });
    resize.observe(chartEl);

    return {
      destroy() {
        panel.stopped = true;
        clearTimeout(panel.timer);
        resize.disconnect();
        if (panel.plot) panel.plot.destroy();
      },
    };
  }

  window.FilterPanel = { attach };
})();
