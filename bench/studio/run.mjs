// The studio bench: with RUNS runs × METRICS metrics and a POINTS-point metric in the store,
// measures in headless Chromium (cold cache each time, median of REPS) the runs table's time
// to first render and the big metric chart's time to interactive, for mlplane's studio and,
// unless --skip-mlflow, for the MLflow UI of `mlflow server` holding the same data (seeded
// through its REST API). Writes a markdown report. Run by bench/studio/run.sh.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { browser, call, pool, seedLongMetric, seedRuns, startServer } from "../../studio/tests/lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const RUNS = Number(opt("runs", 10_000));
const METRICS = Number(opt("metrics", 20));
const POINTS = Number(opt("points", 1_000_000));
const REPS = Number(opt("reps", 5));
const BIN = opt("mlplane-bin", process.env.MLPLANE_BIN);
const MLFLOW = opt("mlflow", "");
const OUT = opt("out", "bench/results-studio.md");
const skipMlflow = args.includes("--skip-mlflow") || !MLFLOW;
if (!BIN) throw new Error("--mlplane-bin (or MLPLANE_BIN) is required");

const loadAtStart = loadavg().map((x) => x.toFixed(2)).join(", ");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...m) => console.error("==", ...m);

/** Where a page load's time went: the HTML, then each script, style and API call (start and
 * end, ms from navigation start), as the browser's resource timing saw them. */
