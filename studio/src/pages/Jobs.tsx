// Jobs: the list with status (refreshed while any job is unfinished), and a job's detail:
// status, cancel, inputs and outputs, live log, spec and code snapshot.
import { useRef, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { api, ok } from "../api/client";
import { useCan } from "../auth";
import { LogView } from "../components/LogView";
import { Crumbs, Empty, ErrorState, Show, Status, Tabs } from "../components/ui";
import { TERMINAL_JOB, fmtDuration, fmtTime, useAsync, useInterval } from "../util";

const STATUSES = ["", "Queued", "Preparing", "Running", "Completed", "Failed", "Canceled"];

export function Jobs() {
  const { ws } = useParams<{ ws: string }>();
  const [, navigate] = useLocation();
  const status = new URLSearchParams(useSearch()).get("status") ?? "";
  const jobs = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/jobs", {
          params: { path: { ws }, query: { max_results: 200, status: status || undefined } },
        }),
      ),
    [ws, status],
  );
  const active = jobs.data?.items.some((j) => !TERMINAL_JOB.has(j.status)) ?? false;
  useInterval(jobs.reload, 3000, active);
  return (
    <>
      <div className="row">
        <h1 className="grow">Jobs</h1>
        <label className="row">
          Status
          <select
            aria-label="status filter"
            value={status}
            onChange={(e) => navigate(`/w/${ws}/jobs${e.target.value ? "?status=" + e.target.value : ""}`)}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Show a={jobs} what="Loading jobs">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>{status ? `No ${status} jobs.` : "No jobs yet. Submit one with mlplane job create -f job.yaml."}</Empty>
          ) : (
            <table className="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Display name</th>
                  <th>Status</th>
                  <th>Compute</th>
                  <th>Created</th>
                  <th>Duration</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((j) => (
                  <tr key={j.name}>
                    <td>
                      <Link href={`/w/${ws}/jobs/${j.name}`} className="mono">
                        {j.name}
                      </Link>
                    </td>
                    <td>{j.display_name}</td>
                    <td>
                      <Status s={j.status} />
                    </td>
                    <td>{j.compute}</td>
                    <td className="small">{fmtTime(j.created_at)}</td>
                    <td className="small">{fmtDuration(j.started_at, j.ended_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}

function Io({ ws, name }: { ws: string; name: string }) {
  const io = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/jobs/{name}/io", { params: { path: { ws, name } } })),
    [ws, name],
  );
  return (
    <Show a={io} what="Loading inputs and outputs">
      {(d) =>
        d.items.length === 0 ? (
          <Empty>This job has no inputs or outputs.</Empty>
        ) : (
          <table className="grid">
            <thead>
              <tr>
                <th>Direction</th>
                <th>Name</th>
                <th>Asset</th>
                <th>URI</th>
              </tr>
            </thead>
            <tbody>
              {d.items.map((x) => (
                <tr key={x.direction + x.name}>
                  <td>{x.direction}</td>
                  <td className="mono">{x.name}</td>
                  <td>
                    {x.asset ? (
                      <Link
                        href={`/w/${ws}/assets/${x.asset.kind === "data" ? "data" : x.asset.kind + "s"}/${encodeURIComponent(
                          x.asset.name,
                        )}/${encodeURIComponent(x.asset.version)}`}
                      >
                        {x.asset.name}:{x.asset.version}
                      </Link>
                    ) : (
                      "—"
                    )}
                  </td>
                  <td className="mono small">{x.uri ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      }
    </Show>
  );
}

export function JobDetail() {
  const { ws, name, tab = "overview" } = useParams<{ ws: string; name: string; tab?: string }>();
  const job = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/jobs/{name}", { params: { path: { ws, name } } })),
    [ws, name],
  );
  const running = job.data ? !TERMINAL_JOB.has(job.data.status) : false;
  useInterval(job.reload, 2000, running);
  // Lines in the log mean the status may have moved on (e.g. Preparing → Running): refresh
  // it then too, at most once a second.
  const lastReload = useRef(0);
  const onLogActivity = () => {
    const now = Date.now();
    if (now - lastReload.current >= 1000) {
      lastReload.current = now;
      job.reload();
    }
  };
  const run = useAsync(
    () =>
      job.data
        ? ok(api.GET("/api/v1/workspaces/{ws}/runs/{run_id}", { params: { path: { ws, run_id: job.data.run_id } } }))
        : Promise.resolve(undefined),
    [ws, job.data?.run_id],
  );
  const mayCancel = useCan(decodeURIComponent(ws), "jobs/cancel");
  const [cancelError, setCancelError] = useState<Error | undefined>();
  const [canceling, setCanceling] = useState(false);
  const cancel = async () => {
    setCanceling(true);
    setCancelError(undefined);
    try {
      await ok(api.POST("/api/v1/workspaces/{ws}/jobs/{name}/cancel", { params: { path: { ws, name } } }));
      job.reload();
    } catch (e) {
      setCancelError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setCanceling(false);
    }
  };
  const base = `/w/${ws}/jobs/${name}`;
  const snapshot = run.data?.data.tags.find((t) => t.key === "mlplane.code.snapshot")?.value;
  return (
    <>
      <Crumbs items={[{ label: "Jobs", href: `/w/${ws}/jobs` }, { label: name }]} />
      <Show a={job} what="Loading job">
        {(j) => (
          <>
            <div className="row">
              <h1 className="grow">{j.display_name || j.name}</h1>
              <span data-testid="job-status">
                <Status s={j.status} />
              </span>
              <button
                className="danger"
                disabled={!mayCancel.allowed || !running || canceling || j.status === "CancelRequested"}
                title={mayCancel.why}
                onClick={cancel}
              >
                {canceling ? "Canceling…" : "Cancel job"}
              </button>
            </div>
            {cancelError && <ErrorState error={cancelError} />}
            <Tabs
              active={tab}
              items={[
                { key: "overview", label: "Overview", href: base },
                { key: "logs", label: "Logs", href: `${base}/logs` },
                { key: "io", label: "Inputs & outputs", href: `${base}/io` },
                { key: "spec", label: "Spec", href: `${base}/spec` },
              ]}
            />
            {tab === "overview" && (
              <div className="cards">
                <section className="card">
                  <dl className="kv">
                    <dt>Name</dt>
                    <dd className="mono">{j.name}</dd>
                    <dt>Status</dt>
                    <dd>
                      <Status s={j.status} /> {j.status_message && <span className="small">{j.status_message}</span>}
                    </dd>
                    <dt>Kind</dt>
                    <dd>{j.kind}</dd>
                    <dt>Compute</dt>
                    <dd>{j.compute}</dd>
                    <dt>Created</dt>
                    <dd>{fmtTime(j.created_at)}</dd>
                    <dt>Started</dt>
                    <dd>{fmtTime(j.started_at)}</dd>
                    <dt>Ended</dt>
                    <dd>{fmtTime(j.ended_at)}</dd>
                    <dt>Duration</dt>
                    <dd>{fmtDuration(j.started_at, j.ended_at)}</dd>
                    <dt>Run</dt>
                    <dd>
                      <Link href={`/w/${ws}/runs/${j.run_id}`} className="mono">
                        {j.run_id}
                      </Link>
                    </dd>
                    <dt>Code</dt>
                    <dd>
                      {snapshot ? (
                        <Link href={`/w/${ws}/snapshots/${snapshot}`} className="mono">
                          snapshot {snapshot.slice(0, 12)}
                        </Link>
                      ) : (
                        "—"
                      )}
                    </dd>
                    {j.description && (
                      <>
                        <dt>Description</dt>
                        <dd>{j.description}</dd>
                      </>
                    )}
                  </dl>
                </section>
                <section className="card">
                  <h2>Log</h2>
                  <LogView ws={ws} runId={j.run_id} onActivity={onLogActivity} />
                </section>
              </div>
            )}
            {tab === "logs" && <LogView ws={ws} runId={j.run_id} onActivity={onLogActivity} />}
            {tab === "io" && <Io ws={ws} name={name} />}
            {tab === "spec" && <pre className="log">{JSON.stringify(j.spec, null, 2)}</pre>}
          </>
        )}
      </Show>
    </>
  );
}
