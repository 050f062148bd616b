// A metric chart for one or more runs, on a uPlot canvas: the server's downsampled history
// (at most 1,000 points per run whatever the series' size), step or time axis, smoothing and
// log scale. It draws first from the evenly spaced sample (a few index seeks on the server),
// then redraws from the M4 reduction (asked for once the sample is in), which keeps every
// spike; the server aggregates it per bucket over the series' index. Dragging over a step
// range zooms and fetches that window's detail from the server; a double click returns to
// the whole series.
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import { WHOLE, fetchSeries, type Series } from "../api/history";
import { early, sampleKey } from "../prefetch";
import { ErrorState, Loading } from "./ui";
import { themeColor, useThemeVersion } from "../theme";
import type { XMode } from "./ChartControls";
import "uplot/dist/uPlot.min.css";

export interface ChartRun {
  id: string;
  label: string;
}
const COLORS = ["#2f6fde", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700", "#5c940d"];

/** Exponential moving average with bias correction (as TensorBoard smooths). */
function smooth(y: number[], w: number): number[] {
  if (w <= 0) return y;
  let last = 0;
  let n = 0;
  return y.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * w + (1 - w) * v;
    n++;
    return last / (1 - Math.pow(w, n));
  });
}

export function MetricChart({
  ws,
  runs,
  metric,
  xMode,
  smoothing,
  logScale,
  height = 260,
}: {
  ws: string;
  runs: ChartRun[];
  metric: string;
  xMode: XMode;
  smoothing: number;
  logScale: boolean;
  height?: number;
}) {
  const [full, setFull] = useState<(Series | null)[] | undefined>();
  const [zoomed, setZoomed] = useState<{ win: [number, number]; data: (Series | null)[] } | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const [total, setTotal] = useState<string>("");
  const runKey = runs.map((r) => r.id).join(",");

  useEffect(() => {
    const ctl = { dead: false };
    setFull(undefined);
    setZoomed(null);
    setError(undefined);
    setTotal("");
    const load = (win?: [number, number]) =>
      Promise.all(runs.map((r) => fetchSeries(ws, r.id, metric, win).catch(() => null)));
    // The first draw's sample may already be on its way (a deep link to the metrics tab).
    Promise.all(
      runs.map((r) => early(sampleKey(ws, r.id, metric), () => fetchSeries(ws, r.id, metric, WHOLE)).catch(() => null)),
    )
      .then((d) => {
        if (ctl.dead) return;
        if (d.every((s) => s === null)) setError(new Error(`no history for metric '${metric}'`));
        else {
          setFull((cur) => cur ?? d);
          setTotal((t) => t || "refining…");
        }
      })
      .catch((e: unknown) => !ctl.dead && setError(e instanceof Error ? e : new Error(String(e))))
      // The M4 reduction is asked for once the sample is in, so it never delays the first draw.
      .then(() => (ctl.dead ? undefined : load()))
      .then((d) => {
        if (!d || ctl.dead || d.every((s) => s === null)) return;
        setFull(d);
        const n = d.reduce((a, x) => a + (x?.total ?? 0), 0);
        setTotal(`${n.toLocaleString()} points${d.some((x) => x && x.total > x.x.length) ? ", downsampled" : ""}`);
      });
    return () => {
      ctl.dead = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ws, runKey, metric]);

  const shown = zoomed?.data ?? full;
  const aligned = useMemo(() => {
    if (!shown) return undefined;
    const tables: uPlot.AlignedData[] = [];
    shown.forEach((s) => {
      if (!s) {
        tables.push([[], []] as unknown as uPlot.AlignedData);
        return;
      }
      const t0 = s.ts[0] ?? 0;
      const x =
        xMode === "step" ? s.x : xMode === "wall" ? s.ts.map((t) => t / 1000) : s.ts.map((t) => (t - t0) / 1000);
      let y = smooth(s.y, smoothing);
      if (logScale) y = y.map((v) => (v > 0 ? v : NaN));
      // uPlot needs ascending x: order the points by x (time axes may be out of step order).
      const idx = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
      tables.push([idx.map((i) => x[i]), idx.map((i) => (Number.isFinite(y[i]) ? y[i] : null))] as uPlot.AlignedData);
    });
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }, [shown, xMode, smoothing, logScale]);

  const themeVersion = useThemeVersion();
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoomRef = useRef<(min: number, max: number) => void>(() => undefined);
  zoomRef.current = (min, max) => {
    if (xMode !== "step" || !full) return;
    const xs = full.flatMap((s) => (s ? [s.x[0], s.x[s.x.length - 1]] : []));
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    if (min <= lo && max >= hi) {
      setZoomed(null);
      return;
    }
    const win: [number, number] = [Math.max(min, lo), Math.min(max, hi)];
    Promise.all(runs.map((r) => fetchSeries(ws, r.id, metric, win).catch(() => null))).then((data) =>
      setZoomed({ win, data }),
    );
  };

  useEffect(() => {
    const el = box.current;
    if (!el || !aligned) return;
    const fg = themeColor("--fg2");
    const grid = { stroke: themeColor("--border"), width: 1 };
    const axis = { stroke: fg, grid, ticks: grid };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        x: { time: xMode === "wall", ...(zoomed ? { min: zoomed.win[0], max: zoomed.win[1] } : {}) },
        y: { distr: logScale ? 3 : 1 },
      },
      axes: [axis, { ...axis, size: 60 }],
      legend: { show: runs.length > 1 },
      cursor: { drag: { x: true, y: false, setScale: true } },
      series: [
        { label: xMode === "step" ? "step" : "time" },
        ...runs.map((r, i) => ({
          label: r.label,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: false },
        })),
      ],
      hooks: {
        setScale: [
          (u: uPlot, key: string) => {
            if (key !== "x" || !u.status) return;
            const { min, max } = u.scales.x;
            if (min != null && max != null) zoomRef.current(min, max);
          },
        ],
        ready: [
          (u: uPlot) => {
            u.root.dataset.ready = "1";
          },
        ],
      },
    };
    const u = new uPlot(opts, aligned, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [aligned, height, themeVersion]);

  return (
    <div className="chart-card" data-testid={`chart-${metric}`}>
      <div className="row">
        <h3 className="grow">{metric}</h3>
        <span className="muted small">
          {zoomed ? `zoomed to steps ${Math.round(zoomed.win[0])}–${Math.round(zoomed.win[1])} · ` : ""}
          {total}
        </span>
        {zoomed && <button onClick={() => setZoomed(null)}>Reset zoom</button>}
      </div>
      {error ? <ErrorState error={error} /> : !aligned ? <Loading what="Loading history" /> : null}
      <div ref={box} />
    </div>
  );
}
