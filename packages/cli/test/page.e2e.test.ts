/**
 * The sampler page (`exp export --with-page`), `exp serve` and the dashboard's export row,
 * end to end: tiny runs of four families trained and exported through the real CLI, their
 * pages opened in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
 * with every request outside file:// or the local server aborted, and the pixels on the
 * page's canvas compared with what plain tfjs computes in this Node process from the same
 * export files and the same inputs (the reference: no genlab code, tfjs-converter + cpu).
 *
 * Tolerances, in the export's output range (a byte is 1/255 of it):
 *   - cpu in the browser: the same JavaScript kernels as Node's cpu backend: max |Δ| ≤ 1e-6.
 *   - wasm: the same binary as Node's wasm backend, other summation order than cpu: ≤ 1e-5.
 *   - webgl (in headless Chromium: SwiftShader, software WebGL 2 with float32 textures):
 *     other arithmetic (fused multiply-adds, GPU transcendental functions): ≤ 1e-3.
 *   Bytes: at most 1 apart (a value within the tolerance of a rounding edge), webgl included.
 * .ci/run installs Chromium and sets GENLAB_REQUIRE_BROWSER=1, so there the browser tests
 * cannot be skipped; elsewhere they are skipped only when Chromium is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { bin, exp, repo, runIdOf, tiny, write } from './helpers.js';

const CHROMIUM = process.env.GENLAB_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium && process.env.GENLAB_REQUIRE_BROWSER === '1') throw new Error(`Chromium is required for the sampler page tests but ${CHROMIUM} does not exist`);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

/** Largest |Δ| between the page's floats and Node's, per backend (see the header). */
const TOLERANCE = { cpu: 1e-6, wasm: 1e-5, webgl: 1e-3 } as const;
type Backend = keyof typeof TOLERANCE;

interface Inputs {
  [name: string]: { shape: number[]; data: number[] };
}
interface Manifest {
  graphs: Record<string, { path: string }>;
  random: Record<string, { distribution: string; shape: number[] }>;
  output: { shape: number[]; range: [number, number] };
  run: { id: string };
}

/** The page's automation hook (page/app.js), as these tests use it. */
interface GenlabHook {
  backend: string;
  loadedFrom: string;
  tile(i: number): number[];
  render(opts: { inputs?: Inputs }): Promise<unknown>;
  sampleFloats(inputs: Inputs): Promise<{ shape: number[]; data: number[] }>;
}
// The browser globals the functions passed to page.evaluate use (this project has no DOM lib).
declare const window: { genlab: GenlabHook };
declare const document: { body: { dataset: Record<string, string | undefined> }; createElement(tag: 'canvas'): { getContext(kind: 'webgl2'): unknown } };

const readManifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'genlab.json'), 'utf8')) as Manifest;

