// gaitcoach dashboard: the coach's read-only view of several runners (a tile per runner found
// in the topic tree). Subscribes to status, metrics and cues of every runner; sends nothing.
'use strict';

(function () {
  const GC = window.GC;
  const MAX_RUNNERS = 60; // a flood of made-up runner ids must not grow the page without bound
  const STALE_S = 5;
  let cfg = { prefix: 'gaitcoach', user: '', brokerUrl: null };
  const tiles = new Map();
  let client = null;

  function field(tile, name, value, lvl) {
    const f = tile.el.querySelector('[data-field="' + name + '"]');
    f.querySelector('.value').textContent = value;
    f.dataset.level = lvl || 'none';
  }

  function tileFor(runner) {
    let t = tiles.get(runner);
    if (t) return t;
    if (tiles.size >= MAX_RUNNERS) return null;
    const el = GC.el('a', 'runner-tile');
    el.href = 'index.html?runner=' + encodeURIComponent(runner) +
      (cfg.prefix !== 'gaitcoach' ? '&prefix=' + encodeURIComponent(cfg.prefix) : '');
    el.dataset.runner = runner;
    const head = GC.el('div', 'head');
    head.appendChild(GC.el('span', 'name', runner));
    head.appendChild(GC.el('span', 'online', '?'));
    el.appendChild(head);
    const grid = GC.el('div', 'fields');
    for (const [name, label] of [['cadence', 'spm'], ['strike', 'strike °'], ['overstride', 'over cm'],
      ['contact', 'contact ms'], ['pace', 'pace /km'], ['battery', 'battery']]) {
      const f = GC.el('div', 'field');
      f.dataset.field = name;
      f.appendChild(GC.el('span', 'value', '–'));
      f.appendChild(GC.el('span', 'label', label));
      grid.appendChild(f);
    }
    el.appendChild(grid);
    el.appendChild(GC.el('p', 'last-cue', ''));
    t = { el, metricsAt: 0 };
    tiles.set(runner, t);
    // Keep tiles in runner order.
    const box = document.getElementById('runners');
    const after = Array.from(box.children).find((c) => c.dataset.runner > runner);
    box.insertBefore(el, after || null);
    document.getElementById('count').textContent = tiles.size + (tiles.size === 1 ? ' runner' : ' runners');
    return t;
  }

  function onStatus(t, d) {
    const online = GC.bool(d, 'online');
    if (online === null) return false;
    t.el.dataset.online = String(online);
    t.el.querySelector('.online').textContent = online ? 'online' : 'offline';
    const pods = Array.isArray(d.pods) ? d.pods.slice(0, 4) : [];
    const batteries = pods.map((p) => (p && typeof p === 'object' ? GC.num(p, 'battery_pct', 0, 100) : null))
      .filter((b) => b !== null);
    const low = batteries.length ? Math.min(...batteries) : null;
    field(t, 'battery', low === null ? '–' : low + ' %', low === null ? 'none' : low < 20 ? 'off' : 'ok');
    return true;
  }

  function onMetrics(t, d) {
    const tg = GC.obj(d, 'targets') || {};
    const cad = GC.num(d, 'cadence_spm', 0, 400);
    const strike = GC.num(d, 'foot_strike_angle_deg', -90, 90);
    const over = GC.num(d, 'overstride_m', -5, 5);
    const contact = GC.num(d, 'contact_time_s', 0, 5);
    field(t, 'cadence', GC.fixed(cad, 0), GC.level(cad, GC.num(tg, 'cadence_exit_at_spm', 60, 300),
      GC.num(tg, 'cadence_enter_below_spm', 60, 300), true));
    field(t, 'strike', GC.fixed(strike, 0), GC.level(strike, GC.num(tg, 'strike_angle_exit_deg', -90, 90),
      GC.num(tg, 'strike_angle_enter_deg', -90, 90), false));
    field(t, 'overstride', over === null ? '–' : (over * 100).toFixed(0), GC.level(over,
      GC.num(tg, 'overstride_exit_m', 0, 5), GC.num(tg, 'overstride_enter_m', 0, 5), false));
    field(t, 'contact', contact === null ? '–' : (contact * 1000).toFixed(0));
    field(t, 'pace', GC.pace(GC.num(d, 'speed_mps', 0, 20)));
    t.metricsAt = Date.now();
    return true;
  }

  function onCue(t, d) {
    const text = GC.text(d, 'text', 200);
    if (!text) return false;
    t.el.querySelector('.last-cue').textContent = GC.timeOfDay(Date.now() / 1000) + ' ' + text;
    return true;
  }

  function onMessage(topic, payload) {
    GC.stats.messages += 1;
    const parts = topic.split('/');
    const leaf = parts[parts.length - 1];
    const runner = parts[parts.length - 2];
    const prefix = parts.slice(0, -2).join('/');
    const d = GC.parse(payload);
    let used = false;
    if (d && prefix === cfg.prefix && GC.RUNNER_RE.test(runner) && GC.envelope(d, leaf, runner)) {
      const t = tileFor(runner);
      if (t) {
        if (leaf === 'status') used = onStatus(t, d);
        else if (leaf === 'metrics') used = onMetrics(t, d);
        else if (leaf === 'cue') used = onCue(t, d);
      }
    }
    if (!used) GC.stats.ignored += 1;
  }

  function start(username, password) {
    document.getElementById('prefix').textContent = cfg.prefix;
    client = GC.connect({
      brokerUrl: cfg.brokerUrl,
      username,
      password,
      topics: ['status', 'metrics', 'cue'].map((l) => cfg.prefix + '/+/' + l),
      onMessage,
      onState: (s, detail) => {
        const c = document.getElementById('conn');
        c.dataset.state = s;
        c.textContent = s === 'connected' ? 'live' : s + (detail ? ': ' + detail : '');
        if (s === 'denied') {
          document.getElementById('login-why').textContent = 'The broker refused the connection: sign in.';
          GC.login(document.getElementById('login'), { username: cfg.user || 'coach' }, (u, p) => start(u, p));
        }
      },
    });
    window.GC.client = client;
  }

  setInterval(() => {
    for (const t of tiles.values()) {
      t.el.dataset.stale = String(!t.metricsAt || Date.now() - t.metricsAt > STALE_S * 1000);
    }
  }, 1000);

  GC.boot((c) => {
    cfg = c;
    start(cfg.user, '');
  });
})();
