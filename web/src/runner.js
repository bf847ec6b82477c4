// gaitcoach dashboard: one runner's live page. Topics and payloads: docs/mqtt/topics.md.
'use strict';

(function () {
  const GC = window.GC;
  const WINDOW_S = 300; // plots show the last 5 minutes (of the service's clock)
  const MAX_POINTS = 1200;
  const MAX_CUES = 40;
  // Cues waiting to be spoken: a flood (a runaway or hostile publisher, cues that expire far
  // ahead) must not grow the queue, and the sort on every cue, without bound.
  const MAX_SPEECH_QUEUE = 20;
  const STALE_S = 5; // values greyed when no metrics came for this long
  const REPLY_TIMEOUT_MS = 10000;
  const BODY_PARTS = ['foot', 'ankle', 'achilles', 'shin', 'calf', 'knee', 'thigh', 'hamstring',
    'hip', 'back', 'side', 'chest', 'other'];
  const ACTIVITIES = ['standing', 'walking', 'running'];
  const STRIKES = ['rearfoot', 'midfoot', 'forefoot'];
  const FEET = ['left', 'right', 'unknown'];
  const LINK_STATES = ['scanning', 'connecting', 'streaming', 'disconnected'];
  const CUE_KINDS = ['cadence', 'stride', 'softer', 'reinforce', 'discomfort'];

  const $ = (sel) => document.querySelector(sel);
  let cfg = { runner: null, prefix: 'gaitcoach', user: '', brokerUrl: null };
  const state = {
    client: null,
    base: '',
    replyTopic: '',
    metrics: null,
    metricsAt: 0,
    targets: {},
    link: {},
    pods: [],
    cueTempo: null,
    pending: new Map(),
    seq: 0,
  };
  // What the tests and the bench read: strides as shown (latency), cues, audio.
  const probe = { strides: [], cues: [], spoken: [], beats: 0 };
  window.GC.probe = probe;

  // -- tiles ---------------------------------------------------------------------------------

  function tile(name, value, target, lvl) {
    const t = document.querySelector('.tile[data-metric="' + name + '"]');
    t.querySelector('.value').textContent = value;
    t.querySelector('.target').textContent = target;
    t.dataset.level = lvl;
  }

  function readTargets(d) {
    const t = GC.obj(d, 'targets') || {};
    const n = (k, lo, hi) => GC.num(t, k, lo, hi);
    return {
      cadence: n('cadence_spm', 60, 300),
      cadenceEnter: n('cadence_enter_below_spm', 60, 300),
      cadenceExit: n('cadence_exit_at_spm', 60, 300),
      strikeEnter: n('strike_angle_enter_deg', -90, 90),
      strikeExit: n('strike_angle_exit_deg', -90, 90),
      overEnter: n('overstride_enter_m', 0, 5),
      overExit: n('overstride_exit_m', 0, 5),
    };
  }

  function readLink(d) {
    const link = GC.obj(d, 'link') || {};
    const out = {};
    for (const foot of FEET) {
      const c = GC.obj(link, foot);
      if (!c) continue;
      const samples = GC.num(c, 'samples', 0, 1e15);
      const lost = GC.num(c, 'lost_samples', 0, 1e15);
      if (samples !== null && lost !== null) out[foot] = { samples, lost };
    }
    return out;
  }

  function onMetrics(d) {
    if (!GC.envelope(d, 'metrics', cfg.runner)) return false;
    const t = GC.num(d, 't_unix_s', 0, 1e11);
    if (t === null) return false;
    const m = {
      t,
      activity: GC.oneOf(d, 'activity', ACTIVITIES),
      cadence: GC.num(d, 'cadence_spm', 0, 400),
      contact: GC.num(d, 'contact_time_s', 0, 5),
      strike: GC.num(d, 'foot_strike_angle_deg', -90, 90),
      pattern: GC.oneOf(d, 'strike_pattern', STRIKES),
      over: GC.num(d, 'overstride_m', -5, 5),
      speed: GC.num(d, 'speed_mps', 0, 20),
      balance: GC.num(d, 'balance_contact_left_pct', 0, 100),
      elapsed: GC.num(d, 'elapsed_s', 0, 1e7),
      distance: GC.num(d, 'distance_m', 0, 1e7),
      muted: GC.num(d, 'muted_until_unix_s', 0, 1e11),
      session: GC.text(d, 'session_id', 64),
    };
    const tg = readTargets(d);
    state.metrics = m;
    state.targets = tg;
    state.link = readLink(d);
    state.metricsAt = Date.now();
    document.getElementById('tiles').dataset.t = String(t);
    tile('elapsed', GC.clock(m.elapsed), m.session ? m.session : '', 'none');
    tile('distance', m.distance === null ? '–' : (m.distance / 1000).toFixed(2), '', 'none');
    tile('pace', GC.pace(m.speed), m.speed === null ? '' : m.speed.toFixed(2) + ' m/s', 'none');
    tile('cadence', GC.fixed(m.cadence, 0),
      tg.cadence === null ? 'target: after warm-up' : 'target ' + tg.cadence.toFixed(0),
      GC.level(m.cadence, tg.cadenceExit, tg.cadenceEnter, true));
    tile('contact', m.contact === null ? '–' : (m.contact * 1000).toFixed(0), 'no target', 'none');
    tile('strike', GC.fixed(m.strike, 0),
      (m.pattern ? m.pattern + ' · ' : '') + (tg.strikeEnter === null ? '' : 'limit ' + tg.strikeEnter.toFixed(0)),
      GC.level(m.strike, tg.strikeExit, tg.strikeEnter, false));
    tile('overstride', m.over === null ? '–' : (m.over * 100).toFixed(0),
      tg.overEnter === null ? '' : 'limit ' + (tg.overEnter * 100).toFixed(0),
      GC.level(m.over, tg.overExit, tg.overEnter, false));
    // L/R balance has no coaching target: 50 % is symmetric; the band is a reference.
    const dev = m.balance === null ? null : Math.abs(m.balance - 50);
    tile('balance', GC.fixed(m.balance, 1), 'ref 50 ± 2', GC.level(dev, 2, 4, false));
    tile('activity', m.activity || '–', '', 'none');
    $('#muted').textContent = m.muted !== null ? 'muted until ' + GC.timeOfDay(m.muted) : '';
    updateTempo();
    plots.add(m, tg);
    renderPods();
    return true;
  }

  function onStride(d) {
    if (!GC.envelope(d, 'stride', cfg.runner)) return false;
    const t = GC.num(d, 't_unix_s', 0, 1e11);
    const s = GC.obj(d, 'stride');
    if (t === null || !s) return false;
    const foot = GC.oneOf(s, 'foot', FEET) || '?';
    const contact = GC.num(s, 'contact_time_s', 0, 5);
    const strike = GC.num(s, 'foot_strike_angle_deg', -90, 90);
    const cadence = GC.num(s, 'cadence_spm', 0, 400);
    const over = GC.num(s, 'overstride_m', -5, 5);
    const shown = [
      foot,
      'contact ' + (contact === null ? '–' : (contact * 1000).toFixed(0) + ' ms'),
      'strike ' + GC.fixed(strike, 1) + '°',
      'cadence ' + GC.fixed(cadence, 0),
      'overstride ' + (over === null ? '–' : (over * 100).toFixed(0) + ' cm'),
    ].join(' · ');
    const p = $('#stride');
    p.textContent = shown;
    p.dataset.t = String(t);
    const entry = { t, foot, contact, strike, setAt: performance.timeOrigin + performance.now(),
      frameAt: null };
    probe.strides.push(entry);
    if (probe.strides.length > 5000) probe.strides.splice(0, 1000);
    requestAnimationFrame(() => { entry.frameAt = performance.timeOrigin + performance.now(); });
    return true;
  }

  // -- status and pods -------------------------------------------------------------------------

  function onStatus(d) {
    if (!GC.envelope(d, 'status', cfg.runner)) return false;
    const online = GC.bool(d, 'online');
    if (online === null) return false;
    const svc = $('#service');
    svc.dataset.online = String(online);
    if (online) {
      const session = GC.text(d, 'session_id', 64);
      const proto = GC.oneOf(d, 'protocol', ['5', '3.1.1']);
      svc.textContent = 'service online' + (session ? ' · ' + session : '') + (proto ? ' · MQTT ' + proto : '');
    } else {
      const t = GC.num(d, 't_unix_s', 0, 1e11);
      const reason = GC.text(d, 'reason', 60) || 'offline';
      svc.textContent = 'service offline: ' + reason + (t ? ' (' + GC.timeOfDay(t) + ')' : '');
    }
    const pods = Array.isArray(d.pods) ? d.pods.slice(0, 4) : [];
    state.pods = pods.filter((p) => p && typeof p === 'object').map((p) => ({
      foot: GC.oneOf(p, 'foot', FEET) || '?',
      state: GC.oneOf(p, 'state', LINK_STATES) || '?',
      battery: GC.num(p, 'battery_pct', 0, 100),
      rssi: GC.num(p, 'rssi_dbm', -200, 50),
    }));
    if (!online) state.pods = state.pods.map((p) => Object.assign({}, p, { state: 'unknown' }));
    renderPods();
    return true;
  }

  let podsShown = '';
  function renderPods() {
    const cells = state.pods.map((p) => {
      const c = state.link[p.foot];
      const loss = c && c.samples + c.lost > 0 ? (100 * c.lost) / (c.samples + c.lost) : null;
      return [p.foot, p.state, p.battery === null ? '–' : p.battery + ' %',
        p.rssi === null ? '–' : p.rssi + ' dBm', loss === null ? '–' : loss.toFixed(2) + ' %'];
    });
    const key = JSON.stringify(cells);
    if (key === podsShown) return; // metrics come every second: touch the DOM only on change
    podsShown = key;
    const rows = cells.map((values, i) => {
      const p = state.pods[i];
      const tr = document.createElement('tr');
      tr.dataset.foot = p.foot;
      tr.dataset.state = p.state;
      for (const v of values) tr.appendChild(GC.el('td', '', v));
      if (p.battery !== null && p.battery < 20) tr.dataset.low = 'true';
      return tr;
    });
    $('#pods tbody').replaceChildren(...rows);
  }

  // -- cues, speech and the metronome ---------------------------------------------------------

  const speech = { queue: [], current: null, since: 0 };
  probe.speech = speech;

  function cueState(cue, s) {
    cue.state = s;
    if (cue.li) {
      cue.li.dataset.state = s;
      cue.li.querySelector('.state').textContent = s;
    }
  }

  function onCue(d) {
    if (!GC.envelope(d, 'cue', cfg.runner)) return false;
    const text = GC.text(d, 'text', 300);
    const created = GC.num(d, 'created_unix_s', 0, 1e11);
    const expires = GC.num(d, 'expires_unix_s', 0, 1e11);
    if (!text || created === null || expires === null) return false;
    const cue = {
      id: GC.text(d, 'id', 128) || '',
      kind: GC.oneOf(d, 'kind', CUE_KINDS) || 'other',
      text,
      priority: GC.num(d, 'priority', 0, 1000) || 0,
      created,
      expires,
      metronome: GC.num(d, 'metronome_spm', 60, 300),
      state: 'new',
      li: null,
    };
    if (cue.metronome !== null) {
      state.cueTempo = cue.metronome;
      updateTempo();
    }
    const li = GC.el('li');
    li.dataset.id = cue.id;
    li.dataset.kind = cue.kind;
    li.appendChild(GC.el('time', '', GC.timeOfDay(Date.now() / 1000)));
    li.appendChild(GC.el('span', 'kind', cue.kind));
    li.appendChild(GC.el('span', 'text', cue.text));
    li.appendChild(GC.el('span', 'state', ''));
    cue.li = li;
    const list = $('#cues');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_CUES) list.removeChild(list.lastChild);
    probe.cues.push({ id: cue.id, text: cue.text, at: Date.now() });
    if (probe.cues.length > 500) probe.cues.splice(0, 100);
    // A cue received after its expiry is worthless (docs/mqtt/topics.md): shown, not spoken.
    if (Date.now() / 1000 > cue.expires) {
      cueState(cue, 'expired');
    } else if (toggles.speak) {
      cueState(cue, 'queued');
      speak(cue);
    } else {
      cueState(cue, 'heard');
    }
    return true;
  }

  function speak(cue) {
    if (!('speechSynthesis' in window)) {
      cueState(cue, 'heard');
      return;
    }
    // One message at a time; a more important one interrupts a less important one.
    if (speech.current && cue.priority > speech.current.priority) {
      speech.queue.unshift(cue);
      boundSpeech();
      window.speechSynthesis.cancel(); // its onerror ('interrupted') pumps the queue
      return;
    }
    speech.queue.push(cue);
    speech.queue.sort((a, b) => b.priority - a.priority);
    boundSpeech();
    pump();
  }

  /** The least important waiting cues beyond MAX_SPEECH_QUEUE are dropped (and shown so). */
  function boundSpeech() {
    while (speech.queue.length > MAX_SPEECH_QUEUE) cueState(speech.queue.pop(), 'dropped');
  }

  function pump() {
    const now = Date.now();
    if (speech.current && now - speech.since < 20000) return;
    speech.current = null;
    let cue;
    while ((cue = speech.queue.shift())) {
      if (now / 1000 <= cue.expires) break;
      cueState(cue, 'expired');
    }
    if (!cue) return;
    const u = new SpeechSynthesisUtterance(cue.text);
    u.lang = 'en';
    u.rate = 1.05;
    const done = (ok) => () => {
      if (speech.current !== cue) return;
      cueState(cue, ok ? 'heard' : 'interrupted');
      speech.current = null;
      pump();
    };
    u.onend = done(true);
    u.onerror = done(false);
    speech.current = cue;
    speech.since = now;
    cueState(cue, 'speaking');
    probe.spoken.push(cue.text);
    window.speechSynthesis.speak(u);
  }

  const toggles = { speak: false, metronome: false };
  const metro = { ctx: null, timer: null, next: 0, spm: null };

  function tempo() {
    const t = state.targets.cadence;
    const spm = t !== null && t !== undefined ? t : state.cueTempo;
    return spm !== null && spm !== undefined && spm >= 60 && spm <= 300 ? spm : null;
  }

  function updateTempo() {
    metro.spm = tempo();
    $('#tempo').textContent = metro.spm === null ? '–' : metro.spm.toFixed(0) + ' spm';
  }

  function click(at) {
    const ctx = metro.ctx;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 1200;
    gain.gain.setValueAtTime(0.25, at);
    gain.gain.exponentialRampToValueAtTime(0.001, at + 0.03);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.04);
    probe.beats += 1;
  }

  // Beats are scheduled on the audio clock a little ahead (a timer alone jitters by tens of ms).
  function schedule() {
    const ctx = metro.ctx;
    if (!ctx || metro.spm === null) return;
    const ahead = ctx.currentTime + 0.15;
    if (metro.next < ctx.currentTime) metro.next = ctx.currentTime + 0.05; // after a stall
    while (metro.next < ahead) {
      click(metro.next);
      metro.next += 60 / metro.spm;
    }
  }

  function setToggle(button, on) {
    button.setAttribute('aria-pressed', String(on));
  }

  function initSound() {
    const sp = $('#speak');
    sp.addEventListener('click', () => {
      toggles.speak = !toggles.speak;
      setToggle(sp, toggles.speak);
      if (!toggles.speak && 'speechSynthesis' in window) {
        window.speechSynthesis.cancel();
        speech.queue.length = 0;
      } else if ('speechSynthesis' in window) {
        // Speaking needs a tap first on phones: say something short now.
        window.speechSynthesis.speak(new SpeechSynthesisUtterance('Cues on'));
      }
      wakeLock();
    });
    const mb = $('#metronome');
    mb.addEventListener('click', () => {
      toggles.metronome = !toggles.metronome;
      setToggle(mb, toggles.metronome);
      if (toggles.metronome) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (!Ctx) return;
        metro.ctx = metro.ctx || new Ctx();
        metro.ctx.resume();
        metro.next = 0;
        metro.timer = setInterval(schedule, 25);
      } else {
        clearInterval(metro.timer);
        metro.timer = null;
        if (metro.ctx) metro.ctx.suspend();
      }
      wakeLock();
    });
  }

  let lock = null;
  function wakeLock() {
    // Keep the phone's screen on while sound is on (secure pages only; best effort).
    const want = toggles.speak || toggles.metronome;
    if (want && !lock && navigator.wakeLock) {
      navigator.wakeLock.request('screen').then((l) => { lock = l; }, () => {});
    } else if (!want && lock) {
      lock.release();
      lock = null;
    }
  }

  // -- commands -------------------------------------------------------------------------------

  function command(name, args) {
    const reply = $('#reply');
    if (!state.client || !state.client.connected) {
      reply.dataset.ok = 'false';
      reply.textContent = name + ': not connected to the broker';
      return null;
    }
    state.seq += 1;
    const id = 'dash-' + state.seq + '-' + GC.randomTag();
    const body = JSON.stringify(Object.assign({ v: 1, id }, args));
    state.pending.set(id, { name, at: Date.now() });
    state.client.publish(state.base + '/cmd/' + name, body, {
      qos: 1,
      retain: false,
      properties: { responseTopic: state.replyTopic, correlationData: new TextEncoder().encode(id) },
    });
    reply.dataset.ok = '';
    reply.textContent = name + ': sent…';
    setTimeout(() => {
      if (state.pending.delete(id)) {
        reply.dataset.ok = 'false';
        reply.textContent = name + ': no reply (is the service running?)';
      }
    }, REPLY_TIMEOUT_MS);
    return id;
  }

  function onReply(d) {
    if (!GC.envelope(d, 'reply', cfg.runner)) return false;
    const id = GC.text(d, 'id', 128);
    if (!id || !state.pending.has(id)) return true; // another device's reply
    state.pending.delete(id);
    const ok = GC.bool(d, 'ok') === true;
    const name = GC.text(d, 'command', 64) || '?';
    const reply = $('#reply');
    reply.dataset.ok = String(ok);
    reply.dataset.id = id;
    if (ok) {
      const r = GC.obj(d, 'result') || {};
      const said = GC.text(r, 'answer', 200) || GC.text(r, 'action', 60) || '';
      reply.textContent = name + ': ok' + (said ? ' · ' + said : '');
    } else {
      const e = GC.obj(d, 'error') || {};
      reply.textContent = name + ': ' + (GC.text(e, 'code', 40) || 'error') + ' · ' +
        (GC.text(e, 'message', 160) || '');
    }
    return true;
  }

  function initCommands() {
    const scores = $('#scores');
    for (let s = 0; s <= 10; s += 1) {
      const b = GC.el('button', 'score', String(s));
      b.dataset.score = String(s);
      b.type = 'button';
      b.addEventListener('click', () => {
        const part = $('#body-part').value;
        if (BODY_PARTS.indexOf(part) >= 0) command('discomfort', { body_part: part, score: s });
      });
      scores.appendChild(b);
    }
    for (const b of document.querySelectorAll('button.cmd')) {
      b.addEventListener('click', () => command('mute', { duration_s: Number(b.dataset.duration) }));
    }
  }

  // -- plots ----------------------------------------------------------------------------------

  const plots = (function () {
    const names = ['cadence', 'contact', 'strike', 'overstride'];
    const data = { t: [], cadence: [], contact: [], strike: [], overstride: [], cadT: [], strT: [], ovT: [] };
    const charts = {};
    let dirty = false;
    let lastDraw = 0;

    function make(name, series) {
      const box = document.querySelector('.plot[data-plot="' + name + '"]');
      const opts = {
        width: Math.max(120, box.clientWidth - 16),
        height: box.clientWidth < 250 ? 90 : 110,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true } },
        axes: [{ size: 24, stroke: '#889' }, { size: 40, stroke: '#889' }],
        series: [{}].concat(series),
      };
      charts[name] = new window.uPlot(opts, [[], ...series.map(() => [])], box);
    }

    function init() {
      if (!window.uPlot) return;
      make('cadence', [{ stroke: '#4aa3ff', width: 2 }, { stroke: '#3c6', dash: [4, 4] }]);
      make('contact', [{ stroke: '#c9f', width: 2 }]);
      make('strike', [{ stroke: '#fa4', width: 2 }, { stroke: '#e55', dash: [4, 4] }]);
      make('overstride', [{ stroke: '#4dd', width: 2 }, { stroke: '#e55', dash: [4, 4] }]);
      window.addEventListener('resize', () => {
        for (const n of names) {
          const box = document.querySelector('.plot[data-plot="' + n + '"]');
          const w = box.clientWidth;
          if (charts[n]) charts[n].setSize({ width: Math.max(120, w - 16), height: w < 250 ? 90 : 110 });
        }
      });
    }

    function add(m, tg) {
      const t = data.t;
      if (t.length && m.t <= t[t.length - 1]) return; // out of order or repeated
      t.push(m.t);
      data.cadence.push(m.cadence);
      data.contact.push(m.contact === null ? null : m.contact * 1000);
      data.strike.push(m.strike);
      data.overstride.push(m.over === null ? null : m.over * 100);
      data.cadT.push(tg.cadence);
      data.strT.push(tg.strikeEnter);
      data.ovT.push(tg.overEnter === null ? null : tg.overEnter * 100);
      let cut = 0;
      while (cut < t.length && (t[cut] < m.t - WINDOW_S || t.length - cut > MAX_POINTS)) cut += 1;
      if (cut) for (const k of Object.keys(data)) data[k].splice(0, cut);
      dirty = true;
    }

    // Redraw at most once a second: the plots show minutes, and CPU on a phone matters.
    function frame(now) {
      if (dirty && now - lastDraw > 1000 && charts.cadence) {
        dirty = false;
        lastDraw = now;
        charts.cadence.setData([data.t, data.cadence, data.cadT]);
        charts.contact.setData([data.t, data.contact]);
        charts.strike.setData([data.t, data.strike, data.strT]);
        charts.overstride.setData([data.t, data.overstride, data.ovT]);
      }
      requestAnimationFrame(frame);
    }

    return { init, add, start: () => requestAnimationFrame(frame), data };
  })();

  // -- connection -----------------------------------------------------------------------------

  function setConn(s, detail) {
    const c = $('#conn');
    c.dataset.state = s;
    c.textContent = s === 'connected' ? 'live' : s + (detail ? ': ' + detail : '');
    if (s !== 'connected') c.title = detail || '';
  }

  function onMessage(topic, payload) {
    GC.stats.messages += 1;
    if (topic.indexOf(state.base + '/') !== 0) return;
    const leaf = topic.slice(state.base.length + 1);
    const d = GC.parse(payload);
    let used = false;
    if (d) {
      if (leaf === 'metrics') used = onMetrics(d);
      else if (leaf === 'stride') used = onStride(d);
      else if (leaf === 'cue') used = onCue(d);
      else if (leaf === 'status') used = onStatus(d);
      else if (leaf === 'reply' || leaf.indexOf('reply/') === 0) used = onReply(d);
      else if (leaf === 'session') used = true;
    }
    if (!used) GC.stats.ignored += 1;
  }

  function start(runner, username, password) {
    cfg.runner = runner;
    $('#runner-name').textContent = runner;
    document.title = 'gaitcoach ' + runner;
    state.base = cfg.prefix + '/' + runner;
    state.replyTopic = state.base + '/reply/dash-' + GC.randomTag();
    const topics = ['metrics', 'stride', 'cue', 'status', 'session', 'reply/#'].map((l) => state.base + '/' + l);
    state.client = GC.connect({
      brokerUrl: cfg.brokerUrl,
      username,
      password,
      topics,
      onMessage,
      onState: (s, detail) => {
        setConn(s, detail);
        if (s === 'denied') askLogin(runner, 'The broker refused the connection: sign in.');
      },
    });
    window.GC.client = state.client;
  }

  function askLogin(runner, why) {
    $('#login-why').textContent = why;
    const form = $('#login');
    const r = form.querySelector('[name=runner]');
    if (!r.value) r.value = runner || '';
    GC.login(form, { username: cfg.user || runner || '' }, (user, pass) => {
      const name = String(new FormData(form).get('runner') || '');
      if (!GC.RUNNER_RE.test(name)) return askLogin(runner, 'A runner id is 1-64 of A-Z a-z 0-9 _ -');
      if (state.client) state.client.end(true);
      start(name, user, pass);
    });
  }

  // Grey out values that stopped coming (broker or service away).
  setInterval(() => {
    const stale = !state.metricsAt || Date.now() - state.metricsAt > STALE_S * 1000;
    document.getElementById('tiles').dataset.stale = String(stale);
  }, 1000);

  initSound();
  initCommands();
  plots.init();
  plots.start();
  GC.boot((c) => {
    cfg = c;
    if (cfg.runner) start(cfg.runner, cfg.user, '');
    else askLogin('', 'Which runner? (the address can say it: ?runner=alice)');
  });
})();
