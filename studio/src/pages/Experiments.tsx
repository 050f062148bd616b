// Experiments list of a workspace.
import { Link, useParams } from "wouter";
import { api, ok } from "../api/client";
import { Empty, Show } from "../components/ui";
import { fmtTime, useAsync } from "../util";

export function Experiments() {
  const { ws } = useParams<{ ws: string }>();
  const exps = useAsync(
    () =>
      ok(api.GET("/api/v1/workspaces/{ws}/experiments", { params: { path: { ws }, query: { max_results: 1000 } } })),
    [ws],
  );
  return (
    <>
      <h1>Experiments</h1>
      <Show a={exps} what="Loading experiments">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No experiments in this workspace.</Empty>
          ) : (
            <table className="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Id</th>
                  <th>Created</th>
                  <th>Updated</th>
                  <th>Tags</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((e) => (
                  <tr key={e.experiment_id}>
                    <td>
                      <Link href={`/w/${ws}/experiments/${e.experiment_id}`}>{e.name}</Link>
                    </td>
                    <td className="mono">{e.experiment_id}</td>
                    <td className="small">{fmtTime(e.created_at)}</td>
                    <td className="small">{fmtTime(e.updated_at)}</td>
                    <td className="small">{e.tags.map((t) => `${t.key}=${t.value}`).join(", ")}</td>
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
