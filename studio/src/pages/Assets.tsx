// Versioned assets (data, environments, components, model assets): names with their latest
// version, one name's versions, and one version's spec, files and lineage.
import { Link, useParams } from "wouter";
import { api, ok } from "../api/client";
import { FilePreview } from "../components/ArtifactBrowser";
import { Crumbs, Empty, KeyValues, Show } from "../components/ui";
import { fmtBytes, fmtTime, useAsync } from "../util";
import { useState } from "react";

const LABEL: Record<string, string> = {
  data: "Data",
  environments: "Environments",
  components: "Components",
  models: "Model assets",
};
const HAS_FILES = new Set(["data", "models"]);

export function Assets() {
  const { ws, kind } = useParams<{ ws: string; kind: string }>();
  const list = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/{kind}", {
          params: { path: { ws, kind }, query: { max_results: 1000 } },
        }),
      ),
    [ws, kind],
  );
  return (
    <>
      <h1>{LABEL[kind] ?? kind}</h1>
      <Show a={list} what={`Loading ${kind}`}>
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No {(LABEL[kind] ?? kind).toLowerCase()} yet. Create one with <code>mlplane {kind === "data" ? "data" : kind.replace(/s$/, "")} create -f spec.yaml</code>.</Empty>
          ) : (
            <table className="grid">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Latest version</th>
                  <th>Created</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((a) => (
                  <tr key={a.name}>
                    <td>
                      <Link href={`/w/${ws}/assets/${kind}/${encodeURIComponent(a.name)}`}>{a.name}</Link>
                    </td>
                    <td>
                      <Link href={`/w/${ws}/assets/${kind}/${encodeURIComponent(a.name)}/${encodeURIComponent(a.version)}`}>
                        {a.version}
                      </Link>
                    </td>
                    <td className="small">{fmtTime(a.created_at)}</td>
                    <td className="small">{a.description}</td>
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

export function AssetVersions() {
  const { ws, kind, name: raw } = useParams<{ ws: string; kind: string; name: string }>();
  const name = decodeURIComponent(raw);
  const versions = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/{kind}/{name}/versions", {
          params: { path: { ws, kind, name }, query: { include_archived: true, max_results: 1000 } },
        }),
      ),
    [ws, kind, name],
  );
  return (
    <>
      <Crumbs items={[{ label: LABEL[kind] ?? kind, href: `/w/${ws}/assets/${kind}` }, { label: name }]} />
      <h1>{name}</h1>
      <Show a={versions} what="Loading versions">
        {(d) =>
          d.items.length === 0 ? (
            <Empty>No versions of {name}.</Empty>
          ) : (
            <table className="grid">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>State</th>
                  <th>Created</th>
                  <th>Produced by</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((a) => (
                  <tr key={a.version}>
                    <td>
                      <Link href={`/w/${ws}/assets/${kind}/${encodeURIComponent(name)}/${encodeURIComponent(a.version)}`}>
                        {a.version}
                      </Link>
                    </td>
                    <td>
                      {a.archived ? <span className="badge">archived</span> : a.pending_upload ? <span className="badge warn">pending upload</span> : <span className="badge ok">ready</span>}
                    </td>
                    <td className="small">{fmtTime(a.created_at)}</td>
                    <td>{a.source_job ? <Link href={`/w/${ws}/jobs/${a.source_job}`}>{a.source_job}</Link> : "—"}</td>
                    <td className="small">{a.description}</td>
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

function Files({ ws, kind, name, version }: { ws: string; kind: string; name: string; version: string }) {
  const files = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/files", {
          params: { path: { ws, kind, name, version } },
        }),
      ),
    [ws, kind, name, version],
  );
  const [sel, setSel] = useState<{ path: string; size: number } | null>(null);
  const url = (p: string) =>
    `/api/v1/workspaces/${encodeURIComponent(ws)}/${kind}/${encodeURIComponent(name)}/versions/${encodeURIComponent(
      version,
    )}/files/${p.split("/").map(encodeURIComponent).join("/")}`;
  return (
    <Show a={files} what="Loading files">
      {(d) =>
        d.items.length === 0 ? (
          <Empty>No files stored for this version.</Empty>
        ) : (
          <div className="browser">
            <div className="tree">
              {d.items.map((f) => (
                <a
                  key={f.path}
                  href="#"
                  className={sel?.path === f.path ? "active" : ""}
                  onClick={(e) => (e.preventDefault(), setSel({ path: f.path, size: f.size }))}
                >
                  {f.path} <span className="muted small">{fmtBytes(f.size)}</span>
                </a>
              ))}
            </div>
            {sel ? <FilePreview url={url(sel.path)} path={sel.path} size={sel.size} /> : <Empty>Select a file to preview it.</Empty>}
          </div>
        )
      }
    </Show>
  );
}

export function AssetDetail() {
  const { ws, kind, name: rawName, version: rawVersion } = useParams<{
    ws: string;
    kind: string;
    name: string;
    version: string;
  }>();
  const name = decodeURIComponent(rawName);
  const version = decodeURIComponent(rawVersion);
  const asset = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}", {
          params: { path: { ws, kind, name, version } },
        }),
      ),
    [ws, kind, name, version],
  );
  const lineage = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/{kind}/{name}/versions/{version}/lineage", {
          params: { path: { ws, kind, name, version } },
        }),
      ),
    [ws, kind, name, version],
  );
  return (
    <>
      <Crumbs
        items={[
          { label: LABEL[kind] ?? kind, href: `/w/${ws}/assets/${kind}` },
          { label: name, href: `/w/${ws}/assets/${kind}/${encodeURIComponent(name)}` },
          { label: version },
        ]}
      />
      <h1>
        {name}:{version}
      </h1>
      <Show a={asset} what="Loading version">
        {(a) => (
          <div className="cards">
            <section className="card">
              <h2>Version</h2>
              <dl className="kv">
                <dt>Kind</dt>
                <dd>{a.kind}</dd>
                <dt>Created</dt>
                <dd>{fmtTime(a.created_at)}</dd>
                <dt>Storage</dt>
                <dd className="mono small">{a.storage_uri ?? (a.pending_upload ? "pending upload" : "—")}</dd>
                <dt>Archived</dt>
                <dd>{a.archived ? "yes" : "no"}</dd>
                <dt>Description</dt>
                <dd>{a.description || "—"}</dd>
              </dl>
              <h3>Tags</h3>
              <KeyValues items={a.tags} empty="No tags." />
            </section>
            <section className="card">
              <h2>Lineage</h2>
              <Show a={lineage} what="Loading lineage">
                {(l) => (
                  <dl className="kv">
                    <dt>Produced by</dt>
                    <dd>{l.producer ? <Link href={`/w/${ws}/jobs/${l.producer}`}>{l.producer}</Link> : "—"}</dd>
                    <dt>Used by</dt>
                    <dd>
                      {l.consumers.length === 0
                        ? "—"
                        : l.consumers.map((c) => (
                            <div key={c}>
                              <Link href={`/w/${ws}/jobs/${c}`}>{c}</Link>
                            </div>
                          ))}
                    </dd>
                  </dl>
                )}
              </Show>
            </section>
            <section className="card">
              <h2>Spec</h2>
              <pre className="log">{JSON.stringify(a.spec, null, 2)}</pre>
            </section>
          </div>
        )}
      </Show>
      {HAS_FILES.has(kind) && (
        <>
          <h2>Files</h2>
          <Files ws={ws} kind={kind} name={name} version={version} />
        </>
      )}
    </>
  );
}
