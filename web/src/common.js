// gaitcoach dashboard: shared helpers (a classic script: Mosquitto's http_dir serves files
// without a Content-Type, which module scripts need). Everything read from MQTT is untrusted:
// payloads are parsed defensively, values are checked by type and range, and text only ever
// reaches the page through textContent (never innerHTML).
'use strict';

(function (global) {
  const RUNNER_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const PREFIX_RE = /^[A-Za-z0-9_-]{1,64}(\/[A-Za-z0-9_-]{1,64}){0,4}$/;
  const MAX_PAYLOAD = 65536; // bytes; the service's largest message (a session summary) is smaller
  const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
  const decoder = new TextDecoder('utf-8', { fatal: true });

  const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  /** A JSON object from an MQTT payload, or null (too large, not UTF-8, not JSON, not an object). */
  function parse(payload) {
    if (!payload || payload.length > MAX_PAYLOAD) return null;
    let value;
    try {
      value = JSON.parse(decoder.decode(payload));
    } catch (e) {
      return null;
    }
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  }

  /** A finite number in [lo, hi], else null. */
  function num(o, k, lo, hi) {
    if (!o || !has(o, k)) return null;
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    if ((lo !== undefined && v < lo) || (hi !== undefined && v > hi)) return null;
    return v;
  }

  /** A string without control or bidi-override characters, cut to max, else null. */
  function text(o, k, max) {
    if (!o || !has(o, k) || typeof o[k] !== 'string') return null;
    const s = o[k].replace(CONTROL_RE, ' ');
    return s.length > max ? s.slice(0, max) + '…' : s;
  }

  function oneOf(o, k, allowed) {
    if (!o || !has(o, k)) return null;
    return allowed.indexOf(o[k]) >= 0 ? o[k] : null;
  }

  function obj(o, k) {
    if (!o || !has(o, k)) return null;
    const v = o[k];
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
  }

  function bool(o, k) {
    return o && has(o, k) && typeof o[k] === 'boolean' ? o[k] : null;
  }

  /** The message has the expected type, schema version 1 and (if it says) our runner. */
  function envelope(d, type, runner) {
    if (!d || d.v !== 1 || d.type !== type) return false;
    return runner === undefined || d.runner === runner;
  }

  // -- formatting ---------------------------------------------------------------------------

  function fixed(v, digits) {
    return v === null || v === undefined ? '–' : v.toFixed(digits);
  }

  function clock(seconds) {
    if (seconds === null) return '–';
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const mm = String(m).padStart(h ? 2 : 1, '0');
    return (h ? h + ':' : '') + mm + ':' + String(s % 60).padStart(2, '0');
  }

  /** m:ss per km from a speed; '–' when too slow to be a pace (standing). */
  function pace(speedMps) {
    if (speedMps === null || speedMps < 0.5) return '–';
    const s = Math.round(1000 / speedMps);
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  function timeOfDay(unixS) {
    const d = new Date(unixS * 1000);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
  }

  /** ok / near / off for a value against a lower bound (higher is better) or an upper one. */
  function level(value, good, bad, higherIsBetter) {
    if (value === null || good === null || bad === null) return 'none';
    if (higherIsBetter) return value >= good ? 'ok' : value >= bad ? 'near' : 'off';
    return value <= good ? 'ok' : value <= bad ? 'near' : 'off';
  }

  // -- the page's settings and the connection ----------------------------------------------

  const BROKER_RE = /^wss?:\/\/[A-Za-z0-9.:\[\]-]+(\/[A-Za-z0-9._~\/-]*)?$/;

  /**
   * The page's settings: config.json from the server (broker_url, runner, prefix), the
   * address's ?runner= and ?user= winning for the runner and the login name. Calls back with
   * {runner (null when missing or bad), prefix, user, brokerUrl (null when unusable)}.
   */
  function boot(callback) {
    const q = new URLSearchParams(location.search);
    const pick = (server) => {
      const runner = q.get('runner') || (typeof server.runner === 'string' ? server.runner : '');
      const prefix = typeof server.prefix === 'string' ? server.prefix : 'gaitcoach';
      const broker = typeof server.broker_url === 'string' ? server.broker_url : '';
      callback({
        runner: RUNNER_RE.test(runner) ? runner : null,
        prefix: PREFIX_RE.test(prefix) ? prefix : 'gaitcoach',
        user: q.get('user') || '',
        brokerUrl: BROKER_RE.test(broker) ? broker : null,
      });
    };
    fetch('config.json', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : {}))
      .then((d) => pick(d && typeof d === 'object' ? d : {}), () => pick({}));
  }

  function randomTag() {
    const a = new Uint8Array(6);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  const AUTH_CODES = [4, 5, 134, 135]; // 3.1.1 and v5 CONNACK: bad credentials, not authorized

  /**
   * Connect (MQTT v5 over WebSockets), subscribe on every (re)connect (clean start: the broker
   * keeps nothing; retained status comes again), reconnect every second forever.
   * opts: {brokerUrl, username, password, topics: [filter], onMessage(topic, payload, packet),
   *        onState(state, detail)}; state: connecting, connected, reconnecting, offline, denied.
   */
  function connect(opts) {
    const options = {
      protocolVersion: 5,
      clean: true,
      clientId: 'dash-' + randomTag(),
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      keepalive: 20,
      resubscribe: false, // we subscribe on every connect ourselves
      properties: { sessionExpiryInterval: 0 },
    };
    if (opts.username) options.username = opts.username;
    if (opts.password) options.password = opts.password;
    if (!opts.brokerUrl) {
      opts.onState('offline', 'no broker address (config.json)');
      return null;
    }
    const client = global.mqtt.connect(opts.brokerUrl, options);
    opts.onState('connecting', opts.brokerUrl);
    client.on('connect', () => {
      client.subscribe(opts.topics, { qos: 1 }, (err) => {
        opts.onState(err ? 'offline' : 'connected', err ? String(err.message || err) : '');
      });
    });
    client.on('reconnect', () => opts.onState('reconnecting', ''));
    client.on('offline', () => opts.onState('offline', ''));
    client.on('error', (err) => {
      const code = err && typeof err.code === 'number' ? err.code : null;
      if (AUTH_CODES.indexOf(code) >= 0) {
        client.end(true);
        opts.onState('denied', 'the broker refused these credentials');
      } else {
        opts.onState('offline', String((err && err.message) || err).slice(0, 200));
      }
    });
    client.on('message', (topic, payload, packet) => {
      try {
        opts.onMessage(topic, payload, packet);
      } catch (e) {
        // A message that trips the page is counted and dropped; the page goes on.
        GC.stats.handlerErrors += 1;
        console.warn('gaitcoach: message on', topic, 'ignored:', e);
      }
    });
    return client;
  }

  /** Show a small login form (runner page or coach view) when the broker wants credentials. */
  function login(form, defaults, onSubmit) {
    form.hidden = false;
    const user = form.querySelector('[name=username]');
    if (user && !user.value) user.value = defaults.username || '';
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const data = new FormData(form);
      form.hidden = true;
      onSubmit(String(data.get('username') || ''), String(data.get('password') || ''));
    };
  }

  function el(tag, cls, content) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined) e.textContent = content;
    return e;
  }

  const GC = {
    RUNNER_RE,
    parse,
    num,
    text,
    oneOf,
    obj,
    bool,
    envelope,
    fixed,
    clock,
    pace,
    timeOfDay,
    level,
    boot,
    randomTag,
    connect,
    login,
    el,
    // Counters the tests and the bench read (window.GC.stats).
    stats: { messages: 0, ignored: 0, handlerErrors: 0 },
  };
  global.GC = GC;
})(window);
