// Browses a run's artifacts folder by folder and previews a file: text, images, CSV (as a
// table), JSON (pretty-printed); every file has a download link.
import { useEffect, useState } from "react";
import { api, artifactUrl, ok } from "../api/client";
import { fmtBytes, useAsync } from "../util";
import { Empty, ErrorState, Loading, Show } from "./ui";

const PREVIEW_LIMIT = 2 << 20;
const IMAGE = /\.(png|jpe?g|gif|webp|svg|bmp)$/i;
const TEXT = /\.(txt|log|md|py|ya?ml|toml|cfg|ini|sh|r|sql|html|xml|js|ts|mlmodel|requirements|lock)$|(^|\/)(MLmodel|LICENSE|README|Dockerfile)$/i;

export type PreviewKind = "image" | "csv" | "json" | "text" | "none";
export function previewKind(path: string): PreviewKind {
  if (IMAGE.test(path)) return "image";
  if (/\.(csv|tsv)$/i.test(path)) return "csv";
  if (/\.json$/i.test(path)) return "json";
  if (TEXT.test(path) || !/\.[A-Za-z0-9]+$/.test(path)) return "text";
  return "none";
}

function parseCsv(text: string, sep: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      if (rows.length >= 1000) return rows;
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export function FilePreview({ url, path, size }: { url: string; path: string; size: number }) {
  const kind = previewKind(path);
  const [text, setText] = useState<string | undefined>();
  const [error, setError] = useState<Error | undefined>();
  useEffect(() => {
    setText(undefined);
    setError(undefined);
    if (kind === "image" || kind === "none" || size > PREVIEW_LIMIT) return;
    const ctl = new AbortController();
    fetch(url, { signal: ctl.signal })
      .then((r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status} reading ${path}`);
        return r.text();
      })
      .then(setText)
      .catch((e: unknown) => !ctl.signal.aborted && setError(e instanceof Error ? e : new Error(String(e))));
    return () => ctl.abort();
  }, [url, kind, size, path]);

  const header = (
    <div className="row" style={{ marginBottom: 8 }}>
      <strong className="mono grow">{path}</strong>
      <span className="muted small">{fmtBytes(size)}</span>
      <a href={url} download={path.split("/").pop()}>
        Download
      </a>
    </div>
  );
  let body;
  if (kind === "image") body = <img src={url} alt={path} data-testid="preview-image" />;
  else if (kind === "none") body = <Empty>No preview for this file type.</Empty>;
  else if (size > PREVIEW_LIMIT) body = <Empty>Too large to preview ({fmtBytes(size)}); download it instead.</Empty>;
  else if (error) body = <ErrorState error={error} />;
  else if (text === undefined) body = <Loading what="Loading file" />;
  else if (kind === "json") {
    let pretty = text;
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      /* shown as text */
    }
    body = <pre data-testid="preview-json">{pretty}</pre>;
  } else if (kind === "csv") {
    const rows = parseCsv(text, /\.tsv$/i.test(path) ? "\t" : ",");
    body =
      rows.length === 0 ? (
        <Empty>Empty file.</Empty>
      ) : (
        <table className="grid" data-testid="preview-csv">
          <thead>
            <tr>
              {rows[0].map((h, i) => (
                <th key={i}>{h}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(1).map((r, i) => (
              <tr key={i}>
                {r.map((c, j) => (
                  <td key={j} className="mono">
                    {c}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      );
  } else body = <pre data-testid="preview-text">{text}</pre>;
  return (
    <div className="preview">
      {header}
      {body}
    </div>
  );
}

export function ArtifactBrowser({ ws, runId }: { ws: string; runId: string }) {
  const [dir, setDir] = useState("");
  const [file, setFile] = useState<{ path: string; size: number } | null>(null);
  const listing = useAsync(
    () =>
      ok(
        api.GET("/api/v1/workspaces/{ws}/runs/{run_id}/artifact-list", {
          params: { path: { ws, run_id: runId }, query: { path: dir || undefined } },
        }),
      ),
    [ws, runId, dir],
  );
  const up = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : "";
  return (
    <Show a={listing} what="Loading artifacts">
      {(l) =>
        l.files.length === 0 && l.dirs.length === 0 && !dir ? (
          <Empty>This run has no artifacts.</Empty>
        ) : (
          <div className="browser">
            <div className="tree" data-testid="artifact-tree">
              <div className="muted small mono">/{dir}</div>
              {dir && (
                <a href="#" onClick={(e) => (e.preventDefault(), setDir(up))}>
                  ..
                </a>
              )}
              {l.dirs.map((d) => {
                const full = dir ? `${dir}/${d}` : d;
                return (
                  <a key={d} href="#" onClick={(e) => (e.preventDefault(), setDir(full))}>
                    {d.split("/").pop()}/
                  </a>
                );
              })}
              {l.files.map((f) => (
                <a
                  key={f.path}
                  href="#"
                  className={file?.path === f.path ? "active" : ""}
                  onClick={(e) => (e.preventDefault(), setFile({ path: f.path, size: f.size }))}
                >
                  {f.path.split("/").pop()} <span className="muted small">{fmtBytes(f.size)}</span>
                </a>
              ))}
            </div>
            {file ? (
              <FilePreview url={artifactUrl(ws, runId, file.path)} path={file.path} size={file.size} />
            ) : (
              <Empty>Select a file to preview it.</Empty>
            )}
          </div>
        )
      }
    </Show>
  );
}
