// Shared by the studio tests and the studio bench: start the real mlplane binary on a free
// 127.0.0.1 port with a temp data dir, seed it through the REST API, and launch Debian's
// Chromium through playwright-core (which never downloads a browser).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.MLPLANE_CHROMIUM ?? "/usr/bin/chromium";

/** Starts `mlplane server` (with `extraArgs`, e.g. `["--auth", "on"]`); resolves once it
 * printed its URL. */
export async function startServer(bin, extraEnv = {}, extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "mlplane-studio-"));
  const child = spawn(bin, ["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, ...extraArgs], {
    env: { ...process.env, MLPLANE_LOG: "warn", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/mlplane listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)));
  });
  return {
    url,
    stderr: () => stderr,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const raw = (b) => typeof b === "string" || b instanceof Uint8Array;

/** A JSON call that throws with the server's answer on a non-2xx status. */
export async function call(base, method, path, body, headers = {}) {
  const r = await fetch(base + path, {
    method,
    headers:
      body === undefined
        ? headers
        : { "content-type": raw(body) ? "application/octet-stream" : "application/json", ...headers },
    body: body === undefined ? undefined : raw(body) ? body : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool(items, n, fn) {
  let i = 0;
  const workers = Array.from({ length: n }, async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  });
  await Promise.all(workers);
}

const WS = "/api/v1/workspaces/default";

/** An experiment with `runs` runs, each with 5 params, `metrics` metrics and 2 tags. */
export async function seedRuns(base, name, runs, metrics) {
  const exp = await call(base, "POST", `${WS}/experiments`, { name });
  const id = exp.experiment_id;
  const t0 = Date.UTC(2026, 0, 1);
  await pool([...Array(runs).keys()], 16, async (i) => {
    const r = await call(base, "POST", `${WS}/runs`, {
      experiment_id: id,
      name: `run-${String(i).padStart(5, "0")}`,
      start_time: t0 + i * 1000,
      tags: [
        { key: "team", value: i % 3 === 0 ? "vision" : "nlp" },
        { key: "seed", value: String(i % 7) },
      ],
    });
    const rid = r.info.run_id;
    const lr = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5];
    await call(base, "POST", `${WS}/runs/${rid}/batch`, {
      params: [
        { key: "lr", value: String(lr) },
        { key: "batch_size", value: String(32 << i % 4) },
        { key: "optimizer", value: i % 2 ? "adam" : "sgd" },
        { key: "layers", value: String(2 + (i % 6)) },
        { key: "dropout", value: String((i % 5) / 10) },
      ],
      metrics: Array.from({ length: metrics }, (_, m) => ({
        key: m === 0 ? "loss" : m === 1 ? "accuracy" : `metric_${String(m).padStart(2, "0")}`,
        value: m === 0 ? 1 / (1 + (i % 100)) + lr : m === 1 ? 0.5 + (i % 50) / 100 : Math.sin(i + m),
        step: 10,
        timestamp: t0 + i * 1000 + 500,
      })),
    });
    await call(base, "PATCH", `${WS}/runs/${rid}`, {
      status: i % 10 === 9 ? "FAILED" : "FINISHED",
      end_time: t0 + i * 1000 + 60_000 + (i % 600) * 1000,
    });
  });
  return id;
}

/** A run with one metric of `points` points (a noisy decaying curve), logged 1000 at a time. */
export async function seedLongMetric(base, experimentId, points) {
  const r = await call(base, "POST", `${WS}/runs`, { experiment_id: experimentId, name: "long-training" });
  const rid = r.info.run_id;
  const t0 = Date.UTC(2026, 0, 2);
  const batches = [...Array(Math.ceil(points / 1000)).keys()];
  await pool(batches, 4, async (b) => {
    const metrics = [];
    for (let s = b * 1000; s < Math.min(points, (b + 1) * 1000); s++) {
      const noise = Math.sin(s * 12.9898) * 43758.5453;
      metrics.push({
        key: "train_loss",
        value: 2 * Math.exp(-s / (points / 5)) + 0.1 + 0.05 * (noise - Math.floor(noise)),
        step: s,
        timestamp: t0 + s * 10,
      });
    }
    await call(base, "POST", `${WS}/runs/${rid}/batch`, { metrics });
  });
  return rid;
}

function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A small RGB PNG (a gradient), encoded here so the tests need no image library. */
export function png(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = (x * 255) / w;
      raw[o + 1] = (y * 255) / h;
      raw[o + 2] = 160;
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Uploads a text, a PNG, a CSV and a JSON artifact to a run. */
export async function seedArtifacts(base, runId) {
  const put = (path, bytes) => call(base, "PUT", `${WS}/runs/${runId}/artifacts/${path}`, bytes);
  await put("notes.txt", "training notes\nepoch 1: warming up\nepoch 2: converging\n");
  await put("plots/curve.png", new Uint8Array(png(160, 100)));
  await put("eval/predictions.csv", "id,label,score\n1,cat,0.91\n2,dog,0.77\n3,\"bird, small\",0.42\n");
  await put("config.json", JSON.stringify({ model: "resnet", layers: [64, 128, 256], lr: 0.01 }));
}

/** Launches headless Chromium. */
export async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}
