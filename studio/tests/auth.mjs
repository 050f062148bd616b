// The studio's sign-in tests: a second mlplane server with `--auth on` (the first start makes
// user `admin` from MLPLANE_ADMIN_PASSWORD), seeded by the administrator through the REST API
// with a cookie session and its CSRF token: a Reader user, an experiment with runs and a
// running job. In headless Chromium: a deep link shows the sign-in page, a wrong password
// shows the server's error, the reader lands on the deep link, the user menu shows the name
// and role, the job's Cancel button is disabled with "needs jobs/cancel", the runs filter (a
// POST with X-CSRF-Token) works, signing out returns to sign-in, a live log whose session
// ended sends the user to sign in and back, and a locked-out name gets told how long to wait. Run by
// scripts/studio-tests.sh; screenshots go to $STUDIO_OUT.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { browser, call, startServer } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.MLPLANE_BIN;
if (!BIN) throw new Error("set MLPLANE_BIN to the mlplane binary to test");
const OUT = process.env.STUDIO_OUT ?? join(here, "..", "..", ".cache", "studio-test-output");
mkdirSync(OUT, { recursive: true });
const only = process.argv[2] ?? "";
const WS = "/api/v1/workspaces/default";
const ADMIN_PASSWORD = "admin-pass-0123456789";
const READER_PASSWORD = "reader-pass-0123456789";

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** Signs in through the API; answers the headers of that cookie session (cookie + CSRF). */
async function session(base, user, password) {
  const r = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  if (!r.ok) throw new Error(`login ${user} -> ${r.status}: ${await r.text()}`);
  const { csrf_token } = await r.json();
  const cookie = r.headers.get("set-cookie").split(";")[0];
  return { cookie, "x-csrf-token": csrf_token };
}

