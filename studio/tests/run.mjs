// The studio's browser tests: the real mlplane binary ($MLPLANE_BIN), seeded through the REST
// API, driven by playwright-core in Debian's headless Chromium. Every page must load with no
// console errors; screenshots of the main pages go to $STUDIO_OUT. Run by
// scripts/studio-tests.sh; `node tests/run.mjs <name filter>` runs a subset.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { browser, call, seedArtifacts, seedLongMetric, seedRuns, startServer } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const studio = join(here, "..");
const BIN = process.env.MLPLANE_BIN;
if (!BIN) throw new Error("set MLPLANE_BIN to the mlplane binary to test");
const OUT = process.env.STUDIO_OUT ?? join(studio, "..", ".cache", "studio-test-output");
mkdirSync(OUT, { recursive: true });
const RUNS = Number(process.env.STUDIO_RUNS ?? 10_000);
const POINTS = Number(process.env.STUDIO_POINTS ?? 1_000_000);
const only = process.argv[2] ?? "";
const WS = "/api/v1/workspaces/default";

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

const started = Date.now();
const server = await startServer(BIN);
const base = server.url;
console.log(`server at ${base}`);
const results = [];
let serverLog = "";
const numbers = {};
let b;
try {
  // --- seed ----------------------------------------------------------------------------
  let t = Date.now();
  const sweep = await seedRuns(base, "sweep", RUNS, 5);
  numbers.seed_runs_s = (Date.now() - t) / 1000;
  t = Date.now();
  const longExp = (await call(base, "POST", `${WS}/experiments`, { name: "long" })).experiment_id;
  const longRun = await seedLongMetric(base, longExp, POINTS);
  numbers.seed_points_s = (Date.now() - t) / 1000;
  await seedArtifacts(base, longRun);
  const mlflow = "/api/2.0/mlflow";
  const firstRun = (await call(base, "POST", `${WS}/runs/search`, { experiment_ids: [sweep], max_results: 1 })).runs[0];
  await call(base, "POST", `${mlflow}/registered-models/create`, { name: "fraud-detector", description: "flags fraud" });
  for (let i = 0; i < 2; i++)
    await call(base, "POST", `${mlflow}/model-versions/create`, {
      name: "fraud-detector",
      source: `runs:/${firstRun.info.run_id}/model`,
      run_id: firstRun.info.run_id,
    });
  await call(base, "POST", `${mlflow}/registered-models/alias`, { name: "fraud-detector", alias: "champion", version: "2" });
  console.log(`seeded ${RUNS} runs in ${numbers.seed_runs_s}s, ${POINTS} points in ${numbers.seed_points_s}s`);

  b = await browser();
  const ctx = await b.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });
  // Every studio page runs under the strict policy the server is to send: a violation is a
  // console error, which fails the test.
  await ctx.route("**/studio/**", async (route) => {
    if (route.request().resourceType() !== "document") return route.continue();
    const r = await route.fetch();
    await route.fulfill({ response: r, headers: { ...r.headers(), "content-security-policy": "default-src 'self'" } });
  });

  /** A fresh page that records console errors; `allowed` matches errors a test provokes. */
  async function open(path, allowed = []) {
    const page = await ctx.newPage();
    const errors = [];
    page.on("console", (m) => {
      if (m.type() === "error" && !allowed.some((a) => a.test(m.text()))) errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    await page.goto(base + path);
    return { page, errors };
  }
  async function done({ page, errors }, shot) {
    if (shot) await page.screenshot({ path: join(OUT, `${shot}.png`) });
    await page.close();
    assert(errors.length === 0, `console errors: ${errors.join(" | ")}`);
  }
  async function test(name, fn) {
    if (only && !name.includes(only)) return;
    const t0 = Date.now();
    try {
      await fn();
      results.push({ name, ok: true, ms: Date.now() - t0 });
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ name, ok: false, ms: Date.now() - t0, error: e });
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
    }
  }

  await test("the typed client's schema matches the server's OpenAPI document", async () => {
    const dir = mkdtempSync(join(tmpdir(), "studio-schema-"));
    writeFileSync(join(dir, "openapi.json"), JSON.stringify(await call(base, "GET", "/api/v1/openapi.json")));
    execFileSync(join(studio, "node_modules/.bin/openapi-typescript"), [join(dir, "openapi.json"), "-o", join(dir, "schema.d.ts")], {
      stdio: "pipe",
    });
    const want = readFileSync(join(dir, "schema.d.ts"), "utf8");
    const have = readFileSync(join(studio, "src/api/schema.d.ts"), "utf8");
    assert(want === have, "studio/src/api/schema.d.ts is stale: run `npm run gen-api -- <openapi.json> -o src/api/schema.d.ts`");
  });

  await test("/ redirects to the studio and the workspace home lists recent runs", async () => {
    const p = await open("/");
    await p.page.waitForURL(/\/studio\/w\/default$/);
    await p.page.getByRole("heading", { name: "Recent runs" }).waitFor();
    await p.page.getByRole("link", { name: "long-training" }).first().waitFor();
    await done(p, "home");
  });

  await test("experiments list", async () => {
    const p = await open("/studio/w/default/experiments");
    await p.page.getByRole("link", { name: "sweep" }).waitFor();
    await done(p, "experiments");
  });

  await test(`the runs table renders and scrolls ${RUNS} runs`, async () => {
    const t0 = Date.now();
    const p = await open(`/studio/w/default/experiments/${sweep}`);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    numbers.runs_table_first_rows_ms = Date.now() - t0;
    await page.getByTestId("run-count").filter({ hasText: `${RUNS.toLocaleString("en-US")} runs` }).waitFor({ timeout: 120_000 });
    assert(!(await page.getByTestId("run-count").textContent()).includes("loading"), "all pages loaded");
    numbers.runs_table_all_rows_ms = Date.now() - t0;
    const rendered = await page.locator(".vrow").count();
    assert(rendered > 10 && rendered < 100, `virtualized: ${rendered} rows in the DOM`);
    await page.screenshot({ path: join(OUT, "runs-table.png") });
    // Scroll to the end in 40 steps, one frame each: every step must show rows.
    const frames = await page.evaluate(async () => {
      const el = document.querySelector("[data-testid=runs-table]");
      const times = [];
      for (let i = 1; i <= 40; i++) {
        const t = performance.now();
        el.scrollTop = (el.scrollHeight * i) / 40;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        if (!document.querySelector(".vrow")) throw new Error("no rows after scrolling");
        times.push(performance.now() - t);
      }
      return times;
    });
    frames.sort((a, b) => a - b);
    numbers.runs_table_scroll_step_p50_ms = Math.round(frames[20] * 10) / 10;
    numbers.runs_table_scroll_step_max_ms = Math.round(frames[39] * 10) / 10;
    await page.getByRole("link", { name: "run-00000" }).waitFor();
    await done(p);
  });

  await test("sorting by a header orders through the server", async () => {
    const p = await open(`/studio/w/default/experiments/${sweep}`);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    await page.locator(".vhead .cell", { hasText: "loss" }).first().click();
    await page.waitForURL(/order=metrics\.loss\+DESC|order=metrics.loss%20DESC/);
    await page.locator(".vhead .cell", { hasText: "loss" }).first().click();
    await page.waitForURL(/ASC/);
    await page.locator(".vrow").first().waitFor();
    const first = await page.locator(".vrow").first().locator(".cell.num").allTextContents();
    const losses = (await call(base, "POST", `${WS}/runs/search`, { experiment_ids: [sweep], order_by: ["metrics.loss ASC"], max_results: 1 })).runs[0];
    const min = losses.data.metrics.find((m) => m.key === "loss").value;
    assert(first.some((c) => Math.abs(Number(c) - min) < 1e-3), `first row ${first} has the lowest loss ${min}`);
    await done(p);
  });

  await test("the filter box shows the server's error and position for a bad filter", async () => {
    const p = await open(`/studio/w/default/experiments/${sweep}`, [/status of 400/]);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    await page.getByLabel("filter").fill("metrics.loss <<< 1");
    await page.getByLabel("filter").press("Enter");
    const err = page.getByTestId("filter-error");
    await err.waitFor();
    const text = await err.textContent();
    assert(/invalid filter at position \d+/.test(text), `error shown: ${text}`);
    assert(text.includes("^"), "a caret marks the position");
    await page.screenshot({ path: join(OUT, "runs-filter-error.png") });
    await page.getByLabel("filter").fill("params.optimizer = 'adam' and metrics.loss < 0.05");
    await page.getByLabel("filter").press("Enter");
    await page.locator(".vrow").first().waitFor();
    await page.getByTestId("run-count").filter({ hasNotText: "loading" }).waitFor();
    const n = Number((await page.getByTestId("run-count").textContent()).replace(/[^0-9]/g, ""));
    assert(n > 0 && n < RUNS, `filtered to ${n} runs`);
    await done(p);
  });

  await test("the column chooser adds a tag column", async () => {
    const p = await open(`/studio/w/default/experiments/${sweep}`);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    await page.getByRole("button", { name: /Columns/ }).click();
    await page.getByRole("dialog", { name: "column chooser" }).getByLabel("team").check();
    await page.locator(".vhead .cell", { hasText: "team" }).waitFor();
    await page.screenshot({ path: join(OUT, "runs-columns.png") });
    await page.getByRole("dialog", { name: "column chooser" }).getByLabel("team").uncheck();
    await done(p);
  });

  await test("compare 3 runs: param diff, parallel coordinates, overlaid charts", async () => {
    const p = await open(`/studio/w/default/experiments/${sweep}`);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    for (let i = 0; i < 3; i++) await page.locator(".vrow").nth(i).getByRole("checkbox").check();
    await page.getByRole("button", { name: "Compare (3)" }).click();
    await page.waitForURL(/\/compare\?runs=/);
    const diff = page.getByTestId("param-diff");
    await diff.waitFor();
    assert((await diff.locator("thead th").count()) === 4, "a column per run");
    assert((await page.locator(".diff td.differs").count()) > 0, "differences highlighted");
    assert((await page.locator("[data-testid=parcoords] polyline").count()) === 3, "a line per run");
    await page.locator("[data-testid=chart-loss] canvas").waitFor();
    await page.locator("[data-testid=chart-loss] .uplot[data-ready]").waitFor();
    assert((await page.locator("[data-testid=chart-loss] .u-legend .u-series").count()) === 4, "x + 3 runs in the legend");
    await done(p, "compare");
  });

  await test(`run detail: a ${POINTS}-point metric charts at once and zooms into detail`, async () => {
    const p = await open(`/studio/w/default/runs/${longRun}`);
    const { page } = p;
    await page.getByRole("heading", { name: "Params" }).waitFor();
    await page.screenshot({ path: join(OUT, "run-overview.png") });
    const t0 = Date.now();
    await page.getByRole("link", { name: /Metrics/ }).click();
    await page.locator("[data-testid=chart-train_loss] .uplot[data-ready]").waitFor();
    numbers.chart_1m_points_after_click_ms = Date.now() - t0;
    // First drawn from the fast even sample, then redrawn from the M4 reduction of every point.
    await page.getByTestId("chart-train_loss").getByText(`${POINTS.toLocaleString("en-US")} points`).waitFor();
    numbers.chart_1m_points_m4_after_click_ms = Date.now() - t0;
    await page.screenshot({ path: join(OUT, "run-metrics.png") });
    const box = await page.locator("[data-testid=chart-train_loss] .u-over").boundingBox();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.getByText(/zoomed to steps/).waitFor();
    await page.getByLabel("smoothing").fill("0.9");
    await page.getByText("Log scale").click();
    await page.locator("[data-testid=chart-train_loss] .uplot[data-ready]").waitFor();
    await page.screenshot({ path: join(OUT, "run-metrics-zoomed.png") });
    await done(p);
  });

  await test("artifacts preview text, PNG, CSV and JSON", async () => {
    const p = await open(`/studio/w/default/runs/${longRun}/artifacts`);
    const { page } = p;
    const tree = page.getByTestId("artifact-tree");
    await tree.getByText("notes.txt").click();
    await page.getByTestId("preview-text").filter({ hasText: "epoch 2: converging" }).waitFor();
    await tree.getByText("config.json").click();
    await page.getByTestId("preview-json").filter({ hasText: '"resnet"' }).waitFor();
    await tree.getByText("eval").click();
    await tree.getByText("predictions.csv").click();
    await page.getByTestId("preview-csv").getByRole("cell", { name: "bird, small" }).waitFor();
    await tree.getByText("..").click();
    await tree.getByText("plots").click();
    await tree.getByText("curve.png").click();
    const img = page.getByTestId("preview-image");
    await img.waitFor();
    await page.waitForFunction(() => document.querySelector("[data-testid=preview-image]")?.naturalWidth === 160);
    assert((await page.getByRole("link", { name: "Download" }).getAttribute("href")).endsWith("/artifacts/plots/curve.png"), "download link");
    await done(p, "run-artifacts");
  });

  await test("models: registry, versions, aliases and the producing run", async () => {
    const p = await open("/studio/w/default/models");
    const { page } = p;
    await page.getByRole("link", { name: "fraud-detector" }).click();
    const versions = page.getByTestId("model-versions");
    await versions.waitFor();
    assert((await versions.locator("tbody tr").count()) === 2, "two versions");
    await versions.getByText("@champion").waitFor();
    await page.screenshot({ path: join(OUT, "model.png") });
    await versions.getByRole("link", { name: firstRun.info.run_id.slice(0, 12) }).first().click();
    await page.waitForURL(new RegExp(`/runs/${firstRun.info.run_id}`));
    await done(p);
  });

  const uv = process.env.MLPLANE_UV;
  let countingJob;
  await test("a job's log lines appear live, then it completes", async () => {
    if (!uv) throw new Error("MLPLANE_UV is not set: jobs need uv to build their environment");
    const job = await call(base, "POST", `${WS}/jobs`, {
      command: "for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done; echo counted to 6 > ${{outputs.report}}/summary.txt",
      environment: { pip: [] },
      display_name: "counting",
      experiment_name: "jobs",
      outputs: { report: { type: "uri_folder", name: "counting-report" } },
    });
    countingJob = job.name;
    const p = await open(`/studio/w/default/jobs/${job.name}/logs`);
    const { page } = p;
    const log = page.getByTestId("log");
    await log.filter({ hasText: "line 2" }).waitFor({ timeout: 120_000 });
    const early = await log.textContent();
    assert(!early.includes("line 6"), `seen before the job printed everything: ${early}`);
    await page.screenshot({ path: join(OUT, "job-log-live.png") });
    await log.filter({ hasText: "line 6" }).waitFor({ timeout: 30_000 });
    await page.getByTestId("log-state").filter({ hasText: "run ended" }).waitFor({ timeout: 30_000 });
    await page.getByTestId("job-status").filter({ hasText: "Completed" }).waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "Overview" }).click();
    await page.getByText("Duration").waitFor();
    await done(p, "job");
    const list = await open("/studio/w/default/jobs");
    await list.page.getByRole("link", { name: job.name }).waitFor();
    await done(list, "jobs");
    // The same log on the job's run, after the run ended.
    const runLog = await open(`/studio/w/default/runs/${job.run_id}/logs`);
    await runLog.page.getByTestId("log").filter({ hasText: "line 6" }).waitFor();
    await runLog.page.getByTestId("log-state").filter({ hasText: "run ended" }).waitFor();
    await done(runLog, "run-logs");
  });

  await test("a job's output is a data asset with its files and lineage", async () => {
    if (!countingJob) throw new Error("needs the counting job of the previous test");
    const p = await open(`/studio/w/default/jobs/${countingJob}/io`);
    const { page } = p;
    await page.getByRole("link", { name: /counting-report:/ }).click();
    await page.getByText("Produced by").waitFor();
    await page.getByRole("link", { name: countingJob }).first().waitFor();
    await page.locator(".tree").getByText("summary.txt").click();
    await page.getByTestId("preview-text").filter({ hasText: "counted to 6" }).waitFor();
    await page.screenshot({ path: join(OUT, "asset-version.png") });
    await page.getByRole("link", { name: "Data" }).first().click();
    await page.getByRole("link", { name: "counting-report" }).waitFor();
    await done(p, "assets-data");
  });

  await test("the cancel button cancels a running job", async () => {
    if (!uv) throw new Error("MLPLANE_UV is not set: jobs need uv to build their environment");
    const job = await call(base, "POST", `${WS}/jobs`, { command: "echo waiting; sleep 120", environment: { pip: [] } });
    const p = await open(`/studio/w/default/jobs/${job.name}`);
    const { page } = p;
    await page.getByTestId("log").filter({ hasText: "waiting" }).first().waitFor({ timeout: 120_000 });
    await page.getByRole("button", { name: "Cancel job" }).click();
    await page.getByTestId("job-status").filter({ hasText: /Canceled/ }).waitFor({ timeout: 30_000 });
    await done(p);
  });

  await test("asset pages without assets show their empty states", async () => {
    for (const kind of ["environments", "components", "models"]) {
      const p = await open(`/studio/w/default/assets/${kind}`);
      await p.page.locator(".state.empty").waitFor();
      await done(p, kind === "environments" ? "assets-empty" : undefined);
    }
  });

  await test("environments and components list their versions and show a version's spec", async () => {
    for (const pin of ["1.5", "1.6"])
      await call(base, "POST", `${WS}/environments`, { yaml: `name: sk-env\nimage: python:3.11\npip: [scikit-learn==${pin}]\n` });
    await call(base, "POST", `${WS}/components`, {
      yaml: "type: command\nname: train\ndisplay_name: Train\ninputs:\n  lr: {type: number, default: 0.01}\ncommand: python train.py --lr ${{inputs.lr}}\nenvironment: sk-env@latest\n",
    });
    const p = await open("/studio/w/default/assets/environments");
    const { page } = p;
    await page.getByRole("link", { name: "sk-env", exact: true }).waitFor();
    await page.screenshot({ path: join(OUT, "assets-environments.png") });
    await page.getByRole("link", { name: "sk-env", exact: true }).click();
    await page.waitForURL(/\/assets\/environments\/sk-env$/);
    const rows = page.locator("table.grid tbody tr");
    await rows.nth(1).waitFor();
    assert((await rows.count()) === 2, `two versions, not ${await rows.count()}`);
    await page.getByRole("link", { name: "1", exact: true }).click();
    await page.waitForURL(/\/sk-env\/1$/);
    await page.getByRole("heading", { name: "sk-env:1" }).waitFor();
    await page.locator("pre").filter({ hasText: "scikit-learn==1.5" }).waitFor();
    await page.screenshot({ path: join(OUT, "assets-environment-version.png") });
    // The components page, then a deep link to the component's version.
    await page.getByRole("link", { name: "Components" }).click();
    await page.getByRole("link", { name: "train", exact: true }).click();
    await page.waitForURL(/\/assets\/components\/train$/);
    await page.getByRole("link", { name: "1", exact: true }).waitFor();
    await page.goto(`${base}/studio/w/default/assets/components/train/1`);
    await page.locator("pre").filter({ hasText: "python train.py" }).waitFor();
    await page.locator("pre").filter({ hasText: "sk-env" }).waitFor();
    await done(p, "assets-component-version");
  });

  await test("a job's code snapshot lists its files and previews one, with deep links", async () => {
    const src = mkdtempSync(join(tmpdir(), "studio-code-"));
    mkdirSync(join(src, "lib"));
    writeFileSync(join(src, "train.py"), "import lib.util\nprint('training with lr', lib.util.LR)\n");
    writeFileSync(join(src, "lib", "util.py"), "LR = 0.01\n");
    const archive = execFileSync("tar", ["-C", src, "-czf", "-", "train.py", "lib"]);
    const sha = createHash("sha256").update(archive).digest("hex");
    await call(base, "PUT", `${WS}/snapshots/${sha}`, new Uint8Array(archive));
    const job = await call(base, "POST", `${WS}/jobs`, {
      yaml: "command: python train.py\ncode: ./src\nenvironment: {pip: []}\ndisplay_name: with-code\n",
      code_snapshot: { sha256: sha },
    });
    const p = await open(`/studio/w/default/jobs/${job.name}`);
    const { page } = p;
    await page.getByRole("link", { name: `snapshot ${sha.slice(0, 12)}` }).click();
    await page.waitForURL(new RegExp(`/snapshots/${sha}$`));
    const tree = page.locator(".tree");
    await tree.getByText("lib/util.py").waitFor();
    assert((await tree.locator("a").count()) === 2, "two files listed");
    await tree.getByText("train.py").click();
    await page.waitForURL(/\/train\.py$/);
    await page.getByTestId("preview-text").filter({ hasText: "training with lr" }).waitFor();
    await page.screenshot({ path: join(OUT, "snapshot.png") });
    await page.goto(`${base}/studio/w/default/snapshots/${sha}/lib/util.py`);
    await page.getByTestId("preview-text").filter({ hasText: "LR = 0.01" }).waitFor();
    await done(p);
    // The job is not under test here: stop it if it still runs.
    await call(base, "POST", `${WS}/jobs/${job.name}/cancel`).catch(() => {});
  });

  await test("deep links to missing things show the server's error, not a blank page", async () => {
    const missing = [
      ["/studio/w/default/runs/0123456789abcdef0123456789abcdef", /Error 404/],
      ["/studio/w/default/experiments/987654321", /Error 404/],
      ["/studio/w/default/models/no-such-model", /Error 404/],
      ["/studio/w/default/jobs/no-such-job", /Error 404/],
      ["/studio/w/default/assets/data/no-such-data", /Error 404|No versions/],
      [`/studio/w/default/snapshots/${"0".repeat(64)}`, /Error 404/],
      ["/studio/w/no-such-workspace/experiments", /Error 404/],
      [`/studio/w/default/compare?runs=${"a".repeat(32)},${"b".repeat(32)}`, /Error 404/],
    ];
    for (const [path, want] of missing) {
      const p = await open(path, [/status of 404/]);
      const state = p.page.locator(".state.error, .state.empty").first();
      await state.waitFor();
      const text = await state.textContent();
      assert(want.test(text), `${path}: ${text}`);
      await done(p, path.includes("/runs/") ? "error-state" : undefined);
    }
  });

  await test("the user menu closes on Escape or a click elsewhere and leaves the Columns button clickable", async () => {
    const p = await open(`/studio/w/default/experiments/${sweep}`);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    const menu = page.getByRole("dialog", { name: "user" });
    await page.getByRole("button", { name: "user menu" }).click();
    await menu.waitFor();
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "user menu" }).click();
    await menu.waitFor();
    await page.getByRole("heading", { name: "sweep" }).click();
    await menu.waitFor({ state: "detached" });
    const columns = page.getByRole("button", { name: /Columns/ });
    // Nothing lies over the button: the element at its centre is the button itself.
    const onTop = await columns.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return at === el || el.contains(at);
    });
    assert(onTop, "the Columns button is the topmost element at its centre");
    await columns.click({ timeout: 5000 });
    const chooser = page.getByRole("dialog", { name: "column chooser" });
    await chooser.waitFor();
    await page.keyboard.press("Escape");
    await chooser.waitFor({ state: "detached" });
    await done(p);
  });

  await test("with authentication off there is no sign-in page and the user menu says so", async () => {
    const p = await open("/studio/sign-in?next=%2Fw%2Fdefault%2Fexperiments");
    const { page } = p;
    await page.waitForURL(/\/studio\/w\/default\/experiments$/);
    await page.getByRole("link", { name: "sweep" }).waitFor();
    await page.getByRole("button", { name: "user menu" }).click();
    const menu = page.getByRole("dialog", { name: "user" });
    assert((await menu.getByTestId("user-name").textContent()) === "local (authentication off)", "local principal");
    assert((await menu.getByRole("button", { name: "Sign out" }).count()) === 0, "nothing to sign out of");
    await done(p);
  });

  await test("an unknown deep link shows a not-found page; the dark theme toggles", async () => {
    const p = await open("/studio/w/default/no/such/page");
    await p.page.getByText("No such page").waitFor();
    await p.page.getByRole("button", { name: "toggle theme" }).click();
    assert((await p.page.evaluate(() => document.documentElement.dataset.theme)) === "dark", "dark theme");
    await p.page.goto(`${base}/studio/w/default/experiments/${sweep}`);
    await p.page.locator(".vrow").first().waitFor();
    await p.page.screenshot({ path: join(OUT, "runs-table-dark.png") });
    await p.page.goto(`${base}/studio/w/default/runs/${longRun}/metrics`);
    await p.page.locator("[data-testid=chart-train_loss] .uplot[data-ready]").waitFor();
    await p.page.getByTestId("chart-train_loss").getByText("points, downsampled").waitFor();
    await done(p, "run-metrics-dark");
  });
} finally {
  if (b) await b.close();
  serverLog = server.stderr();
  await server.stop();
}

const failed = results.filter((r) => !r.ok);
console.log(`\n${results.length - failed.length} passed, ${failed.length} failed in ${Math.round((Date.now() - started) / 1000)} s`);
console.log("numbers:", JSON.stringify(numbers));
console.log(`screenshots in ${OUT}`);
if (failed.length) {
  console.log(`server log (last 4000 chars):\n${serverLog.slice(-4000)}`);
  for (const f of failed) console.log(`FAILED: ${f.name}`);
  process.exit(1);
}
