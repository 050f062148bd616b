// A metric's sampled history as the charts use it: the evenly spaced sample of a window (or,
// without one, the M4 reduction of the whole series), as columns. Shared by the chart and the
// deep-link prefetch (`prefetch.ts`), which must ask exactly what the chart asks.
import { api, num, ok } from "./client";

export interface Series {
  x: number[];
  ts: number[];
  y: number[];
  total: number;
}

export const MAX_POINTS = 1000;

/** The whole series as a window: the server answers its fast evenly spaced sample. */
export const WHOLE: [number, number] = [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];

export async function fetchSeries(ws: string, runId: string, key: string, win?: [number, number]): Promise<Series> {
  const h = await ok(
    api.GET("/api/v1/workspaces/{ws}/runs/{run_id}/metric-history/sampled", {
      params: {
        path: { ws, run_id: runId },
        query: {
          key,
          max_points: MAX_POINTS,
          start_step: win ? Math.floor(win[0]) : undefined,
          end_step: win ? Math.ceil(win[1]) : undefined,
        },
      },
    }),
  );
  return {
    x: h.points.map((p) => p.step),
    ts: h.points.map((p) => p.timestamp),
    y: h.points.map((p) => num(p.value)),
    total: h.total_points,
  };
}