function timeline() {
  const nav = performance.getEntriesByType("navigation")[0];
  const short = (u) => {
    const { pathname, search } = new URL(u);
    const p = pathname.replace(/^\/studio\/assets\//, "").replace(/^\/api\/v1\/workspaces\/[^/]+\//, "").replace(/^\/api\/v1\//, "");
    const key = new URLSearchParams(search).has("start_step") ? " (sample)" : /sampled/.test(p) ? " (M4)" : "";
    return p.replace(/runs\/[0-9a-f]{32}/, "runs/{id}").replace(/\?.*/, "") + key;
  };
  const parts = [`HTML ${Math.round(nav.responseEnd)}`];
  for (const r of performance.getEntriesByType("resource"))
    parts.push(`${short(r.name)} ${Math.round(r.startTime)}–${Math.round(r.responseEnd)}`);
  parts.push(`DOMContentLoaded ${Math.round(nav.domContentLoadedEventEnd)}`);
  return parts.join(", ");
}

/** Opens `url` in a fresh context (cold cache) and returns ms from navigation start until
 * `ready()` (a page function) first holds, polled every animation frame, with the load's
 * timeline. */
async function timeTo(b, url, ready, timeout = 120_000) {
  const ctx = await b.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  try {
    await page.goto(url, { waitUntil: "commit" });
    const h = await page.waitForFunction(ready, undefined, { polling: "raf", timeout });
    const ms = await h.jsonValue();
    const tl = await page.evaluate(timeline).catch(() => "");
    // Untimed: let the page's remaining requests (the chart's M4 redraw) finish, so they do
    // not load the server during the next measured load.
    await page.waitForLoadState("networkidle", { timeout: 30_000 }).catch(() => undefined);
    return { ms, timeline: tl };
  } finally {
    await ctx.close();
  }
}

/** The median of REPS cold loads; `timelines[label]` keeps that load's timeline. */
const timelines = {};
async function measure(b, label, url, ready) {
  const xs = [];
  await timeTo(b, url, ready); // warm the server's caches once; the browser stays cold
  for (let i = 0; i < REPS; i++) xs.push(await timeTo(b, url, ready));
  log(label, xs.map((x) => Math.round(x.ms)).join(", "), "ms");
  const mid = [...xs].sort((a, b) => a.ms - b.ms)[Math.floor(xs.length / 2)];
  timelines[label] = mid.timeline;
  log(`${label}, the median load: ${mid.timeline.slice(0, 1500)}`);
  return mid.ms;
}

// --- mlplane -------------------------------------------------------------------------------
const results = {};
const seedTimes = {};
{
  const server = await startServer(BIN);
  const base = server.url;
  log(`mlplane at ${base}: seeding ${RUNS} runs × ${METRICS} metrics and a ${POINTS}-point metric`);
  let t = Date.now();
  const exp = await seedRuns(base, "bench", RUNS, METRICS);
  const run = await seedLongMetric(base, exp, POINTS);
  seedTimes.mlplane = (Date.now() - t) / 1000;
  const b = await browser();
  try {
    results.mlplane = {
      table: await measure(b, "mlplane runs table", `${base}/studio/w/default/experiments/${exp}`, () =>
        document.querySelector(".vrow") ? performance.now() : false,
      ),
      chart: await measure(b, "mlplane 1M chart", `${base}/studio/w/default/runs/${run}/metrics`, () =>
        document.querySelector(".uplot[data-ready]") ? performance.now() : false,
      ),
      // The redraw from the M4 reduction (every spike kept), which reads all the points.
      chartM4: await measure(b, "mlplane 1M chart, M4 redraw", `${base}/studio/w/default/runs/${run}/metrics`, () =>
        document.querySelector("[data-testid^=chart-]")?.textContent?.includes("points, downsampled")
          ? performance.now()
          : false,
      ),
    };
  } finally {
    await b.close();
    await server.stop();
  }
}

// --- mlflow --------------------------------------------------------------------------------
async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `fn` with retries: mlflow server can drop a connection or answer 5xx under load, which
 * should cost a retry, not the whole comparison. A 4xx (a bug here) or `fatal()` (an Error,
 * e.g. the server is gone) fails at once. */
async function retried(what, fn, fatal, attempts = 5) {
  for (let i = 1; ; i++) {
    const stop = fatal();
    if (stop) throw stop;
    try {
      return await fn();
    } catch (e) {
      const msg = String(e?.message ?? e);
      if (i >= attempts || /-> 4\d\d:/.test(msg) || fatal()) throw fatal() ?? new Error(`${what} failed after ${i} attempt(s): ${msg}`);
      await new Promise((r) => setTimeout(r, 250 * 2 ** i));
    }
  }
}

let mlflowError = "";
if (!skipMlflow) {
  const dir = mkdtempSync(join(tmpdir(), "mlflow-studio-bench-"));
  const port = await freePort();
  // One uvicorn worker: several workers on a small, busy machine kept dying at start-up
  // ("Child process ... died"), and one is what a single-user UI comparison needs.
  const child = spawn(
    MLFLOW,
    ["server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1",
      "--backend-store-uri", `sqlite:///${dir}/mlflow.db`, "--artifacts-destination", `${dir}/artifacts`],
    // Its own process group, so stopping it stops uvicorn's workers too.
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let stderr = "";
  child.stdout.on("data", (d) => (stderr += d));
  child.stderr.on("data", (d) => (stderr += d));
  let exited = null;
  child.on("exit", (code, signal) => (exited = signal ?? code));
  const died = () =>
    exited !== null ? new Error(`mlflow server (${MLFLOW}) exited (${exited}); its output ends with:\n${stderr.slice(-3000)}`) : null;
  const base = `http://127.0.0.1:${port}`;
  // Every call to mlflow: retried, and failing with the server's output once it is gone.
  const mcall = (method, path, body) => retried(`${method} ${path}`, () => call(base, method, path, body), died);
  try {
    for (let i = 0; ; i++) {
      const gone = died();
      if (gone) throw gone;
      try {
        // /health answers plain text ("OK"), not JSON.
        if ((await fetch(`${base}/health`)).ok) break;
        throw new Error("not healthy yet");
      } catch (e) {
        if (i > 600) throw new Error(`mlflow server did not answer /health within 5 minutes; its output ends with:\n${stderr.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    log(`mlflow at ${base}: seeding the same data through its REST API`);
    const api = "/api/2.0/mlflow";
    let t = Date.now();
    const exp = (await mcall("POST", `${api}/experiments/create`, { name: "bench" })).experiment_id;
    const t0 = Date.UTC(2026, 0, 1);
    await pool([...Array(RUNS).keys()], 4, async (i) => {
      const r = await mcall("POST", `${api}/runs/create`, {
        experiment_id: exp,
        run_name: `run-${String(i).padStart(5, "0")}`,
        start_time: t0 + i * 1000,
        tags: [{ key: "team", value: i % 3 === 0 ? "vision" : "nlp" }],
      });
      const rid = r.run.info.run_id;
      const lr = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5];
      await mcall("POST", `${api}/runs/log-batch`, {
        run_id: rid,
        params: [
          { key: "lr", value: String(lr) },
          { key: "batch_size", value: String(32 << i % 4) },
          { key: "optimizer", value: i % 2 ? "adam" : "sgd" },
          { key: "layers", value: String(2 + (i % 6)) },
          { key: "dropout", value: String((i % 5) / 10) },
        ],
        metrics: Array.from({ length: METRICS }, (_, m) => ({
          key: m === 0 ? "loss" : m === 1 ? "accuracy" : `metric_${String(m).padStart(2, "0")}`,
          value: m === 0 ? 1 / (1 + (i % 100)) + lr : m === 1 ? 0.5 + (i % 50) / 100 : Math.sin(i + m),
          step: 10,
          timestamp: t0 + i * 1000 + 500,
        })),
      });
      await mcall("POST", `${api}/runs/update`, { run_id: rid, status: "FINISHED", end_time: t0 + i * 1000 + 60_000 });
    });
    const run = (await mcall("POST", `${api}/runs/create`, { experiment_id: exp, run_name: "long-training" })).run.info
      .run_id;
    await pool([...Array(Math.ceil(POINTS / 1000)).keys()], 4, async (bi) => {
      const metrics = [];
      for (let s = bi * 1000; s < Math.min(POINTS, (bi + 1) * 1000); s++)
        metrics.push({ key: "train_loss", value: 2 * Math.exp(-s / (POINTS / 5)) + 0.1, step: s, timestamp: t0 + s * 10 });
      await mcall("POST", `${api}/runs/log-batch`, { run_id: run, metrics });
    });
    seedTimes.mlflow = (Date.now() - t) / 1000;
    const b = await browser();
    try {
      results.mlflow = {
        // The experiment page's runs table shows a link per run once it rendered.
        // MLflow 3 opens an experiment on its GenAI overview; the runs table is the
        // machine-learning workflow's runs view.
        table: await measure(b, "mlflow runs table", `${base}/#/experiments/${exp}/runs?workflowType=machine_learning`, () =>
          document.querySelector('a[href*="/runs/"]') ? performance.now() : false,
        ),
        // MLflow 3's metric page (#/metric/...) answers "invalid URL"; the run page's Model
        // metrics tab charts the run's metrics with plotly.
        chart: await measure(
          b,
          "mlflow 1M chart",
          `${base}/#/experiments/${exp}/runs/${run}/model-metrics`,
          () => (document.querySelector(".js-plotly-plot .scatterlayer .trace path.js-line") ? performance.now() : false),
        ),
      };
    } finally {
      await b.close();
    }
  } catch (e) {
    // The comparison failed: say why, keep mlplane's numbers and write the report anyway.
    mlflowError = String(e?.message ?? e).split("\n")[0];
    log(`MLflow UI comparison failed: ${e?.stack ?? e}`);
  } finally {
    if (exited === null) {
      const gone = new Promise((r) => child.on("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- report --------------------------------------------------------------------------------
const f = (x) => (x === undefined ? "—" : `${Math.round(x)} ms`);
const ratio = (a, b) => (a && b ? `${(b / a).toFixed(1)}×` : "—");
const m = results.mlplane;
const w = results.mlflow;
const mlflowColumn = skipMlflow ? "skipped" : mlflowError ? "failed" : "mlflow server";
const report = `# Studio bench

${RUNS.toLocaleString("en-US")} runs × ${METRICS} metrics (+ 5 params, 1–2 tags each) and one run with a ${POINTS.toLocaleString("en-US")}-point metric, in headless Chromium (${new Date().toISOString().slice(0, 10)}, \`bench/studio/run.sh\`).
Each number is the median of ${REPS} page loads in a fresh browser context (cold browser cache, after one warm-up load), from navigation start until the table's first row, or the chart's canvas with data, is on screen.
Seeding through the REST APIs took ${seedTimes.mlplane?.toFixed(0)} s for mlplane${seedTimes.mlflow ? ` and ${seedTimes.mlflow.toFixed(0)} s for mlflow server` : ""}.

| measure | goal | mlplane studio | MLflow UI (${mlflowColumn}) | mlplane faster by |
|---|---|---|---|---|
| runs table, time to first render | < 1 s | ${f(m.table)} | ${f(w?.table)} | ${ratio(m.table, w?.table)} |
| ${POINTS.toLocaleString("en-US")}-point metric chart, time to interactive | < 500 ms | ${f(m.chart)} | ${f(w?.chart)} | ${ratio(m.chart, w?.chart)} |
| the same chart redrawn from the M4 reduction (all spikes) | | ${f(m.chartM4)} | | |

Load average when the bench started: ${loadAtStart}.

Where the median load's time went (ms from navigation start; a resource as start–end):
${Object.entries(timelines)
  .filter(([k]) => k.startsWith("mlplane"))
  .map(([k, v]) => `- ${k}: ${v}`)
  .join("\n")}${mlflowError ? `\n\nThe MLflow UI comparison failed: ${mlflowError}` : ""}
`;
writeFileSync(OUT, report);
console.log(report);
if (mlflowError) process.exitCode = 1;
