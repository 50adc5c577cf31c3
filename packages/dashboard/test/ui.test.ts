/**
 * The dashboard end to end: its API (including refused traversal) and the page in headless
 * Chromium (Debian's /usr/bin/chromium driven by playwright-core). .ci/run installs
 * Chromium and sets GENLAB_REQUIRE_BROWSER=1, so there the browser tests cannot be skipped.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { encodeGrid } from '@genlab/core';
import { FileStore, FileStoreTracker, MlflowClient, syncRun } from '@genlab/tracking';
import { STUB_ARTIFACT_ROOT, startMlflowStub } from '@genlab/tracking/testing';
import { type Dashboard, LocalSource, RemoteSource, startDashboard } from '../src/index.js';

const CHROMIUM = process.env.GENLAB_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium && process.env.GENLAB_REQUIRE_BROWSER === '1') throw new Error(`Chromium is required for the dashboard tests but ${CHROMIUM} does not exist`);

/** A PNG grid of 4 flat 8×8 images at grey level `v` in [0, 1]. */
const grid = (v: number) => encodeGrid({ data: new Float32Array(4 * 64).fill(v), n: 4, h: 8, w: 8, c: 1, range: [0, 1] });

async function makeRun(root: string, name: string, lr: string, slope: number, previews = false): Promise<string> {
  const t = new FileStoreTracker(root);
  const { runId } = await t.startRun({ experiment: 'ui-test', runName: name, tags: { 'genlab.model': 'gan/mlp', 'genlab.dataset': 'mnist', 'genlab.eval.protocol': 'features=x@1; fake=10' } });
  await t.logParams({ 'model.optimizerG.lr': lr, 'train.steps': '30', 'model.latentDim': '100' });
  for (let s = 10; s <= 30; s += 10) await t.logMetrics(s, { loss_g: slope * s, loss_d: 1 / s });
  await t.logMetrics(30, { fid: slope * 10, 'floor/fid': 0.5 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-png-'));
  for (const [file, v] of [['step-0000010.png', 0.2], ['final.png', 0.8]] as const) {
    fs.writeFileSync(path.join(tmp, file), grid(v));
    await t.logArtifact(path.join(tmp, file), 'samples');
    // A model's previews (e.g. a VAE's reconstructions) go to samples/<name>/.
    if (previews) await t.logArtifact(path.join(tmp, file), 'samples/reconstructions');
  }
  await t.endRun('FINISHED');
  return runId;
}

describe('exp ui dashboard', () => {
  let root: string;
  let ids: string[];
  let dash: Dashboard;
  beforeAll(async () => {
    root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-')), 'mlruns');
    ids = [await makeRun(root, 'run-a', '0.0002', 1, true), await makeRun(root, 'run-b', '0.001', 2)];
    // A link inside the artifacts that points outside them must not be followed.
    fs.symlinkSync('/etc', path.join(new LocalSource(root)['store'].runDir(ids[0]!)!, 'artifacts', 'escape'));
    // Nor listed as a folder of preview grids.
    fs.symlinkSync('/etc', path.join(new LocalSource(root)['store'].runDir(ids[0]!)!, 'artifacts', 'samples', 'escape'));
    dash = await startDashboard(new LocalSource(root));
  });
  afterAll(async () => {
    await dash?.close();
  });

  it('serves the runs read-only and refuses paths outside a run', async () => {
    expect(dash.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const runs = (await (await fetch(`${dash.url}/api/runs`)).json()) as { runName: string; latest: Record<string, number> }[];
    expect(runs.map((r) => r.runName).sort()).toEqual(['run-a', 'run-b']);
    expect(runs.find((r) => r.runName === 'run-b')!.latest.loss_g).toBe(60);
    const hist = (await (await fetch(`${dash.url}/api/runs/${ids[0]}/history?key=loss_g`)).json()) as { step: number }[];
    expect(hist.map((p) => p.step)).toEqual([10, 20, 30]);
    const ok = await fetch(`${dash.url}/api/runs/${ids[0]}/artifact?path=samples/final.png`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    for (const bad of ['../meta.yaml', '..%2Fmeta.yaml', '/etc/passwd', 'samples/../../meta.yaml', 'escape/passwd', 'samples\\..\\..\\meta.yaml']) {
      const r = await fetch(`${dash.url}/api/runs/${ids[0]}/artifact?path=${bad.includes('%') ? bad : encodeURIComponent(bad)}`);
      expect(r.status, bad).toBe(400);
    }
    expect((await fetch(`${dash.url}/api/runs/not-a-run/artifact?path=samples/final.png`)).status).toBe(400);
    // The sample grids alone in samples/; preview grids in their folders, listed apart.
    const list = async (what: string, id: string, dir: string) => (await (await fetch(`${dash.url}/api/runs/${id}/${what}?dir=${encodeURIComponent(dir)}`)).json()) as string[];
    expect(await list('artifacts', ids[0]!, 'samples')).toEqual(['samples/final.png', 'samples/step-0000010.png']);
    expect(await list('artifact-dirs', ids[0]!, 'samples')).toEqual(['samples/reconstructions']);
    expect(await list('artifacts', ids[0]!, 'samples/reconstructions')).toEqual(['samples/reconstructions/final.png', 'samples/reconstructions/step-0000010.png']);
    expect(await list('artifact-dirs', ids[1]!, 'samples')).toEqual([]);
    expect((await fetch(`${dash.url}/api/runs/${ids[0]}/artifact-dirs?dir=..`)).status).toBe(400);
    expect((await fetch(`${dash.url}/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${dash.url}/api/runs`, { method: 'POST' })).status).toBe(405);
    // DNS rebinding: another Host name pointing at 127.0.0.1 is refused.
    const port = new URL(dash.url).port;
    const rebound = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/api/runs', headers: { host: `evil.example:${port}` } }, (r) => resolve(r.statusCode ?? 0)).on('error', reject);
    });
    expect(rebound).toBe(403);
  });

  // Skipped only where Debian's Chromium is not installed (apt-get install chromium) and
  // GENLAB_REQUIRE_BROWSER is not set; .ci/run installs it and sets the variable.
  it.skipIf(!hasChromium)('shows two runs side by side in Chromium: table, curves, sample grids', async () => {
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(dash.url);
      await page.waitForSelector('body[data-ready=true]');
      expect(await page.locator('[data-testid=run-row]').count()).toBe(2);
      await page.fill('[data-testid=filter]', 'run-b');
      expect(await page.locator('[data-testid=run-row]').count()).toBe(1);
      await page.fill('[data-testid=filter]', '');
      for (const id of ids) await page.check(`input[data-run="${id}"]`);
      await page.waitForSelector('[data-testid=chart][data-key=loss_g] canvas');
      const legend = await page.locator('[data-testid=chart][data-key=loss_g] .u-legend').innerText();
      expect(legend).toContain('run-a');
      expect(legend).toContain('run-b');
      expect(await page.locator('[data-testid=chart]').count()).toBe(3); // fid, loss_d, loss_g
      // Param diff: only the learning rate differs.
      expect(await page.locator('[data-testid=param-row]').allInnerTexts()).toEqual([expect.stringMatching(/^model\.optimizerG\.lr\s+0\.0002\s+0\.001$/)]);
      expect(await page.locator('[data-testid=compare-row]').count()).toBe(2);
      expect(await page.locator('[data-testid=floor-row]').innerText()).toMatch(/^real-vs-real floor\s+mnist\s+0\.500/);
      // Sample grids load, and the slider moves through the steps.
      await page.waitForFunction("[...document.querySelectorAll('[data-testid=sample-img]')].every((i) => i.complete && i.naturalWidth > 0)");
      const img = page.locator(`[data-testid=sample][data-run="${ids[0]}"] img`);
      expect(await img.getAttribute('src')).toMatch(/path=samples%2Ffinal\.png$/);
      await page.locator(`[data-testid=sample][data-run="${ids[0]}"] input[type=range]`).fill('0');
      expect(await img.getAttribute('src')).toMatch(/path=samples%2Fstep-0000010\.png$/);
      // A run with preview grids can switch to them; the main slider never showed them.
      expect(await page.locator(`[data-testid=sample][data-run="${ids[1]}"] [data-testid=sample-view]`).count()).toBe(0);
      await page.locator(`[data-testid=sample][data-run="${ids[0]}"] [data-testid=sample-view]`).selectOption({ label: 'reconstructions' });
      expect(await img.getAttribute('src')).toMatch(/path=samples%2Freconstructions%2Ffinal\.png$/);
      expect(await page.locator(`[data-testid=sample][data-run="${ids[0]}"] input[type=range]`).getAttribute('max')).toBe('1');
      const shot = process.env.GENLAB_UI_SCREENSHOT;
      if (shot) await page.screenshot({ path: shot, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('exp ui with a sweep', () => {
  // A parent run (no metrics, params = the sweep spec) with two variants, and a plain run.
  // Skipped only where Chromium is missing and GENLAB_REQUIRE_BROWSER is unset (as above).
  it.skipIf(!hasChromium)("lists the variants, not the sweep's parent run; a sweep id filters to its variants", async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-sweep-')), 'mlruns');
    const parent = new FileStoreTracker(root);
    const { runId: parentId } = await parent.startRun({ experiment: 'ui-test', runName: 'gan-sweep-ab12cd34', tags: { 'genlab.sweep': 'ab12cd34', 'genlab.sweep.role': 'parent', 'genlab.sweep.size': '2' } });
    await parent.logParams({ 'sweep.seed': '[1,2]' });
    for (const [i, name] of ['v-1', 'v-2'].entries()) {
      const t = new FileStoreTracker(root);
      await t.startRun({
        experiment: 'ui-test',
        runName: name,
        tags: { 'genlab.sweep': 'ab12cd34', 'genlab.sweep.role': 'variant', 'genlab.sweep.index': String(i + 1), 'genlab.sweep.variant': `seed=${i + 1}`, 'mlflow.parentRunId': parentId },
      });
      await t.logMetrics(10, { loss_g: i + 1 });
      await t.endRun('FINISHED');
    }
    await makeRun(root, 'plain', '0.0002', 1);
    await parent.endRun('FINISHED');
    const dash = await startDashboard(new LocalSource(root));
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(dash.url);
      await page.waitForSelector('body[data-ready=true]');
      const names = async () => (await page.locator('[data-testid=run-row] td:nth-child(2)').allInnerTexts()).sort();
      expect(await names()).toEqual(['plain', 'v-1', 'v-2']);
      expect(await page.locator('[data-testid=count]').innerText()).toBe('3 of 3 runs (1 sweep: click a sweep id for its variants)');
      const link = page.locator('[data-testid=sweep-link]').first();
      expect(await link.innerText()).toMatch(/^ab12cd34 #[12]$/);
      expect(await link.getAttribute('title')).toMatch(/^variant [12] of 2: seed=[12]\nsweep run gan-sweep-ab12cd34: FINISHED$/);
      await link.click();
      expect(await names()).toEqual(['v-1', 'v-2']);
      expect(await page.inputValue('[data-testid=filter]')).toBe('ab12cd34');
      // Without --queue there is no queue panel.
      expect(await page.locator('[data-testid=queue]').isHidden()).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await dash.close();
    }
  });

  // Skipped only where Chromium is missing and GENLAB_REQUIRE_BROWSER is unset (as above).
  it.skipIf(!hasChromium)("with a queue, a sweep's view shows each variant's state there: running where and at which step, finished, failed and why", async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-queue-')), 'mlruns');
    const parent = new FileStoreTracker(root);
    await parent.startRun({ experiment: 'ui-test', runName: 'gan-sweep-cd34ef56', tags: { 'genlab.sweep': 'cd34ef56', 'genlab.sweep.role': 'parent', 'genlab.sweep.size': '3' } });
    const v = new FileStoreTracker(root);
    await v.startRun({ experiment: 'ui-test', runName: 'v-1', tags: { 'genlab.sweep': 'cd34ef56', 'genlab.sweep.role': 'variant', 'genlab.sweep.index': '1', 'genlab.sweep.variant': 'seed=1' } });
    const asked: string[] = [];
    // The shape exp sweep status --format json prints (@genlab/queue's SweepStatus).
    const status = {
      record: { sweepId: 'cd34ef56', total: 3 },
      counts: { queued: 0, retrying: 0, running: 1, finished: 1, failed: 1, cancelled: 0 },
      done: false,
      variants: [
        { index: 0, label: 'seed=1', state: 'running', attempts: 2, maxAttempts: 3, host: 'gpu-2', step: 40, totalSteps: 100 },
        { index: 1, label: 'seed=2', state: 'finished', attempts: 1, maxAttempts: 3, host: 'gpu-1', step: 100 },
        { index: 2, label: 'seed=3', state: 'failed', attempts: 3, maxAttempts: 3, reason: 'non-finite loss_d at step 7' },
      ],
    };
    const dash = await startDashboard(new LocalSource(root), { queueStatus: async (id) => (asked.push(id), id === 'cd34ef56' ? status : undefined) });
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
    try {
      expect((await fetch(`${dash.url}/api/sweeps/00000000/queue`)).status).toBe(404);
      const page = await browser.newPage();
      await page.goto(dash.url);
      await page.waitForSelector('body[data-ready=true]');
      await page.locator('[data-testid=sweep-link]').first().click();
      await page.waitForSelector('[data-testid=queue-row]');
      expect(await page.locator('[data-testid=queue-head]').innerText()).toBe('sweep cd34ef56 on the queue: 1 running, 1 finished, 1 failed');
      const rows = await page.locator('[data-testid=queue-row]').allInnerTexts();
      expect(rows.map((r) => r.split('\t').map((c) => c.trim()))).toEqual([
        ['1', 'seed=1', 'running', '2/3', 'on gpu-2 at step 40/100'],
        ['2', 'seed=2', 'finished', '1/3', 'on gpu-1'],
        ['3', 'seed=3', 'failed', '3/3', 'non-finite loss_d at step 7'],
      ]);
      expect(asked).toContain('cd34ef56');
    } finally {
      await browser.close();
      await dash.close();
    }
  });
});

describe('exp ui over an MLflow server', () => {
  it('lists the server\'s runs, their history and sample grids', async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-remote-')), 'mlruns');
    const id = await makeRun(root, 'remote-run', '0.0002', 1);
    const stub = await startMlflowStub();
    try {
      const { remoteRunId } = await syncRun(new FileStore(root), id, new MlflowClient(stub.url));
      const dash = await startDashboard(new RemoteSource(stub.url));
      try {
        const runs = (await (await fetch(`${dash.url}/api/runs`)).json()) as { runId: string; runName: string; experiment: string; latest: Record<string, number> }[];
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({ runId: remoteRunId, runName: 'remote-run', experiment: 'ui-test', latest: { fid: 10, loss_g: 30 } });
        const hist = (await (await fetch(`${dash.url}/api/runs/${remoteRunId}/history?key=loss_g`)).json()) as { step: number }[];
        expect(hist.map((p) => p.step)).toEqual([10, 20, 30]);
        const files = (await (await fetch(`${dash.url}/api/runs/${remoteRunId}/artifacts?dir=samples`)).json()) as string[];
        expect(files).toEqual(['samples/final.png', 'samples/step-0000010.png']);
        const png = await fetch(`${dash.url}/api/runs/${remoteRunId}/artifact?path=samples/final.png`);
        expect(png.status).toBe(200);
        expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
        expect((await fetch(`${dash.url}/api/runs/${remoteRunId}/artifact?path=${encodeURIComponent('../x')}`)).status).toBe(400);
      } finally {
        await dash.close();
      }
    } finally {
      await stub.close();
    }
  });

  it("answers the server's 404 and 400 as 404 and 400, and never shows the server's disk paths or a stack", async () => {
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'genlab-ui-remote-')), 'mlruns');
    const id = await makeRun(root, 'remote-run', '0.0002', 1);
    const stub = await startMlflowStub();
    const logged: string[] = [];
    try {
      const { remoteRunId } = await syncRun(new FileStore(root), id, new MlflowClient(stub.url));
      const dash = await startDashboard(new RemoteSource(stub.url), { log: (m) => logged.push(m) });
      const get = async (p: string) => {
        const r = await fetch(`${dash.url}${p}`);
        const text = await r.text();
        // Neither the server's disk path nor a stack trace, whatever the answer.
        expect(text, p).not.toContain(STUB_ARTIFACT_ROOT);
        expect(text, p).not.toMatch(/\bat .*\(|\.ts:\d+|node:internal/);
        return { status: r.status, body: JSON.parse(text) as { error: string } };
      };
      try {
        const unknown = 'e'.repeat(32);
        expect(await get(`/api/runs/${unknown}/history?key=loss_g`)).toEqual({ status: 404, body: { error: 'not found on the MLflow server (RESOURCE_DOES_NOT_EXIST)' } });
        expect((await get(`/api/runs/${unknown}/artifacts?dir=samples`)).status).toBe(404);
        expect((await get(`/api/runs/${unknown}/artifact?path=samples/final.png`)).status).toBe(404);
        expect(await get(`/api/runs/${remoteRunId}/history`)).toEqual({ status: 400, body: { error: 'the MLflow server refused the request (INVALID_PARAMETER_VALUE)' } });
        // A missing artifact: MLflow's answer is a 500 naming its disk path; the dashboard's is a 404.
        expect(await get(`/api/runs/${remoteRunId}/artifact?path=samples/missing.png`)).toEqual({ status: 404, body: { error: 'no artifact samples/missing.png' } });
        // A server failing: the details go to the dashboard's log, not to the browser.
        stub.failNext(100);
        const failed = await get('/api/runs');
        stub.failNext(0);
        expect(failed.status).toBe(502);
        expect(failed.body.error).toMatch(/^the MLflow server failed to answer \(HTTP_503\)/);
        expect(logged.join('\n')).toContain('503');
      } finally {
        await dash.close();
      }
    } finally {
      await stub.close();
    }
  });
});