const started = Date.now();
const server = await startServer(BIN, { MLPLANE_ADMIN_PASSWORD: ADMIN_PASSWORD }, ["--auth", "on"]);
const base = server.url;
console.log(`auth server at ${base}`);
const results = [];
let serverLog = "";
let b;
let job;
let admin;
try {
  // --- seed (as the administrator) -------------------------------------------------------
  const anon = await fetch(`${base}${WS}/experiments`);
  assert(anon.status === 401, `without credentials the API answers 401, not ${anon.status}`);
  admin = await session(base, "admin", ADMIN_PASSWORD);
  const as = (method, path, body) => call(base, method, path, body, admin);
  await as("POST", "/api/v1/users", { name: "reader", password: READER_PASSWORD });
  await as("POST", `${WS}/role-bindings`, { principal: "reader", role: "Reader" });
  const exp = (await as("POST", `${WS}/experiments`, { name: "secured" })).experiment_id;
  const runIds = [];
  for (let i = 0; i < 6; i++) {
    const r = await as("POST", `${WS}/runs`, { experiment_id: exp, name: `secure-${i}` });
    runIds.push(r.info.run_id);
    await as("POST", `${WS}/runs/${r.info.run_id}/batch`, {
      params: [{ key: "optimizer", value: i % 2 ? "adam" : "sgd" }],
      metrics: [{ key: "loss", value: 1 / (i + 1), step: 0, timestamp: Date.now() }],
    });
  }
  const uv = process.env.MLPLANE_UV;
  if (uv) job = (await as("POST", `${WS}/jobs`, { command: "echo waiting; sleep 120", environment: { pip: [] } })).name;

  b = await browser();
  const ctx = await b.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });

  /** A fresh page recording console errors, except the 401s and sign-in refusals the studio
   * expects (`expected` lists URL paths whose failed loads are part of the test). */
  async function open(path, expected = [], allowedText = []) {
    const page = await ctx.newPage();
    const errors = [];
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      const url = m.location()?.url ?? "";
      const okFail = /Failed to load resource/.test(m.text()) && expected.some((e) => url.startsWith(base + e));
      if (!okFail && !allowedText.some((a) => a.test(m.text()))) errors.push(`${m.text()} (${url})`);
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
      results.push({ name, ok: true });
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push({ name, ok: false, error: e });
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
    }
  }
  const deepLink = `/studio/w/default/experiments/${exp}`;

  await test("a deep link without a session shows the sign-in page; a wrong password shows the server's error", async () => {
    const p = await open(deepLink, ["/api/v1/auth/me", "/api/v1/auth/login"]);
    const { page } = p;
    await page.waitForURL(/\/studio\/sign-in\?next=/);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.waitForTimeout(300); // a second redirect (nesting `next`) would come by now
    assert(
      new URL(page.url()).searchParams.get("next") === `/w/default/experiments/${exp}`,
      `next is the deep link: ${page.url()}`,
    );
    await page.screenshot({ path: join(OUT, "sign-in.png") });
    await page.getByLabel("User name").fill("reader");
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    const err = page.getByTestId("sign-in-error");
    await err.waitFor();
    const text = await err.textContent();
    assert(text.includes("invalid, expired or revoked credentials"), `the server's message: ${text}`);
    assert(page.url().includes("/sign-in"), "still on the sign-in page");
    await done(p, "sign-in-error");
  });

  await test("the reader signs in, lands on the deep link, and the user menu shows name and role", async () => {
    const p = await open(deepLink, ["/api/v1/auth/me"]);
    const { page } = p;
    await page.waitForURL(/\/studio\/sign-in/);
    await page.getByLabel("User name").fill("reader");
    await page.getByLabel("Password").fill(READER_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === `/studio/w/default/experiments/${exp}`);
    await page.locator(".vrow").first().waitFor();
    await page.getByRole("button", { name: "user menu" }).click();
    const menu = page.getByRole("dialog", { name: "user" });
    assert((await menu.getByTestId("user-name").textContent()) === "reader", "the user's name");
    await menu.getByText("(user)").waitFor();
    const roles = await menu.getByTestId("user-roles").textContent();
    assert(roles.includes("Reader in default"), `roles: ${roles}`);
    await done(p, "user-menu");
  });

  await test("the runs filter (a POST with the CSRF token) works under the cookie session", async () => {
    const p = await open(deepLink);
    const { page } = p;
    await page.locator(".vrow").first().waitFor();
    await page.getByTestId("run-count").filter({ hasText: "6 runs" }).waitFor();
    await page.getByLabel("filter").fill("params.optimizer = 'adam'");
    await page.getByLabel("filter").press("Enter");
    await page.getByTestId("run-count").filter({ hasText: "3 runs" }).waitFor();
    assert((await page.locator(".vrow").count()) === 3, "three adam runs");
    await done(p);
  });

  await test("a reader's Cancel button is disabled and says it needs jobs/cancel", async () => {
    if (!job) throw new Error("MLPLANE_UV is not set: jobs need uv to build their environment");
    const p = await open(`/studio/w/default/jobs/${job}`);
    const { page } = p;
    await page.getByTestId("job-status").filter({ hasText: /Preparing|Queued|Running/ }).waitFor({ timeout: 60_000 });
    const cancel = page.getByRole("button", { name: "Cancel job" });
    assert(await cancel.isDisabled(), "disabled for a reader");
    assert((await cancel.getAttribute("title")) === "needs jobs/cancel", `title: ${await cancel.getAttribute("title")}`);
    await done(p);
  });

  await test("signing out returns to the sign-in page and the session is gone", async () => {
    const p = await open("/studio/w/default/experiments", ["/api/v1/auth/me"]);
    const { page } = p;
    await page.getByRole("link", { name: "secured" }).waitFor();
    await page.getByRole("button", { name: "user menu" }).click();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/studio\/sign-in\?next=/);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.goto(`${base}/studio/w/default/experiments`);
    await page.waitForURL(/\/studio\/sign-in\?next=/);
    await done(p);
  });

  /** Signs in on the sign-in page the browser is on. */
  async function signIn(page, user, password) {
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  await test("when the session ends, opening the live log sends the user to sign in and back to the log", async () => {
    const run = runIds[0];
    const p = await open(`/studio/w/default/runs/${run}`, ["/api/v1/auth/me", `${WS}/runs/${run}/logs/stream`], [/EventSource/]);
    const { page } = p;
    await page.waitForURL(/\/studio\/sign-in\?next=/);
    await signIn(page, "reader", READER_PASSWORD);
    await page.waitForURL((u) => u.pathname === `/studio/w/default/runs/${run}`);
    await page.getByRole("heading", { name: "Params" }).waitFor();
    // The session ends behind the page's back (as when it expires or is revoked elsewhere).
    const cookie = (await ctx.cookies(base)).map((c) => `${c.name}=${c.value}`).join("; ");
    const token = await page.evaluate(() => localStorage.getItem("mlplane.csrf"));
    const out = await fetch(`${base}/api/v1/auth/logout`, { method: "POST", headers: { cookie, "x-csrf-token": token } });
    assert(out.ok, `sign out behind the page: ${out.status}`);
    await page.getByRole("link", { name: "Logs" }).click();
    await page.waitForURL(/\/studio\/sign-in\?next=/);
    assert(
      new URL(page.url()).searchParams.get("next") === `/w/default/runs/${run}/logs`,
      `next is the log: ${page.url()}`,
    );
    await signIn(page, "reader", READER_PASSWORD);
    await page.waitForURL((u) => u.pathname === `/studio/w/default/runs/${run}/logs`);
    await page.getByTestId("log-state").filter({ hasText: "live" }).waitFor();
    await done(p);
  });

  await test("repeated wrong passwords lock signing in, and the page says for how long", async () => {
    // Five failures for one name lock it; the sixth attempt, in the browser, is refused (429).
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${base}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "mallory", password: `guess-${i}` }),
      });
      assert(r.status === 401, `attempt ${i + 1} answered ${r.status}`);
    }
    const p = await open("/studio/sign-in", ["/api/v1/auth/me", "/api/v1/auth/login"]);
    const { page } = p;
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await signIn(page, "mallory", "guess-5");
    const err = page.getByTestId("sign-in-error");
    await err.waitFor();
    const text = await err.textContent();
    assert(/Too many failed sign-ins/.test(text) && /Try again in \d+ s\./.test(text), `the lockout message: ${text}`);
    assert(page.url().includes("/sign-in"), "still on the sign-in page");
    await done(p, "sign-in-locked");
  });
} finally {
  if (b) await b.close();
  if (job && admin) await call(base, "POST", `${WS}/jobs/${job}/cancel`, undefined, admin).catch(() => {});
  serverLog = server.stderr();
  await server.stop();
}

const failed = results.filter((r) => !r.ok);
console.log(`\nauth: ${results.length - failed.length} passed, ${failed.length} failed in ${Math.round((Date.now() - started) / 1000)} s`);
if (failed.length) {
  console.log(`server log (last 4000 chars):\n${serverLog.slice(-4000)}`);
  for (const f of failed) console.log(`FAILED: ${f.name}`);
  process.exit(1);
}