/** What plain tfjs computes from the export folder for `inputs`, on `backend` in this process. */
async function nodeReference(dir: string, inputs: Inputs, backend: 'cpu' | 'wasm' = 'cpu'): Promise<Float32Array> {
  await tf.setBackend(backend);
  const manifest = readManifest(dir);
  const graphs: Record<string, GraphModel> = {};
  for (const [name, g] of Object.entries(manifest.graphs)) {
    const gdir = path.join(dir, path.dirname(g.path));
    const { weightsManifest, ...artifacts } = JSON.parse(fs.readFileSync(path.join(gdir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
    const weights = Buffer.concat(weightsManifest.flatMap((m) => m.paths).map((p) => fs.readFileSync(path.join(gdir, p))));
    graphs[name] = await loadGraphModel(tf.io.fromMemory({ ...artifacts, weightSpecs: weightsManifest.flatMap((m) => m.weights), weightData: new Uint8Array(weights).buffer }));
  }
  // A copy outside the export (vitest would otherwise transform it); .mjs: Node loads it as an ES module.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-page-ref-'));
  fs.copyFileSync(path.join(dir, 'sampler.mjs'), path.join(tmp, 'sampler.mjs'));
  const { sample } = (await import(/* @vite-ignore */ pathToFileURL(path.join(tmp, 'sampler.mjs')).href)) as { sample: (t: typeof tf, g: Record<string, GraphModel>, i: Record<string, tf.Tensor>, m: Manifest) => tf.Tensor };
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.data, v.shape, manifest.random[k]!.distribution === 'labels' ? 'int32' : 'float32')]));
  try {
    const out = sample(tf, graphs, tensors, manifest);
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  } finally {
    tf.dispose(Object.values(tensors));
    for (const g of Object.values(graphs)) g.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The inputs the page draws for (n, seed, label): input k of genlab.json's `random` with tfjs's seeded ops and seed + k. */
function pageInputs(manifest: Manifest, n: number, seed: number, label = -1): Inputs {
  const out: Inputs = {};
  Object.entries(manifest.random).forEach(([name, r], k) => {
    const shape = [n, ...r.shape];
    const t =
      r.distribution === 'normal'
        ? tf.randomNormal(shape, 0, 1, 'float32', seed + k)
        : r.distribution === 'uniform'
          ? tf.randomUniform(shape, 0, 1, 'float32', seed + k)
          : tf.tensor1d(Array.from({ length: n }, (_, i) => (label >= 0 ? label : i % 10)), 'int32');
    out[name] = { shape, data: Array.from(t.dataSync()) };
    t.dispose();
  });
  return out;
}

/** genlab.json's pixel rule. */
function toBytes(values: ArrayLike<number>, [lo, hi]: [number, number]): number[] {
  return Array.from(values, (x) => Math.min(255, Math.max(0, Math.round(((x - lo) / (hi - lo)) * 255))));
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The page's grid tiles 0…n-1, read back from its canvas. */
async function gridBytes(page: Page, n: number): Promise<number[]> {
  return page.evaluate((count) => Array.from({ length: count }, (_, i) => window.genlab.tile(i)).flat(), n);
}

/** A page on which every request that is not file:// or `allowed` (the local server) is aborted and recorded. */
async function isolatedPage(browser: Browser, allowed?: string): Promise<{ page: Page; blocked: string[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const blocked: string[] = [];
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file://') || (allowed && url.startsWith(allowed + '/'))) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  return { page, blocked, errors };
}

/** Open a page and wait for its first grid (and strip); its backend. */
async function openSampler(page: Page, url: string): Promise<string> {
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || document.body.dataset.error === 'true', null, { timeout: 120_000 });
  const error = await page.locator('[data-testid=error]').innerText();
  expect(error).toBe('');
  return page.evaluate(() => window.genlab.backend);
}

/** A long-running CLI command (exp serve, exp ui) and the URL it prints. */
function startCli(args: string[], cwd: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`exp ${args.join(' ')} exited with ${code}: ${err}`)));
  });
}

