// One run: overview (info, params, tags, latest metrics), metric charts, live logs and the
// artifacts browser, each a tab with its own deep link.
import { useState } from "react";
import { Link, useParams } from "wouter";
import { num } from "../api/client";
import { early, getRun, runKey } from "../prefetch";
import { ArtifactBrowser } from "../components/ArtifactBrowser";
import { LogView } from "../components/LogView";
import { ChartControls, type XMode } from "../components/ChartControls";
import { MetricChart, preloadChart } from "../components/LazyChart";
import { Crumbs, Empty, KeyValues, Show, Status, Tabs } from "../components/ui";
import { fmtDuration, fmtNum, fmtTime, useAsync } from "../util";

export function RunDetail() {
  const { ws, runId, tab = "overview" } = useParams<{ ws: string; runId: string; tab?: string }>();
  const run = useAsync(() => early(runKey(ws, runId), () => getRun(ws, runId)), [ws, runId]);
  const [xMode, setXMode] = useState<XMode>("step");
  const [smoothing, setSmoothing] = useState(0);
  const [logScale, setLogScale] = useState(false);
  const base = `/w/${ws}/runs/${runId}`;
  // The chart's code loads while the run does.
  if (tab === "metrics") preloadChart();
  return (
    <Show a={run} what="Loading run">
      {(r) => {
        const i = r.info;
        const userTags = r.data.tags.filter((t) => !t.key.startsWith("mlflow."));
        const job = r.data.tags.find((t) => t.key === "mlplane.job")?.value;
        const metricKeys = r.data.metrics.map((m) => m.key).sort();
        return (
          <>
            <Crumbs
              items={[
                { label: "Experiments", href: `/w/${ws}/experiments` },
                { label: `Experiment ${i.experiment_id}`, href: `/w/${ws}/experiments/${i.experiment_id}` },
                { label: i.name || i.run_id },
              ]}
            />
            <div className="row">
              <h1 className="grow">{i.name || i.run_id}</h1>
              <Status s={i.status} />
            </div>
            <Tabs
              active={tab}
              items={[
                { key: "overview", label: "Overview", href: base },
                { key: "metrics", label: `Metrics (${metricKeys.length})`, href: `${base}/metrics` },
                { key: "logs", label: "Logs", href: `${base}/logs` },
                { key: "artifacts", label: "Artifacts", href: `${base}/artifacts` },
              ]}
            />
            {tab === "overview" && (
              <div className="cards">
                <section className="card">
                  <h2>Run</h2>
                  <dl className="kv">
                    <dt>Run id</dt>
                    <dd className="mono">{i.run_id}</dd>
                    <dt>Experiment</dt>
                    <dd>
                      <Link href={`/w/${ws}/experiments/${i.experiment_id}`}>{i.experiment_id}</Link>
                    </dd>
                    <dt>User</dt>
                    <dd>{i.user || "—"}</dd>
                    <dt>Started</dt>
                    <dd>{fmtTime(i.start_time)}</dd>
                    <dt>Ended</dt>
                    <dd>{fmtTime(i.end_time)}</dd>
                    <dt>Duration</dt>
                    <dd>{fmtDuration(i.start_time, i.end_time)}</dd>
                    {i.parent_run_id && (
                      <>
                        <dt>Parent run</dt>
                        <dd>
                          <Link href={`/w/${ws}/runs/${i.parent_run_id}`}>{i.parent_run_id}</Link>
                        </dd>
                      </>
                    )}
                    {job && (
                      <>
                        <dt>Job</dt>
                        <dd>
                          <Link href={`/w/${ws}/jobs/${job}`}>{job}</Link>
                        </dd>
                      </>
                    )}
                    <dt>Artifacts</dt>
                    <dd className="mono small">{i.artifact_uri}</dd>
                  </dl>
                </section>
                <section className="card">
                  <h2>Metrics (latest)</h2>
                  {r.data.metrics.length === 0 ? (
                    <Empty>No metrics logged.</Empty>
                  ) : (
                    <table className="grid">
                      <thead>
                        <tr>
                          <th>Key</th>
                          <th>Value</th>
                          <th>Step</th>
                        </tr>
                      </thead>
                      <tbody>
                        {r.data.metrics.map((m) => (
                          <tr key={m.key}>
                            <td className="mono">
                              <Link href={`${base}/metrics`}>{m.key}</Link>
                            </td>
                            <td className="mono">{fmtNum(num(m.value))}</td>
                            <td>{m.step}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                </section>
                <section className="card">
                  <h2>Params</h2>
                  <KeyValues items={r.data.params} empty="No params logged." />
                </section>
                <section className="card">
                  <h2>Tags</h2>
                  <KeyValues items={userTags} empty="No tags." />
                </section>
              </div>
            )}
            {tab === "metrics" &&
              (metricKeys.length === 0 ? (
                <Empty>No metrics logged.</Empty>
              ) : (
                <>
                  <ChartControls {...{ xMode, setXMode, smoothing, setSmoothing, logScale, setLogScale }} />
                  <div className="chart-grid">
                    {metricKeys.map((k) => (
                      <MetricChart
                        key={k}
                        ws={ws}
                        runs={[{ id: runId, label: i.name || runId }]}
                        metric={k}
                        xMode={xMode}
                        smoothing={smoothing}
                        logScale={logScale}
                      />
                    ))}
                  </div>
                </>
              ))}
            {tab === "logs" && <LogView ws={ws} runId={runId} />}
            {tab === "artifacts" && <ArtifactBrowser ws={ws} runId={runId} />}
          </>
        );
      }}
    </Show>
  );
}
