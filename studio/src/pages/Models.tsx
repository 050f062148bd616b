// The model registry: registered models, and one model's versions with aliases, stage and
// the run that produced each version.
import { Link, useParams } from "wouter";
import { api, ok } from "../api/client";
import { Crumbs, Empty, KeyValues, Show, Status } from "../components/ui";
import { fmtTime, useAsync } from "../util";

export function Models() {
  const { ws } = useParams<{ ws: string }>();
  const models = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/registered-models", {
          params: { path: { ws }, query: { max_results: 1000 } },
        }),
      ),
    [ws],
  );
  return (
    <>
      <h1>Models</h1>
      <Show a={models} what="Loading models">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No registered models. Register one with <code>mlflow.register_model</code>.</Empty>
          ) : (
            <table className="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Latest version</th>
                  <th>Aliases</th>
                  <th>Updated</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((m) => (
                  <tr key={m.name}>
                    <td>
                      <Link href={`/w/${ws}/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>
                    </td>
                    <td>{Math.max(0, ...m.latest_versions.map((v) => v.version)) || "—"}</td>
                    <td>
                      {m.aliases.map((a) => (
                        <span key={a.alias} className="badge">
                          @{a.alias} → v{a.version}
                        </span>
                      ))}
                    </td>
                    <td className="small">{fmtTime(m.updated_ms)}</td>
                    <td className="small">{m.description}</td>
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

export function ModelDetail() {
  const { ws, name: raw } = useParams<{ ws: string; name: string }>();
  const name = decodeURIComponent(raw);
  const model = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/registered-models/{name}", { params: { path: { ws, name } } })),
    [ws, name],
  );
  const versions = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/registered-models/{name}/versions", {
          params: { path: { ws, name }, query: { max_results: 1000 } },
        }),
      ),
    [ws, name],
  );
  return (
    <>
      <Crumbs items={[{ label: "Models", href: `/w/${ws}/models` }, { label: name }]} />
      <h1>{name}</h1>
      <Show a={model} what="Loading model">
        {(m) => (
          <div className="cards">
            <section className="card">
              <h2>Model</h2>
              <dl className="kv">
                <dt>Created</dt>
                <dd>{fmtTime(m.created_ms)}</dd>
                <dt>Updated</dt>
                <dd>{fmtTime(m.updated_ms)}</dd>
                <dt>Description</dt>
                <dd>{m.description || "—"}</dd>
                <dt>Aliases</dt>
                <dd>{m.aliases.length ? m.aliases.map((a) => `@${a.alias} → v${a.version}`).join(", ") : "—"}</dd>
              </dl>
            </section>
            <section className="card">
              <h2>Tags</h2>
              <KeyValues items={m.tags} empty="No tags." />
            </section>
          </div>
        )}
      </Show>
      <h2>Versions</h2>
      <Show a={versions} what="Loading versions">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No versions yet.</Empty>
          ) : (
            <table className="grid" data-testid="model-versions">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Aliases</th>
                  <th>Stage</th>
                  <th>Status</th>
                  <th>Source run</th>
                  <th>Source</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((v) => (
                  <tr key={v.version}>
                    <td>v{v.version}</td>
                    <td>
                      {v.aliases.map((a) => (
                        <span key={a} className="badge">
                          @{a}
                        </span>
                      ))}
                    </td>
                    <td>{v.stage}</td>
                    <td>
                      <Status s={v.status} />
                    </td>
                    <td>
                      {v.run_id ? (
                        <Link href={`/w/${ws}/runs/${v.run_id}`} className="mono">
                          {v.run_id.slice(0, 12)}
                        </Link>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td className="mono small">{v.source}</td>
                    <td className="small">{fmtTime(v.created_ms)}</td>
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
