// Workspace home: recent runs and recent jobs.
import { Link, useParams } from "wouter";
import { api, ok } from "../api/client";
import { Empty, Show, Status } from "../components/ui";
import { fmtDuration, fmtTime, useAsync } from "../util";

export function Home() {
  const { ws } = useParams<{ ws: string }>();
  const base = `/w/${ws}`;
  const runs = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/runs", { params: { path: { ws }, query: { max_results: 10 } } })),
    [ws],
  );
  const jobs = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/jobs", { params: { path: { ws }, query: { max_results: 10 } } })),
    [ws],
  );
  const exps = useAsync(
    () =>
      ok(api.GET("/api/v1/workspaces/{ws}/experiments", { params: { path: { ws }, query: { max_results: 1000 } } })),
    [ws],
  );
  const expName = (id: string) => exps.data?.items.find((e) => e.experiment_id === id)?.name ?? id;
  return (
    <>
      <h1>Workspace {ws}</h1>
      <div className="cards wide">
        <section className="card">
          <h2>Recent runs</h2>
          <Show a={runs} what="Loading runs">
            {(d) =>
              d.items.length === 0 ? (
                <Empty>No runs yet. Log one with the MLflow client or submit a job.</Empty>
              ) : (
                <table className="grid">
                  <thead>
                    <tr>
                      <th>Run</th>
                      <th>Experiment</th>
                      <th>Status</th>
                      <th>Started</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.items.map((r) => (
                      <tr key={r.run_id}>
                        <td>
                          <Link href={`${base}/runs/${r.run_id}`}>{r.name || r.run_id}</Link>
                        </td>
                        <td>
                          <Link href={`${base}/experiments/${r.experiment_id}`}>{expName(r.experiment_id)}</Link>
                        </td>
                        <td>
                          <Status s={r.status} />
                        </td>
                        <td className="small nowrap">{fmtTime(r.start_time)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            }
          </Show>
        </section>
        <section className="card">
          <h2>Recent jobs</h2>
          <Show a={jobs} what="Loading jobs">
            {(d) =>
              d.items.length === 0 ? (
                <Empty>No jobs yet. Submit one with <code>mlplane job create -f job.yaml</code>.</Empty>
              ) : (
                <table className="grid">
                  <thead>
                    <tr>
                      <th>Job</th>
                      <th>Status</th>
                      <th>Created</th>
                      <th>Duration</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.items.map((j) => (
                      <tr key={j.name}>
                        <td>
                          <Link href={`${base}/jobs/${j.name}`}>{j.display_name || j.name}</Link>
                        </td>
                        <td>
                          <Status s={j.status} />
                        </td>
                        <td className="small nowrap">{fmtTime(j.created_at)}</td>
                        <td className="small">{fmtDuration(j.started_at, j.ended_at)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            }
          </Show>
        </section>
      </div>
    </>
  );
}
