// Shared pieces of every page: loading, error and empty states, status badges, tabs.
import type { ReactNode } from "react";
import { Link } from "wouter";
import { ApiFailure } from "../api/client";
import type { Async } from "../util";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="state" role="status">
      <span className="spinner" />
      {what}…
    </div>
  );
}

export function ErrorState({ error, retry }: { error: Error; retry?: () => void }) {
  const code = error instanceof ApiFailure ? error.body.code : undefined;
  return (
    <div className="state error" role="alert">
      <strong>{error instanceof ApiFailure ? `Error ${error.status}` : "Error"}</strong>: {error.message}
      {code && <code>{code}</code>}
      {retry && (
        <div style={{ marginTop: 8 }}>
          <button onClick={retry}>Retry</button>
        </div>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>;
}

/** Renders the three states of an `Async`, else `children(data)`. */
export function Show<T>({
  a,
  what,
  children,
}: {
  a: Async<T>;
  what?: string;
  children: (data: T) => ReactNode;
}) {
  if (a.error) return <ErrorState error={a.error} retry={a.reload} />;
  if (a.data === undefined) return <Loading what={what} />;
  return <>{children(a.data)}</>;
}

const STATUS_CLASS: Record<string, string> = {
  FINISHED: "ok",
  Completed: "ok",
  READY: "ok",
  FAILED: "bad",
  Failed: "bad",
  KILLED: "bad",
  Canceled: "bad",
  RUNNING: "run",
  Running: "run",
  Preparing: "run",
  Starting: "run",
  Finalizing: "run",
  Queued: "warn",
  QUEUED: "warn",
  NotStarted: "warn",
  CancelRequested: "warn",
  SCHEDULED: "warn",
};

export function Status({ s }: { s: string }) {
  return <span className={`badge ${STATUS_CLASS[s] ?? ""}`}>{s}</span>;
}

export function Tabs({ items, active }: { items: { key: string; label: string; href: string }[]; active: string }) {
  return (
    <nav className="tabs">
      {items.map((t) => (
        <Link key={t.key} href={t.href} className={t.key === active ? "active" : ""}>
          {t.label}
        </Link>
      ))}
    </nav>
  );
}

export function Crumbs({ items }: { items: { label: string; href?: string }[] }) {
  return (
    <div className="crumbs">
      {items.map((c, i) => (
        <span key={i}>
          {i > 0 && " / "}
          {c.href ? <Link href={c.href}>{c.label}</Link> : c.label}
        </span>
      ))}
    </div>
  );
}

export function KeyValues({ items, empty }: { items: { key: string; value: string }[]; empty: string }) {
  if (items.length === 0) return <Empty>{empty}</Empty>;
  return (
    <table className="grid">
      <thead>
        <tr>
          <th>Key</th>
          <th>Value</th>
        </tr>
      </thead>
      <tbody>
        {items.map((kv) => (
          <tr key={kv.key}>
            <td className="mono">{kv.key}</td>
            <td className="mono">{kv.value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
