// The studio bench: with RUNS runs × METRICS metrics and a POINTS-point metric in the store,
// measures in headless Chromium (cold cache each time, median of REPS) the runs table's time
// to first render and the big metric chart's time to interactive, for mlplane's studio and,
// unless --skip-mlflow, for the MLflow UI of `mlflow server` holding the same data (seeded
// through its REST API). Writes a markdown report. Run by bench/studio/run.sh.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...m) => console.error("==", ...m);

/** Opens `url` in a fresh context (cold cache) and returns ms from navigation start until
 * `ready()` (a page function) first holds, polled every animation frame. */
async function timeTo(b, url, ready, timeout = 120_000) {
  const ctx = await b.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  try {
    await page.goto(url, { waitUntil: "commit" });
    const h = await page.waitForFunction(ready, undefined, { polling: "raf", timeout });
    return await h.jsonValue();
  } finally {
    await ctx.close();
  }
}

async function measure(b, label, url, ready) {
  const xs = [];
  await timeTo(b, url, ready); // warm the server's caches once; the browser stays cold
  for (let i = 0; i < REPS; i++) xs.push(await timeTo(b, url, ready));
  log(label, xs.map((x) => Math.round(x)).join(", "), "ms");
  return median(xs);
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

if (!skipMlflow) {
  const dir = mkdtempSync(join(tmpdir(), "mlflow-studio-bench-"));
  const port = await freePort();
  const child = spawn(
    MLFLOW,
    ["server", "--host", "127.0.0.1", "--port", String(port),
      "--backend-store-uri", `sqlite:///${dir}/mlflow.db`, "--artifacts-destination", `${dir}/artifacts`],
    // Its own process group, so stopping it stops uvicorn's workers too.
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      try {
        await call(base, "GET", "/health");
        break;
      } catch (e) {
        if (i > 600) throw new Error(`mlflow server did not start: ${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    log(`mlflow at ${base}: seeding the same data through its REST API`);
    const api = "/api/2.0/mlflow";
    let t = Date.now();
    const exp = (await call(base, "POST", `${api}/experiments/create`, { name: "bench" })).experiment_id;
    const t0 = Date.UTC(2026, 0, 1);
    await pool([...Array(RUNS).keys()], 8, async (i) => {
      const r = await call(base, "POST", `${api}/runs/create`, {
        experiment_id: exp,
        run_name: `run-${String(i).padStart(5, "0")}`,
        start_time: t0 + i * 1000,
        tags: [{ key: "team", value: i % 3 === 0 ? "vision" : "nlp" }],
      });
      const rid = r.run.info.run_id;
      const lr = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5];
      await call(base, "POST", `${api}/runs/log-batch`, {
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
      await call(base, "POST", `${api}/runs/update`, { run_id: rid, status: "FINISHED", end_time: t0 + i * 1000 + 60_000 });
    });
    const run = (await call(base, "POST", `${api}/runs/create`, { experiment_id: exp, run_name: "long-training" })).run.info
      .run_id;
    await pool([...Array(Math.ceil(POINTS / 1000)).keys()], 4, async (bi) => {
      const metrics = [];
      for (let s = bi * 1000; s < Math.min(POINTS, (bi + 1) * 1000); s++)
        metrics.push({ key: "train_loss", value: 2 * Math.exp(-s / (POINTS / 5)) + 0.1, step: s, timestamp: t0 + s * 10 });
      await call(base, "POST", `${api}/runs/log-batch`, { run_id: run, metrics });
    });
    seedTimes.mlflow = (Date.now() - t) / 1000;
    const b = await browser();
    try {
      results.mlflow = {
        // The experiment page's runs table shows a link per run once it rendered.
        table: await measure(b, "mlflow runs table", `${base}/#/experiments/${exp}`, () =>
          document.querySelector('a[href*="/runs/"]') ? performance.now() : false,
        ),
        // The metric page draws the run's history with plotly.
        chart: await measure(
          b,
          "mlflow 1M chart",
          `${base}/#/metric/train_loss?runs=${encodeURIComponent(JSON.stringify([run]))}&experiments=${encodeURIComponent(
            JSON.stringify([exp]),
          )}`,
          () => (document.querySelector(".js-plotly-plot .scatterlayer .trace path.js-line") ? performance.now() : false),
        ),
      };
    } finally {
      await b.close();
    }
  } finally {
    const exited = new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
    process.kill(-child.pid, "SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- report --------------------------------------------------------------------------------
const f = (x) => (x === undefined ? "—" : `${Math.round(x)} ms`);
const ratio = (a, b) => (a && b ? `${(b / a).toFixed(1)}×` : "—");
const m = results.mlplane;
const w = results.mlflow;
const report = `# Studio bench

${RUNS.toLocaleString("en-US")} runs × ${METRICS} metrics (+ 5 params, 1–2 tags each) and one run with a ${POINTS.toLocaleString("en-US")}-point metric, in headless Chromium (${new Date().toISOString().slice(0, 10)}, \`bench/studio/run.sh\`).
Each number is the median of ${REPS} page loads in a fresh browser context (cold browser cache, after one warm-up load), from navigation start until the table's first row, or the chart's canvas with data, is on screen.
Seeding through the REST APIs took ${seedTimes.mlplane?.toFixed(0)} s for mlplane${seedTimes.mlflow ? ` and ${seedTimes.mlflow.toFixed(0)} s for mlflow server` : ""}.

| measure | goal | mlplane studio | MLflow UI (${skipMlflow ? "skipped" : "mlflow server"}) | mlplane faster by |
|---|---|---|---|---|
| runs table, time to first render | < 1 s | ${f(m.table)} | ${f(w?.table)} | ${ratio(m.table, w?.table)} |
| ${POINTS.toLocaleString("en-US")}-point metric chart, time to interactive | < 500 ms | ${f(m.chart)} | ${f(w?.chart)} | ${ratio(m.chart, w?.chart)} |
| the same chart redrawn from the M4 reduction (all spikes) | | ${f(m.chartM4)} | | |
`;
writeFileSync(OUT, report);
console.log(report);
