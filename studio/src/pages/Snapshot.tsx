// A code snapshot's files, with a preview of the selected one.
import { Link, useParams } from "wouter";
import { api, ok, snapshotFileUrl } from "../api/client";
import { FilePreview } from "../components/ArtifactBrowser";
import { Crumbs, Empty, Show } from "../components/ui";
import { fmtBytes, useAsync } from "../util";

export function Snapshot() {
  const params = useParams<{ ws: string; sha: string; "*"?: string }>();
  const { ws, sha } = params;
  const path = params["*"] ? decodeURIComponent(params["*"]) : "";
  const snap = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/snapshots/{sha256}", { params: { path: { ws, sha256: sha } } })),
    [ws, sha],
  );
  const base = `/w/${ws}/snapshots/${sha}`;
  return (
    <>
      <Crumbs items={[{ label: "Jobs", href: `/w/${ws}/jobs` }, { label: `snapshot ${sha.slice(0, 12)}` }]} />
      <h1>Code snapshot</h1>
      <Show a={snap} what="Loading snapshot">
        {(s) => {
          const files = s.files.filter((f) => f.kind === "file");
          const sel = files.find((f) => f.path === path);
          return (
            <>
              <p className="muted small mono">
                sha256 {s.sha256} · {fmtBytes(s.size)} archive · {files.length} files
              </p>
              {files.length === 0 ? (
                <Empty>The snapshot holds no files.</Empty>
              ) : (
                <div className="browser">
                  <div className="tree">
                    {files.map((f) => (
                      <Link key={f.path} href={`${base}/${f.path}`} className={f.path === path ? "active" : ""}>
                        {f.path} <span className="muted small">{fmtBytes(f.size)}</span>
                      </Link>
                    ))}
                  </div>
                  {sel ? (
                    <FilePreview url={snapshotFileUrl(ws, sha, sel.path)} path={sel.path} size={sel.size} />
                  ) : (
                    <Empty>Select a file to view it.</Empty>
                  )}
                </div>
              )}
            </>
          );
        }}
      </Show>
    </>
  );
}