/** A raw GET (the path as is, not normalised by a URL parser) with optional headers: status and body. */
function rawGet(url: string, rawPath: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('latin1')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const tinyCgan = `extends: ${path.join(repo, 'configs', 'cgan-mnist.yaml')}
model:
  latentDim: 8
  # The label embedding goes into z: distinct classes draw distinct images from the first step
  # (conditional batch norm starts equal for every class, and 4 steps barely part them).
  conditioning: concat
  generator: { channels: [8, 4], kernel: 3 }
  discriminator: { channels: [4, 8], kernel: 3 }
train: { steps: 4, batchSize: 16, logEvery: 2 }
callbacks:
  samples: { every: 4, n: 16 }
  checkpoint: { every: 4 }
  progress: false
eval: false
`;
const tinyVae = `extends: ${path.join(repo, 'configs', 'vae-mnist.yaml')}
model:
  latentDim: 4
  encoder: { hidden: [32] }
  decoder: { hidden: [32] }
train: { steps: 4, batchSize: 32, logEvery: 2 }
callbacks:
  samples: { every: 4, n: 16, previews: 8 }
  checkpoint: { every: 4 }
  progress: false
eval: false
`;
const tinyRnn = `name: rnn-tiny
model: { name: rnn/row-lstm, hidden: 4, layers: 1, outputHidden: 0 }
dataset: { name: mnist, subset: 64, range: [0, 1], binarize: stochastic }
train: { steps: 4, batchSize: 8, logEvery: 2 }
callbacks:
  samples: { every: 4, n: 4 }
  checkpoint: { every: 4 }
  progress: false
`;

// Skipped only where Debian's Chromium is not installed (apt-get install chromium) and
// GENLAB_REQUIRE_BROWSER is unset (then the throw above fails instead); .ci/run installs it and sets the variable.
describe.skipIf(!hasChromium)('the sampler page in Chromium', () => {
  let cwd: string;
  const runs: Record<string, { id: string; web: string }> = {};
  let browser: Browser;
  let webglAvailable: boolean;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-page-'));
    const configs: [string, string][] = [
      ['gan', tiny()],
      ['cgan', tinyCgan],
      ['vae', tinyVae],
      ['rnn', tinyRnn],
      // Trained, never exported: its dashboard row offers the export command.
      ['plain', tiny()],
    ];
    for (const [name, text] of configs) {
      const r = exp(['run', write(cwd, `${name}.yaml`, text)], cwd);
      expect(r.code, r.stderr).toBe(0);
      const id = runIdOf(r.stdout);
      runs[name] = { id, web: path.join(cwd, `${name}-web`) };
      if (name === 'plain') continue;
      const e = exp(['export', id, '--out', `${name}-web`, '--with-page'], cwd);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stderr).toContain(`page: ${path.join(cwd, `${name}-web`, 'index.html')}`);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    // Whether this browser gives WebGL at all (headless with --disable-gpu: SwiftShader, if any).
    const probe = await browser.newPage();
    webglAvailable = await probe.evaluate(() => !!document.createElement('canvas').getContext('webgl2'));
    await probe.close();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('writes static files: the page, the tfjs bundles and wasm binaries, and the export embedded for file://', () => {
    const web = runs.gan!.web;
    for (const f of ['index.html', 'page/app.js', 'page/style.css', 'page/tf.min.js', 'page/tf-backend-wasm.min.js', 'page/tfjs-backend-wasm.wasm', 'page/tfjs-backend-wasm-simd.wasm', 'page/model.js', 'page/wasm.js']) {
      expect(fs.existsSync(path.join(web, f)), f).toBe(true);
    }
    expect(readManifest(web)).toMatchObject({ files: { page: 'index.html' } });
    // The VAE's second graph (its encoder) is embedded too.
    const embedded = fs.readFileSync(path.join(runs.vae!.web, 'page', 'model.js'), 'utf8');
    expect(embedded).toMatch(/^\/\/ .*\nwindow\.GENLAB_EXPORT = \{"manifest":/);
    expect(embedded).toContain('"encoder":{"modelJson"');
    // The export is recorded in its run folder, where the dashboard finds it.
    const recorded = JSON.parse(fs.readFileSync(path.join(cwd, 'outputs', runs.gan!.id, 'exports.json'), 'utf8')) as { out: string; page: boolean }[];
    expect(recorded).toEqual([expect.objectContaining({ out: web, page: true, checkpoint: 'last', step: 12, quantize: null })]);
  });

  it("from file://, on each backend, draws the pixels plain tfjs computes in Node for the same latents", async () => {
    const web = runs.gan!.web;
    const manifest = readManifest(web);
    const n = 16;
    const inputs = pageInputs(manifest, n, 11);
    const cpuRef = await nodeReference(web, inputs, 'cpu');
    const wasmRef = await nodeReference(web, inputs, 'wasm');
    const url = pathToFileURL(path.join(web, 'index.html')).href;
    const exercised: string[] = [];
    for (const wanted of ['', 'wasm', 'cpu'] as const) {
      const { page, blocked, errors } = await isolatedPage(browser);
      try {
        const backend = (await openSampler(page, wanted ? `${url}?backend=${wanted}` : url)) as Backend;
        // Without ?backend= the page takes webgl where the browser has it, else wasm.
        expect(backend).toBe(wanted || (webglAvailable ? 'webgl' : 'wasm'));
        const info = await page.locator('[data-testid=backend-info]').innerText();
        expect(info).toMatch(new RegExp(`^Running on ${backend}: `));
        if (!wanted && !webglAvailable) expect(info).toContain('webgl failed: this browser gives no WebGL context');
        expect(await page.evaluate(() => window.genlab.loadedFrom)).toMatch(/^embedded in page\/model\.js/);
        // Floats: the sampler's own output.
        const floats = await page.evaluate((x) => window.genlab.sampleFloats(x), inputs);
        const ref = backend === 'wasm' ? wasmRef : cpuRef;
        const diff = maxAbs(floats.data, ref);
        expect(diff, `${backend}: max |Δ| ${diff}`).toBeLessThanOrEqual(TOLERANCE[backend]);
        // Pixels: the grid as drawn on the canvas.
        await page.evaluate((x) => window.genlab.render({ inputs: x }), inputs);
        const bytes = await gridBytes(page, n);
        expect(maxAbs(bytes, toBytes(ref, manifest.output.range)), backend).toBeLessThanOrEqual(1);
        exercised.push(`${backend} (max |Δ| ${diff.toExponential(1)})`);
        expect(blocked).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }
    // Which backends ran (webgl is SwiftShader where headless Chromium has no GPU).
    console.log(`sampler page backends exercised: ${exercised.join(', ')}`);
  });

  it("the class picker makes a cGAN draw the class picked: the grid equals Node's output for those labels", async () => {
    const web = runs.cgan!.web;
    const manifest = readManifest(web);
    const { page, blocked, errors } = await isolatedPage(browser);
    try {
      await openSampler(page, `${pathToFileURL(path.join(web, 'index.html')).href}?backend=cpu&n=16&seed=5`);
      const options = await page.locator('[data-testid=class] option').allInnerTexts();
      expect(options).toEqual(['all, in turn', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      // The first grid: classes in turn, seed 5.
      const inTurn = await nodeReference(web, pageInputs(manifest, 16, 5), 'cpu');
      expect(maxAbs(await gridBytes(page, 16), toBytes(inTurn, manifest.output.range))).toBeLessThanOrEqual(1);
      const grids: Record<number, number[]> = {};
      for (const k of [3, 7]) {
        const renders = Number(await page.getAttribute('body', 'data-renders'));
        await page.selectOption('[data-testid=class]', String(k));
        await page.waitForFunction((r) => Number(document.body.dataset.renders) > r, renders);
        grids[k] = await gridBytes(page, 16);
        const want = await nodeReference(web, pageInputs(manifest, 16, 5, k), 'cpu');
        expect(maxAbs(grids[k]!, toBytes(want, manifest.output.range)), `class ${k}`).toBeLessThanOrEqual(1);
      }
      // Same latents, other class: other images.
      expect(maxAbs(grids[3]!, grids[7]!)).toBeGreaterThan(8);
      // Reseed draws new latents (seed 6) for the class picked.
      const renders = Number(await page.getAttribute('body', 'data-renders'));
      await page.click('[data-testid=reseed]');
      await page.waitForFunction((r) => Number(document.body.dataset.renders) > r, renders);
      expect(await page.inputValue('[data-testid=seed]')).toBe('6');
      const reseeded = await nodeReference(web, pageInputs(manifest, 16, 6, 7), 'cpu');
      expect(maxAbs(await gridBytes(page, 16), toBytes(reseeded, manifest.output.range))).toBeLessThanOrEqual(1);
      expect(await page.locator('#interp-note').innerText()).toContain('class 7');
      expect(blocked).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("a VAE's and the Row LSTM's pages draw Node's pixels too (two graphs; the pixel-by-pixel sampler loop)", async () => {
    for (const family of ['vae', 'rnn'] as const) {
      const web = runs[family]!.web;
      const manifest = readManifest(web);
      const { page, blocked, errors } = await isolatedPage(browser);
      try {
        // The first grid, seed 3: two samples (the Row LSTM runs its step network 28 × 28 times).
        await openSampler(page, `${pathToFileURL(path.join(web, 'index.html')).href}?backend=cpu&n=2&seed=3`);
        const want = await nodeReference(web, pageInputs(manifest, 2, 3), 'cpu');
        expect(maxAbs(await gridBytes(page, 2), toBytes(want, manifest.output.range)), family).toBeLessThanOrEqual(1);
        // No normal latent, no interpolation strip (the Row LSTM draws uniforms).
        expect(await page.locator('#interp-section').isVisible()).toBe(family === 'vae');
        expect(blocked).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    }
  });

  it('exp serve: the page over http, with nothing but the local server reachable, draws the same pixels', async () => {
    const web = runs.gan!.web;
    const manifest = readManifest(web);
    const { child, url } = await startCli(['serve', web, '--port', '0'], cwd);
    try {
      const { page, blocked, errors } = await isolatedPage(browser, url);
      try {
        const backend = await openSampler(page, `${url}/?backend=wasm&n=16&seed=2`);
        expect(backend).toBe('wasm');
        expect(await page.evaluate(() => window.genlab.loadedFrom)).toBe('model.json and sampler.mjs loaded from this server');
        const want = await nodeReference(web, pageInputs(manifest, 16, 2), 'wasm');
        expect(maxAbs(await gridBytes(page, 16), toBytes(want, manifest.output.range))).toBeLessThanOrEqual(1);
        // The page says what it shows: the run, and the metrics section.
        expect(await page.locator('[data-testid=subtitle]').innerText()).toContain(runs.gan!.id.slice(0, 8));
        expect(await page.locator('[data-testid=about]').innerText()).toContain(runs.gan!.id);
        expect(blocked).toEqual([]);
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
  });

  it("the dashboard: an exported run's row links its sampler page and shows it; another run's row shows the export command", async () => {
    const { child, url } = await startCli(['ui', 'mlruns', '--port', '0'], cwd);
    try {
      // The export's files are served under the dashboard's own URL, inside the folder only.
      const exportsList = (await (await fetch(`${url}/api/exports`)).json()) as Record<string, { index: number; out: string; page: boolean }[]>;
      expect(exportsList[runs.gan!.id]).toEqual([expect.objectContaining({ index: 0, out: runs.gan!.web, page: true })]);
      expect(exportsList[runs.plain!.id]).toBeUndefined();
      expect((await rawGet(url, `/exports/${runs.gan!.id}/0/genlab.json`)).status).toBe(200);
      expect((await rawGet(url, `/exports/${runs.gan!.id}/0/..%2f..%2foutputs/${runs.gan!.id}/run.json`)).status).toBe(400);
      expect((await rawGet(url, `/exports/${runs.gan!.id}/1/index.html`)).status).toBe(404);
      expect((await rawGet(url, `/exports/${runs.plain!.id}/0/index.html`)).status).toBe(404);
      expect((await rawGet(url, `/exports/${runs.gan!.id}/0/index.html`, { method: 'POST' })).status).toBe(405);

      const { page, blocked, errors } = await isolatedPage(browser, url);
      try {
        await page.goto(url);
        await page.waitForSelector('body[data-ready=true]');
        const row = (id: string) => page.locator(`[data-testid=run-row][data-run="${id}"]`);
        expect(await row(runs.gan!.id).locator('[data-testid=sampler-link]').getAttribute('href')).toBe(`/exports/${runs.gan!.id}/0/index.html`);
        await row(runs.plain!.id).locator('[data-testid=export-button]').click();
        expect(await page.locator('[data-testid=export-command]').innerText()).toBe(`pnpm exp export ${runs.plain!.id} --output-dir ${path.join(cwd, 'outputs')} --out exports/${await row(runs.plain!.id).locator('td:nth-child(2)').innerText()} --with-page`);
        // Selecting the run embeds its sampler page, which runs in the dashboard's origin.
        await page.check(`input[data-run="${runs.gan!.id}"]`);
        const frame = page.frameLocator(`[data-testid=sampler][data-run="${runs.gan!.id}"] [data-testid=sampler-frame]`);
        await frame.locator('body[data-ready=true]').waitFor({ timeout: 120_000 });
        expect(await frame.locator('[data-testid=subtitle]').innerText()).toContain(runs.gan!.id.slice(0, 8));
        expect(await frame.locator('[data-testid=error]').innerText()).toBe('');
        expect(blocked).toEqual([]);
        expect(errors.filter((e) => !e.endsWith('/favicon.ico'))).toEqual([]);
      } finally {
        await page.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('exp serve through the CLI', () => {
  let cwd: string;
  let web: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-e2e-serve-'));
    const r = exp(['run', write(cwd, 'gan.yaml', tiny())], cwd);
    expect(r.code, r.stderr).toBe(0);
    const e = exp(['export', runIdOf(r.stdout), '--out', 'web', '--with-page'], cwd);
    expect(e.code, e.stderr).toBe(0);
    web = path.join(cwd, 'web');
    // A link inside the folder that leads out of it, and a dot-file.
    fs.symlinkSync('/etc', path.join(web, 'escape'));
    fs.writeFileSync(path.join(web, '.secret'), 'x');
  });

  it('serves the export read-only, with MIME types, and refuses traversal, other Host names and writes', async () => {
    const { child, url, stderr } = await startCli(['serve', 'web', '--port', '0'], cwd);
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      for (const [p, type] of [
        ['/', 'text/html; charset=utf-8'],
        ['/genlab.json', 'application/json'],
        ['/sampler.mjs', 'text/javascript; charset=utf-8'],
        ['/model.json', 'application/json'],
        ['/group1-shard1of1.bin', 'application/octet-stream'],
        ['/page/tfjs-backend-wasm-simd.wasm', 'application/wasm'],
        ['/page/style.css', 'text/css; charset=utf-8'],
      ]) {
        const r = await rawGet(url, p!);
        expect([r.status, r.type], p).toEqual([200, type]);
      }
      const head = await rawGet(url, '/genlab.json', { method: 'HEAD' });
      expect([head.status, head.body]).toEqual([200, '']);
      for (const bad of ['/..%2f..%2fetc%2fpasswd', '/page/..%2f..%2f..%2fetc%2fpasswd', '/escape/passwd', '/.secret', '/page%5c..%5cgenlab.json', '/%00']) {
        const r = await rawGet(url, bad);
        expect(r.status, bad).toBe(400);
        expect(r.body).not.toContain('root:');
      }
      // A URL parser resolves plain (and %2e-encoded) ../ to inside the folder: never a file outside it.
      for (const p of ['/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) expect((await rawGet(url, p)).status, p).toBe(404);
      expect((await rawGet(url, '/page/')).status).toBe(404); // no listings
      expect((await rawGet(url, '/missing.js')).status).toBe(404);
      expect((await rawGet(url, '/', { headers: { host: `evil.example:${new URL(url).port}` } })).status).toBe(403);
      for (const method of ['POST', 'PUT', 'DELETE']) expect((await rawGet(url, '/genlab.json', { method })).status, method).toBe(405);
      expect(stderr()).toContain('read-only');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('refuses a missing folder, a folder that is not an export and a port in use, with exit 2', async () => {
    let r = exp(['serve', 'nowhere'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no folder ${path.join(cwd, 'nowhere')}`);
    r = exp(['serve', 'outputs'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(cwd, 'outputs')} is not a genlab export: it has no genlab.json`);
    fs.mkdirSync(path.join(cwd, 'other'));
    fs.writeFileSync(path.join(cwd, 'other', 'genlab.json'), '{"format": "something-else"}');
    r = exp(['serve', 'other'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`is not a genlab export's manifest: its format is "something-else", not genlab-export/1`);
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      r = exp(['serve', 'web', '--port', String(port)], cwd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is in use`);
    } finally {
      busy.close();
    }
  });
});
