// Compares runs (`?runs=a,b,c`): overlaid metric charts, a param diff table and parallel
// coordinates from params to a chosen metric.
import { useMemo, useState } from "react";
import { Link, useParams, useSearch } from "wouter";
import { api, num, ok, type RunView } from "../api/client";
import { ChartControls, type XMode } from "../components/ChartControls";
import { MetricChart, preloadChart } from "../components/LazyChart";
import { Crumbs, Empty, Show } from "../components/ui";
import { fmtNum, useAsync } from "../util";

const COLORS = ["#2f6fde", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700", "#5c940d"];

function ParallelCoordinates({ runs, params, metric }: { runs: RunView[]; params: string[]; metric: string }) {
  const axes = [...params.map((p) => ({ kind: "param" as const, key: p })), { kind: "metric" as const, key: metric }];
  const W = 900;
  const H = 300;
  const pad = { l: 40, r: 40, t: 30, b: 30 };
  const x = (i: number) => pad.l + (axes.length === 1 ? 0 : (i * (W - pad.l - pad.r)) / (axes.length - 1));
  const value = (r: RunView, a: (typeof axes)[number]): string | number | undefined => {
    if (a.kind === "metric") {
      const m = r.data.metrics.find((m) => m.key === a.key);
      return m ? num(m.value) : undefined;
    }
    return r.data.params.find((p) => p.key === a.key)?.value;
  };
  // Each axis is numeric when every present value parses as a number, else categorical.
  const scales = axes.map((a) => {
    const vals = runs.map((r) => value(r, a)).filter((v) => v !== undefined);
    const nums = vals.map((v) => (typeof v === "number" ? v : Number(v)));
    if (nums.every((n) => Number.isFinite(n))) {
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      return {
        y: (v: string | number) => {
          const n = typeof v === "number" ? v : Number(v);
          return hi === lo ? (H - pad.t - pad.b) / 2 + pad.t : pad.t + ((hi - n) * (H - pad.t - pad.b)) / (hi - lo);
        },
        ticks: hi === lo ? [lo] : [hi, lo],
      };
    }
    const cats = [...new Set(vals.map(String))].sort();
    return {
      y: (v: string | number) =>
        pad.t + (cats.length === 1 ? (H - pad.t - pad.b) / 2 : (cats.indexOf(String(v)) * (H - pad.t - pad.b)) / (cats.length - 1)),
      ticks: cats,
    };
  });
  return (
    <div className="parcoords" data-testid="parcoords">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="parallel coordinates">
        {axes.map((a, i) => (
          <g key={a.key + a.kind} className="axis">
            <line x1={x(i)} x2={x(i)} y1={pad.t} y2={H - pad.b} />
            <text x={x(i)} y={14} textAnchor="middle">
              {a.kind === "metric" ? `▸ ${a.key}` : a.key}
            </text>
            {scales[i].ticks.map((t) => (
              <text key={String(t)} x={x(i) + 4} y={scales[i].y(t) + 4}>
                {typeof t === "number" ? fmtNum(t) : t}
              </text>
            ))}
          </g>
        ))}
        {runs.map((r, ri) => {
          const pts = axes
            .map((a, i) => {
              const v = value(r, a);
              return v === undefined ? null : `${x(i)},${scales[i].y(v)}`;
            })
            .filter(Boolean);
          return (
            <polyline
              key={r.info.run_id}
              points={pts.join(" ")}
              fill="none"
              stroke={COLORS[ri % COLORS.length]}
              strokeWidth={2}
              opacity={0.85}
            >
              <title>{r.info.name}</title>
            </polyline>
          );
        })}
      </svg>
    </div>
  );
}

export function Compare() {
  const { ws } = useParams<{ ws: string }>();
  const ids = (new URLSearchParams(useSearch()).get("runs") ?? "").split(",").filter(Boolean);
  preloadChart();
  const runs = useAsync(
    () =>
      Promise.all(
        ids.map((id) => ok(api.GET("/api/v1/workspaces/{ws}/runs/{run_id}", { params: { path: { ws, run_id: id } } }))),
      ),
    [ws, ids.join(",")],
  );
  const [xMode, setXMode] = useState<XMode>("step");
  const [smoothing, setSmoothing] = useState(0);
  const [logScale, setLogScale] = useState(false);
  const [pcMetric, setPcMetric] = useState<string>("");

  const info = useMemo(() => {
    const rs = runs.data ?? [];
    const metrics = [...new Set(rs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
    const params = [...new Set(rs.flatMap((r) => r.data.params.map((p) => p.key)))].sort();
    return { metrics, params };
  }, [runs.data]);

  if (ids.length < 2) return <Empty>Select at least two runs in a runs table to compare them.</Empty>;
  return (
    <>
      <Crumbs items={[{ label: "Experiments", href: `/w/${ws}/experiments` }, { label: `Compare ${ids.length} runs` }]} />
      <h1>Compare {ids.length} runs</h1>
      <Show a={runs} what="Loading runs">
        {(rs) => {
          const metric = pcMetric || info.metrics[0] || "";
          const chartRuns = rs.map((r) => ({ id: r.info.run_id, label: r.info.name || r.info.run_id }));
          return (
            <>
              <h2>Params</h2>
              {info.params.length === 0 ? (
                <Empty>These runs have no params.</Empty>
              ) : (
                <table className="grid diff" data-testid="param-diff">
                  <thead>
                    <tr>
                      <th>Param</th>
                      {rs.map((r, i) => (
                        <th key={r.info.run_id}>
                          <span style={{ color: COLORS[i % COLORS.length] }}>■ </span>
                          <Link href={`/w/${ws}/runs/${r.info.run_id}`}>{r.info.name || r.info.run_id}</Link>
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {info.params.map((p) => {
                      const vals = rs.map((r) => r.data.params.find((x) => x.key === p)?.value);
                      const differs = new Set(vals).size > 1;
                      return (
                        <tr key={p}>
                          <td className="mono">{p}</td>
                          {vals.map((v, i) => (
                            <td key={i} className={`mono ${differs ? "differs" : ""}`}>
                              {v ?? "—"}
                            </td>
                          ))}
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
              <h2>Parallel coordinates</h2>
              {info.metrics.length === 0 ? (
                <Empty>These runs have no metrics.</Empty>
              ) : (
                <>
                  <label className="row">
                    Metric
                    <select aria-label="parallel coordinates metric" value={metric} onChange={(e) => setPcMetric(e.target.value)}>
                      {info.metrics.map((m) => (
                        <option key={m}>{m}</option>
                      ))}
                    </select>
                  </label>
                  <ParallelCoordinates runs={rs} params={info.params.slice(0, 12)} metric={metric} />
                </>
              )}
              <h2>Metrics</h2>
              <ChartControls {...{ xMode, setXMode, smoothing, setSmoothing, logScale, setLogScale }} />
              <div className="chart-grid">
                {info.metrics.map((k) => (
                  <MetricChart
                    key={k}
                    ws={ws}
                    runs={chartRuns}
                    metric={k}
                    xMode={xMode}
                    smoothing={smoothing}
                    logScale={logScale}
                  />
                ))}
              </div>
            </>
          );
        }}
      </Show>
    </>
  );
}
