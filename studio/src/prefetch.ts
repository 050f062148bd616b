// Deep-link prefetch. What the first page of a studio URL shows often depends on nothing the
// app computes: a run page needs the run, its metrics tab the evenly spaced sample of each of
// the run's metrics, a runs table the experiment's first page of runs. Those requests start
// as soon as the first `auth/me` succeeded (main.tsx), not after React rendered the page;
// the page takes each answer once (`early`), and asks anew if it failed or was already taken.
import { api, ok } from "./api/client";
import { WHOLE, fetchSeries } from "./api/history";

const pending = new Map<string, Promise<unknown>>();

/** The prefetched answer for `key` (taken once, falling back to `fresh` on failure), else `fresh()`. */
export function early<T>(key: string, fresh: () => Promise<T>): Promise<T> {
  const p = pending.get(key) as Promise<T> | undefined;
  pending.delete(key);
  return p ? p.catch(() => fresh()) : fresh();
}

function put<T>(key: string, p: Promise<T>): Promise<T> {
  p.catch(() => undefined); // an unused failure is not an unhandled rejection
  pending.set(key, p);
  return p;
}

const dec = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

export const runKey = (ws: string, runId: string) => `run ${dec(ws)} ${runId}`;
export const sampleKey = (ws: string, runId: string, metric: string) => `sample ${dec(ws)} ${runId} ${metric}`;
export const searchKey = (ws: string, exp: string, filter: string, order: string) =>
  `search ${dec(ws)} ${exp} ${filter} ${order}`;

/** The first page of an experiment's runs table, as `pages/Runs.tsx` asks for it. */
export function firstRunsPage(ws: string, exp: string, filter: string, order: string, size: number) {
  return ok(
    api.POST("/api/v1/workspaces/{ws}/runs/search", {
      params: { path: { ws } },
      body: { experiment_ids: [exp], filter: filter || undefined, order_by: order ? [order] : [], max_results: size },
    }),
  );
}

export const getRun = (ws: string, runId: string) =>
  ok(api.GET("/api/v1/workspaces/{ws}/runs/{run_id}", { params: { path: { ws, run_id: runId } } }));

/** Starts the requests the page at `path` (below /studio) will make first. */
export function prefetch(path: string, search: string) {
  const parts = path.split("/").filter(Boolean);
  if (parts[0] !== "w" || parts.length < 4) return;
  const ws = dec(parts[1]);
  if (parts[2] === "runs") {
    const runId = parts[3];
    const run = put(runKey(ws, runId), getRun(ws, runId));
    if (parts[4] === "metrics")
      void run.then((r) => {
        for (const m of r.data.metrics) put(sampleKey(ws, runId, m.key), fetchSeries(ws, runId, m.key, WHOLE));
      });
  } else if (parts[2] === "experiments" && parts.length === 4) {
    const q = new URLSearchParams(search);
    const filter = q.get("filter") ?? "";
    const order = q.get("order") ?? "";
    put(searchKey(ws, parts[3], filter, order), firstRunsPage(ws, parts[3], filter, order, FIRST_RUNS_PAGE));
  }
}

/** The runs table's first page: small, so the table shows at once. */
export const FIRST_RUNS_PAGE = 100;
