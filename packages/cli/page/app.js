// The genlab sampler page: draws samples of a genlab export with TensorFlow.js in the browser.
// A plain script (no build step, no modules: Chromium refuses module scripts from file://),
// loaded after tf.min.js and tf-backend-wasm.min.js from this folder.
//
// Where the export comes from:
//   - over http(s) (`exp serve`, any static server): the export's own files, as any page
//     would load them: genlab.json, tf.loadGraphModel('model.json'), import('sampler.mjs');
//   - from file:// (Chromium refuses fetch there): the same files embedded in page/model.js
//     (and the wasm binaries in page/wasm.js), loaded as classic scripts.
// Backends: webgl, else wasm, else cpu (or the one named by ?backend=…), and the page says
// which and why. `window.genlab` is a small hook for tests and automation (see the README).
/* global tf */
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const fromFile = location.protocol === 'file:';
  const BACKENDS = ['webgl', 'wasm', 'cpu'];
  const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
  /** Milliseconds since navigation start (performance.now()'s origin) at each stage. */
  const timings = {};
  const state = { manifest: null, graphs: {}, sample: null, seed: 1, n: 64, label: -1, interpEnds: 0, renders: 0, queue: Promise.resolve() };

  // ---------------------------------------------------------------- small helpers

  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  const fmt = (v) => (v === null || v === undefined ? '–' : typeof v !== 'number' ? String(v) : Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));
  const loadScript = (src) =>
    new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${src} (is it beside index.html?)`));
      document.head.append(s);
    });
  const bytesOfBase64 = (b64) => {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };
  const setStatus = (text) => ($('status').textContent = text);
  /** A whole number ≥ 1 from a URL parameter (at most 1024), or undefined. */
  const positive = (v) => (v !== null && /^\d+$/.test(v) && Number(v) >= 1 ? Math.min(1024, Number(v)) : undefined);

  // ---------------------------------------------------------------- backend

  /** Why this browser gives no WebGL, or null when it gives a context. */
  function webglMissing() {
    try {
      const c = document.createElement('canvas');
      return c.getContext('webgl2') || c.getContext('webgl') ? null : 'this browser gives no WebGL context (no usable GPU, or WebGL turned off)';
    } catch (e) {
      return `WebGL failed: ${e.message}`;
    }
  }

  /** Point tfjs-backend-wasm at its binaries: beside this page over http, embedded (page/wasm.js) from file://. */
  async function configureWasm() {
    if (!tf.wasm) throw new Error('page/tf-backend-wasm.min.js did not load');
    if (!fromFile) return tf.wasm.setWasmPaths(new URL('page/', location.href).href);
    await loadScript('page/wasm.js');
    const urls = {};
    for (const name of WASM_FILES) {
      const b64 = window.GENLAB_WASM[name] ?? window.GENLAB_WASM['tfjs-backend-wasm-simd.wasm'];
      urls[name] = URL.createObjectURL(new Blob([bytesOfBase64(b64)], { type: 'application/wasm' }));
    }
    tf.wasm.setWasmPaths(urls);
  }

  /** Start the first backend that works, in the order webgl, wasm, cpu (the one asked for first). */
  async function chooseBackend(wanted) {
    const order = wanted ? [wanted, ...BACKENDS.filter((b) => b !== wanted)] : BACKENDS;
    const failed = [];
    for (const name of order) {
      try {
        if (name === 'webgl') {
          const why = webglMissing();
          if (why) throw new Error(why);
        }
        if (name === 'wasm') await configureWasm();
        if (!(await tf.setBackend(name))) throw new Error('it failed to start (see the console)');
        await tf.ready();
        tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
        return { name, failed };
      } catch (e) {
        failed.push({ name, why: String(e?.message ?? e) });
      }
    }
    throw new Error(`no TensorFlow.js backend started: ${failed.map((f) => `${f.name}: ${f.why}`).join('; ')}`);
  }

  /** A sentence on the backend in use: what it is, and for webgl whether it has a GPU. */
  async function describeBackend(name) {
    if (name === 'webgl') {
      const gl = tf.backend().gpgpu?.gl;
      const ext = gl?.getExtension('WEBGL_debug_renderer_info');
      const renderer = gl ? String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'unknown';
      const software = /swiftshader|llvmpipe|software/i.test(renderer);
      return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}, renderer ${renderer}${software ? ' (software rendering: no GPU)' : ''}; float32 textures: ${tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? 'yes' : 'no (float16: coarser results)'}`;
    }
    if (name === 'wasm') {
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      return `WebAssembly, SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off (they need a cross-origin-isolated page)'}`;
    }
    return 'plain JavaScript on the main thread (the slowest)';
  }

  // ---------------------------------------------------------------- the export

  /** The sampler's source as a function: a module from a Blob URL, else the same code as a function body. */
  async function importSampler(source) {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    try {
      return { fn: (await import(url)).sample, how: 'module from a Blob URL' };
    } catch {
      const body = source.replace(/^export\s+function\s+sample\b/m, 'function sample') + '\nreturn sample;';
      return { fn: new Function(body)(), how: 'function body (Blob URL modules refused)' };
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  async function loadExport() {
    if (fromFile) {
      await loadScript('page/model.js');
      const e = window.GENLAB_EXPORT;
      const graphs = {};
      for (const [name, g] of Object.entries(e.graphs)) {
        const { weightsManifest, ...artifacts } = g.modelJson;
        const weightSpecs = weightsManifest.flatMap((m) => m.weights);
        graphs[name] = await tf.loadGraphModel(tf.io.fromMemory({ ...artifacts, weightSpecs, weightData: bytesOfBase64(g.weights).buffer }));
      }
      const sampler = await importSampler(e.sampler);
      return { manifest: e.manifest, graphs, sample: sampler.fn, how: `embedded in page/model.js (file://); sampler.mjs as a ${sampler.how}` };
    }
    const base = new URL('.', location.href);
    const r = await fetch(new URL('genlab.json', base));
    if (!r.ok) throw new Error(`genlab.json: HTTP ${r.status}`);
    const manifest = await r.json();
    const graphs = {};
    for (const [name, g] of Object.entries(manifest.graphs)) graphs[name] = await tf.loadGraphModel(new URL(g.path, base).href);
    const mod = await import(new URL(manifest.files?.sampler ?? 'sampler.mjs', base).href);
    return { manifest, graphs, sample: mod.sample, how: 'model.json and sampler.mjs loaded from this server' };
  }

  // ---------------------------------------------------------------- sampling

  const randomNames = () => Object.keys(state.manifest.random);
  const conditional = () => randomNames().some((k) => state.manifest.random[k].distribution === 'labels');
  const classCount = () => state.manifest.classes?.count ?? 0;

  /**
   * The random inputs of n samples for `seed`: input k of genlab.json's `random` (in its order)
   * is drawn with tfjs's seeded ops and seed + k; labels are `label` for all, or 0, 1, …, K-1
   * in turn when label is -1.
   */
  function drawInputs(n, seed, label) {
    const out = {};
    randomNames().forEach((name, k) => {
      const r = state.manifest.random[name];
      const shape = [n, ...r.shape];
      if (r.distribution === 'normal') out[name] = tf.randomNormal(shape, 0, 1, 'float32', seed + k);
      else if (r.distribution === 'uniform') out[name] = tf.randomUniform(shape, 0, 1, 'float32', seed + k);
      else if (r.distribution === 'labels') out[name] = tf.tensor1d(Int32Array.from({ length: n }, (_, i) => (label >= 0 ? label : i % classCount())), 'int32');
      else throw new Error(`genlab.json: random input ${name} has an unknown distribution ${r.distribution}`);
    });
    return out;
  }

  /** Tensors from plain { name: { shape, data } } (what tests pass), dtypes from genlab.json. */
  function tensorsOf(inputs) {
    const out = {};
    for (const [name, v] of Object.entries(inputs)) {
      const r = state.manifest.random[name];
      if (!r) throw new Error(`no random input '${name}' in genlab.json (it has ${randomNames().join(', ')})`);
      out[name] = tf.tensor(v.data, v.shape, r.distribution === 'labels' ? 'int32' : 'float32');
    }
    return out;
  }

  /** Run the export's sampler: float32 values [n, ...output.shape] as a Float32Array. Disposes `inputs`. */
  async function runSampler(inputs) {
    try {
      const images = tf.tidy(() => state.sample(tf, state.graphs, inputs, state.manifest));
      try {
        return await images.data();
      } finally {
        images.dispose();
      }
    } finally {
      tf.dispose(Object.values(inputs));
    }
  }

  /** genlab.json's pixel rule: byte = round((x - lo) / (hi - lo) * 255), clipped to 0…255. */
  function toBytes(values) {
    const [lo, hi] = state.manifest.output.range;
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = Math.round(((values[i] - lo) / (hi - lo)) * 255);
      out[i] = v > 255 ? 255 : v >= 0 ? v : 0;
    }
    return out;
  }

  const PAD = 2;
  /** Tile i's top-left corner on a canvas of `cols` columns. */
  const tileAt = (i, cols) => {
    const [H, W] = state.manifest.output.shape;
    return [PAD + (i % cols) * (W + PAD), PAD + Math.floor(i / cols) * (H + PAD)];
  };

  /** Draw n images (bytes, channels last) as a grid of `cols` columns, one canvas pixel per image pixel. */
  function drawTiles(canvas, bytes, n, cols, cssWidth) {
    const [H, W, C] = state.manifest.output.shape;
    const rows = Math.ceil(n / cols);
    canvas.width = cols * (W + PAD) + PAD;
    canvas.height = rows * (H + PAD) + PAD;
    canvas.dataset.cols = String(cols);
    canvas.dataset.n = String(n);
    // Integer zoom, so that every image pixel is the same size on screen.
    canvas.style.width = `${canvas.width * Math.max(1, Math.floor(cssWidth / canvas.width))}px`;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#333';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const img = ctx.createImageData(W, H);
    for (let i = 0; i < n; i++) {
      const base = i * H * W * C;
      for (let p = 0; p < H * W; p++) {
        const src = base + p * C;
        img.data[p * 4] = bytes[src];
        img.data[p * 4 + 1] = bytes[src + (C === 3 ? 1 : 0)];
        img.data[p * 4 + 2] = bytes[src + (C === 3 ? 2 : 0)];
        img.data[p * 4 + 3] = 255;
      }
      const [x, y] = tileAt(i, cols);
      ctx.putImageData(img, x, y);
    }
  }

  /** Image i of a canvas drawn by drawTiles, back as bytes [H, W, C]. */
  function readTile(canvas, i) {
    const [H, W, C] = state.manifest.output.shape;
    const [x, y] = tileAt(i, Number(canvas.dataset.cols));
    const rgba = canvas.getContext('2d', { willReadFrequently: true }).getImageData(x, y, W, H).data;
    const out = new Array(H * W * C);
    for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) out[p * C + c] = rgba[p * 4 + c];
    return out;
  }

  /** One task at a time: a click while a grid is drawing waits for it. */
  const enqueue = (task) => {
    const next = state.queue.then(task);
    state.queue = next.catch(() => {});
    return next;
  };

  /** Draw the grid, from `inputs` ({ name: { shape, data } }) or from the page's seed, count and class. */
  async function renderGrid(inputs) {
    const t = performance.now();
    const tensors = inputs ? tensorsOf(inputs) : drawInputs(state.n, state.seed, state.label);
    const n = Object.values(tensors)[0].shape[0];
    const values = await runSampler(tensors);
    const ms = performance.now() - t;
    drawTiles($('grid'), toBytes(values), n, Math.ceil(Math.sqrt(n)), 640);
    state.renders += 1;
    document.body.dataset.renders = String(state.renders);
    const what = inputs ? 'inputs given through window.genlab.render' : `seed ${state.seed}${conditional() ? `, ${state.label >= 0 ? `class ${className(state.label)}` : 'classes in turn'}` : ''}`;
    $('timing').textContent = `${n} samples (${what}) in ${ms.toFixed(0)} ms on ${tf.getBackend()}`;
    return { n, ms };
  }

  const className = (k) => state.manifest.classes?.names?.[k] ?? String(k);

  /** Spherical interpolation between a and b (Float32Arrays), at t in [0, 1]; linear when they are (anti)parallel. */
  function slerp(a, b, t) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb || 1))));
    const s = Math.sin(omega);
    const [wa, wb] = s < 1e-6 ? [1 - t, t] : [Math.sin((1 - t) * omega) / s, Math.sin(t * omega) / s];
    return a.map((v, i) => wa * v + wb * b[i]);
  }

  const STRIP = 10;
  /**
   * The interpolation strip: two draws of every normal input (seeds 100001 + 2j and 100002 + 2j
   * for the j-th pair), spherically interpolated in STRIP steps; other inputs are the same in
   * every column (one draw; the picked class, or the first class).
   */
  async function renderStrip() {
    const normal = randomNames().filter((k) => state.manifest.random[k].distribution === 'normal');
    if (!normal.length) return;
    const ends = [0, 1].map((e) => drawInputs(1, 100001 + 2 * state.interpEnds + e, Math.max(0, state.label)));
    const inputs = {};
    for (const name of randomNames()) {
      const [a, b] = [ends[0][name], ends[1][name]];
      const r = state.manifest.random[name];
      if (normal.includes(name)) {
        const [va, vb] = [a.dataSync(), b.dataSync()];
        const rows = Array.from({ length: STRIP }, (_, i) => slerp(va, vb, i / (STRIP - 1)));
        inputs[name] = tf.tensor(rows.flatMap((row) => Array.from(row)), [STRIP, ...r.shape], 'float32');
      } else inputs[name] = tf.tidy(() => tf.tile(a, [STRIP, ...r.shape.map(() => 1)]));
    }
    for (const e of ends) tf.dispose(Object.values(e));
    drawTiles($('interp'), toBytes(await runSampler(inputs)), STRIP, STRIP, 900);
    $('interp-note').textContent =
      `${normal.join(', ')} from one draw to another (pair ${state.interpEnds + 1}), along the great circle (slerp)` +
      (conditional() ? `; class ${className(Math.max(0, state.label))}${state.label < 0 ? ' (pick a class above for another)' : ''}` : '');
  }

  // ---------------------------------------------------------------- the page around it

  function showAbout(m, backend, how) {
    const run = m.run ?? {};
    $('title').textContent = `${m.model ?? 'genlab model'} on ${m.dataset ?? '?'}`;
    document.title = `${m.model ?? 'genlab'} sampler`;
    $('subtitle').textContent = `run ${run.name ?? '?'} (${String(run.id ?? '').slice(0, 8)}), step ${run.step ?? '?'}`;
    const rows = [
      ['family', m.family],
      ['model', m.model],
      ['dataset', m.dataset],
      ['sampler', m.sampler],
      ['output', `${m.output.shape.join(' × ')} in [${m.output.range.join(', ')}]; ${m.output.pixels}`],
      ['classes', m.classes ? `${m.classes.count}${m.classes.names ? `: ${m.classes.names.join(', ')}` : ''}` : 'none'],
      ['random inputs', Object.entries(m.random).map(([k, r]) => `${k} [${r.shape.join(', ')}] ${r.distribution}: ${r.description}`).join('; ')],
      ['model facts', Object.entries(m.info ?? {}).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')],
      ['run', `${run.name ?? '?'} (${run.id ?? '?'}), experiment ${run.experiment ?? '?'}, ${run.status ?? '?'}`],
      ['checkpoint', `${run.checkpoint ?? '?'} at step ${run.step ?? '?'}`],
      ['commit', run.commit ?? 'not recorded'],
      ['tracking', run.trackingUri ?? '?'],
      ['trained', run.createdAt ?? '?'],
      ['exported', `${m.exportedAt ?? '?'} by ${m.generatedBy ?? '?'}`],
      ['weights', m.quantization ? `${m.quantization.dtype}${m.quantization.fid ? `: FID ${fmt(m.quantization.fid.float32)} (float32) → ${fmt(m.quantization.fid.quantized)}` : ''}` : 'float32'],
      ['export check', m.check ? `reproduces exp sample to max |Δ| ${fmt(m.check.maxAbsDiff)} over ${m.check.samples} samples on ${m.check.backend}` : '–'],
      ['loaded', how],
    ];
    $('about').tBodies[0].replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v ?? '–'))));
    const metrics = m.metrics ?? [];
    $('metrics').tBodies[0].replaceChildren(
      ...metrics.map((x) => el('tr', { 'data-testid': 'metric-row' }, el('td', {}, x.name), el('td', { class: 'num' }, fmt(x.value)), el('td', { class: 'num' }, fmt(x.floor)), el('td', { class: 'protocol' }, x.protocol ?? 'not recorded'))),
    );
    $('metrics-note').textContent = metrics.length
      ? 'As the run recorded them (exp eval): numbers are comparable only between runs with the same protocol.'
      : 'The run has no metrics recorded: run `exp eval <run>` before exporting to see them here.';
    void backend;
  }

  function setupControls() {
    const m = state.manifest;
    $('backend').value = params.get('backend') ?? '';
    $('backend').addEventListener('change', () => {
      const q = new URLSearchParams(location.search);
      if ($('backend').value) q.set('backend', $('backend').value);
      else q.delete('backend');
      location.search = q.toString();
    });
    if (![...$('count').options].some((o) => o.value === String(state.n))) $('count').append(el('option', { value: String(state.n) }, String(state.n)));
    $('count').value = String(state.n);
    $('count').addEventListener('change', () => {
      state.n = Number($('count').value);
      void enqueue(() => renderGrid()).catch(showError);
    });
    $('seed').value = String(state.seed);
    $('seed').addEventListener('change', () => {
      state.seed = Math.max(1, Math.floor(Number($('seed').value)) || 1);
      $('seed').value = String(state.seed);
      void enqueue(() => renderGrid()).catch(showError);
    });
    $('reseed').addEventListener('click', () => {
      state.seed += 1;
      $('seed').value = String(state.seed);
      void enqueue(() => renderGrid()).catch(showError);
    });
    if (conditional()) {
      $('class-label').hidden = false;
      $('class').replaceChildren(el('option', { value: '-1' }, 'all, in turn'), ...Array.from({ length: classCount() }, (_, k) => el('option', { value: String(k) }, className(k))));
      $('class').addEventListener('change', () => {
        state.label = Number($('class').value);
        void enqueue(async () => {
          await renderGrid();
          await renderStrip();
        }).catch(showError);
      });
    }
    const normal = randomNames().some((k) => m.random[k].distribution === 'normal');
    $('interp-section').hidden = !normal;
    $('interp-new').addEventListener('click', () => {
      state.interpEnds += 1;
      void enqueue(() => renderStrip()).catch(showError);
    });
  }

  function showError(e) {
    $('error').hidden = false;
    $('error').textContent = String(e?.message ?? e);
    document.body.dataset.error = 'true';
    setStatus('failed');
  }

  async function main() {
    timings.start = performance.now();
    const wanted = params.get('backend');
    if (wanted && !BACKENDS.includes(wanted)) throw new Error(`?backend=${wanted}: choose one of ${BACKENDS.join(', ')}`);
    setStatus('starting TensorFlow.js…');
    const backend = await chooseBackend(wanted);
    timings.backend = performance.now();
    const detail = await describeBackend(backend.name);
    const why = [
      wanted ? (backend.name === wanted ? `asked for with ?backend=${wanted}` : `?backend=${wanted} did not start`) : backend.failed.length ? 'the first of webgl, wasm, cpu that started' : 'the first choice (webgl, wasm, cpu)',
      ...backend.failed.map((f) => `${f.name} failed: ${f.why}`),
    ];
    $('backend-info').textContent = `Running on ${backend.name}: ${detail}. Why: ${why.join('; ')}.`;
    setStatus(`loading the model on ${backend.name}…`);
    const loaded = await loadExport();
    Object.assign(state, { manifest: loaded.manifest, graphs: loaded.graphs, sample: loaded.sample });
    // ?n= and ?seed= start elsewhere; a pixel-by-pixel sampler starts with fewer samples.
    state.n = positive(params.get('n')) ?? (loaded.manifest.sampler === 'latent' ? 64 : 16);
    state.seed = positive(params.get('seed')) ?? 1;
    timings.model = performance.now();
    showAbout(loaded.manifest, backend.name, loaded.how);
    setupControls();
    setStatus(`sampling on ${backend.name}…`);
    await enqueue(() => renderGrid());
    timings.firstGrid = performance.now();
    Object.assign(api, { backend: backend.name, backendDetail: detail, backendFailed: backend.failed, loadedFrom: loaded.how });
    setStatus(`on ${backend.name}; first grid ${(timings.firstGrid / 1000).toFixed(2)} s after the page started loading`);
    await enqueue(() => renderStrip());
    document.body.dataset.backend = backend.name;
    document.body.dataset.ready = 'true';
  }

  /** The automation hook (tests, measurements): see the README's "The sampler page and exp serve". */
  const api = {
    timings,
    get manifest() {
      return state.manifest;
    },
    /** Draw the grid again: from explicit inputs ({ name: { shape, data } }), or with seed / n / label (-1: classes in turn). */
    render: (opts = {}) =>
      enqueue(() => {
        if (opts.seed !== undefined) state.seed = opts.seed;
        if (opts.n !== undefined) state.n = opts.n;
        if (opts.label !== undefined) state.label = opts.label;
        return renderGrid(opts.inputs);
      }),
    /** Image i of the grid as drawn on the canvas: bytes [H, W, C] (channels last). */
    tile: (i) => readTile($('grid'), i),
    /** Image i of the interpolation strip. */
    stripTile: (i) => readTile($('interp'), i),
    /** The sampler's float outputs for explicit inputs, without drawing: { shape, data }. */
    sampleFloats: (inputs) =>
      enqueue(async () => {
        const data = await runSampler(tensorsOf(inputs));
        return { shape: [Object.values(inputs)[0].shape[0], ...state.manifest.output.shape], data: Array.from(data) };
      }),
    /** Samples per second: `reps` timed batches of n (after one warm-up batch), values read back each time. */
    bench: ({ n = 64, reps = 5 } = {}) =>
      enqueue(async () => {
        await runSampler(drawInputs(n, 7, -1));
        const t = performance.now();
        for (let r = 0; r < reps; r++) await runSampler(drawInputs(n, 8 + r, -1));
        const ms = performance.now() - t;
        return { n, reps, ms, samplesPerSec: (n * reps * 1000) / ms };
      }),
  };
  api.ready = main().then(
    () => api.backend,
    (e) => {
      showError(e);
      throw e;
    },
  );
  api.ready.catch(() => {});
  window.genlab = api;
})();
