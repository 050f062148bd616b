// Runs of an experiment: a virtualized table (10,000+ rows), a filter box in the API's
// filter grammar, sort by header click (the server's order_by), a column chooser for
// params/metrics/tags, and multi-select into the compare page. Filter and order live in the
// URL, so a view is a deep link.
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { ApiFailure, api, num, ok, type RunView } from "../api/client";
import { Crumbs, Empty, ErrorState, Loading, Status } from "../components/ui";
import { FIRST_RUNS_PAGE, early, searchKey } from "../prefetch";
import { fmtDuration, fmtNum, fmtTime, quoteKey, useAsync, useDismiss } from "../util";

type Group = "metrics" | "params" | "tags";
interface Col {
  group: Group;
  key: string;
}
const colId = (c: Col) => `${c.group}.${c.key}`;
/** The first page is small so the table shows at once (`FIRST_RUNS_PAGE`); the rest comes
 * 1,000 at a time. */
const PAGE = 1000;
const MAX_RUNS = 50_000;

interface Row {
  run: RunView;
  metrics: Map<string, number>;
  params: Map<string, string>;
  tags: Map<string, string>;
}

function toRow(run: RunView): Row {
  return {
    run,
    metrics: new Map(run.data.metrics.map((m) => [m.key, num(m.value)])),
    params: new Map(run.data.params.map((p) => [p.key, p.value])),
    tags: new Map(run.data.tags.map((t) => [t.key, t.value])),
  };
}

const BASE_COLS = [
  { id: "name", label: "Run", order: "attributes.run_name", width: 220 },
  { id: "status", label: "Status", order: "attributes.status", width: 100 },
  { id: "start", label: "Started", order: "attributes.start_time", width: 160 },
  { id: "duration", label: "Duration", order: "", width: 90 },
];
const COL_W = 130;

/** One row; memoized, so scrolling renders only the rows that come into view (a row's
 * position depends on its index alone). */
const RunRow = memo(function RunRow({
  ws,
  row: r,
  index,
  top,
  height,
  width,
  shown,
  selected,
  onToggle,
}: {
  ws: string;
  row: Row;
  index: number;
  top: number;
  height: number;
  width: number;
  shown: Col[];
  selected: boolean;
  onToggle: (runId: string) => void;
}) {
  const info = r.run.info;
  return (
    <div className={`vrow ${selected ? "sel" : ""}`} style={{ top, height, width }} data-index={index}>
      <div className="cell chk">
        <input type="checkbox" aria-label={`select ${info.name}`} checked={selected} onChange={() => onToggle(info.run_id)} />
      </div>
      <div className="cell" style={{ width: 220 }}>
        <Link href={`/w/${ws}/runs/${info.run_id}`}>{info.name || info.run_id}</Link>
      </div>
      <div className="cell" style={{ width: 100 }}>
        <Status s={info.status} />
      </div>
      <div className="cell small" style={{ width: 160 }}>
        {fmtTime(info.start_time)}
      </div>
      <div className="cell small" style={{ width: 90 }}>
        {fmtDuration(info.start_time, info.end_time)}
      </div>
      {shown.map((c) => (
        <div key={colId(c)} className={`cell ${c.group === "metrics" ? "num" : ""}`} style={{ width: COL_W }}>
          {c.group === "metrics" ? fmtNum(r.metrics.get(c.key)) : r[c.group].get(c.key) ?? ""}
        </div>
      ))}
    </div>
  );
});

export function Runs() {
  const { ws, id } = useParams<{ ws: string; id: string }>();
  const search = useSearch();
  const [, navigate] = useLocation();
  const q = new URLSearchParams(search);
  const filter = q.get("filter") ?? "";
  const order = q.get("order") ?? "";
  const [draft, setDraft] = useState(filter);
  useEffect(() => setDraft(filter), [filter]);

  const exp = useAsync(
    () => ok(api.GET("/api/v1/workspaces/{ws}/experiments/{id}", { params: { path: { ws, id } } })),
    [ws, id],
  );

  const [rows, setRows] = useState<Row[] | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [complete, setComplete] = useState(false);
  useEffect(() => {
    const ctl = new AbortController();
    setRows(undefined);
    setError(undefined);
    setComplete(false);
    (async () => {
      let token: string | undefined;
      let all: Row[] = [];
      do {
        const next = token;
        const ask = () =>
          ok(
            api.POST("/api/v1/workspaces/{ws}/runs/search", {
              params: { path: { ws } },
              body: {
                experiment_ids: [id],
                filter: filter || undefined,
                order_by: order ? [order] : [],
                max_results: next ? PAGE : FIRST_RUNS_PAGE,
                page_token: next,
              },
              signal: ctl.signal,
            }),
          );
        // The first page of a deep link may already be on its way.
        const page = await (next ? ask() : early(searchKey(ws, id, filter, order), ask));
        if (ctl.signal.aborted) return;
        all = all.concat(page.runs.map(toRow));
        setRows(all);
        token = page.next_page_token ?? undefined;
      } while (token && all.length < MAX_RUNS);
      setComplete(true);
    })().catch((e: unknown) => {
      if (!ctl.signal.aborted) setError(e instanceof Error ? e : new Error(String(e)));
    });
    return () => ctl.abort();
  }, [ws, id, filter, order]);

  // Every param/metric/tag key seen, for the column chooser.
  const keys = useMemo(() => {
    const k = { metrics: new Set<string>(), params: new Set<string>(), tags: new Set<string>() };
    for (const r of (rows ?? []).slice(0, 2000)) {
      r.metrics.forEach((_, key) => k.metrics.add(key));
      r.params.forEach((_, key) => k.params.add(key));
      r.tags.forEach((_, key) => !key.startsWith("mlflow.") && k.tags.add(key));
    }
    return {
      metrics: [...k.metrics].sort(),
      params: [...k.params].sort(),
      tags: [...k.tags].sort(),
    };
  }, [rows]);

  const storeKey = `mlplane.cols.${ws}.${id}`;
  const [cols, setCols] = useState<Col[] | null>(() => {
    const s = window.localStorage.getItem(storeKey);
    try {
      return s ? (JSON.parse(s) as Col[]) : null;
    } catch {
      return null;
    }
  });
  const shown: Col[] = useMemo(
    () =>
      cols ?? [
        ...keys.metrics.slice(0, 5).map((key) => ({ group: "metrics" as const, key })),
        ...keys.params.slice(0, 5).map((key) => ({ group: "params" as const, key })),
      ],
    [cols, keys],
  );
  const toggleCol = (c: Col) => {
    const next = shown.some((x) => colId(x) === colId(c))
      ? shown.filter((x) => colId(x) !== colId(c))
      : [...shown, c];
    setCols(next);
    window.localStorage.setItem(storeKey, JSON.stringify(next));
  };
  const [chooser, setChooser] = useState(false);
  const chooserBox = useRef<HTMLDivElement>(null);
  useDismiss(chooserBox, chooser, () => setChooser(false));

  const [selected, setSelected] = useState<Set<string>>(new Set());
  const toggleSel = useCallback(
    (rid: string) =>
      setSelected((s) => {
        const n = new Set(s);
        if (n.has(rid)) n.delete(rid);
        else n.add(rid);
        return n;
      }),
    [],
  );

  const setQuery = (f: string, o: string) => {
    const p = new URLSearchParams();
    if (f) p.set("filter", f);
    if (o) p.set("order", o);
    const s = p.toString();
    navigate(`/w/${ws}/experiments/${id}${s ? "?" + s : ""}`);
  };
  const sortBy = (expr: string) => {
    if (!expr) return;
    const [cur, dir] = order.split(/ (?=ASC$|DESC$)/);
    const next = cur === expr ? (dir === "DESC" ? `${expr} ASC` : `${expr} DESC`) : `${expr} DESC`;
    setQuery(filter, next);
  };
  const arrow = (expr: string) => {
    const [cur, dir] = order.split(/ (?=ASC$|DESC$)/);
    return cur === expr ? (dir === "ASC" ? " ▲" : " ▼") : "";
  };

  const scroller = useRef<HTMLDivElement>(null);
  const virt = useVirtualizer({
    count: rows?.length ?? 0,
    getScrollElement: () => scroller.current,
    estimateSize: () => 33,
    overscan: 12,
  });
  const width = 36 + BASE_COLS.reduce((a, c) => a + c.width, 0) + shown.length * COL_W;

  const filterError = error instanceof ApiFailure && error.body.code === "invalid_filter" ? error : undefined;
  // A missing experiment (a stale deep link) is an error, not an empty table.
  const pageError = error && !filterError ? error : exp.error;

  return (
    <>
      <Crumbs items={[{ label: "Experiments", href: `/w/${ws}/experiments` }, { label: exp.data?.name ?? id }]} />
      <h1>{exp.data?.name ?? "Experiment " + id}</h1>
      <div className="runs-toolbar">
        <form
          className="filter-box"
          onSubmit={(e) => {
            e.preventDefault();
            setQuery(draft.trim(), order);
          }}
        >
          <input
            aria-label="filter"
            placeholder="Filter runs, e.g. metrics.loss < 0.5 and params.lr = '0.01'  (Enter to apply)"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
          />
          {filterError && (
            <div className="filter-error" role="alert" data-testid="filter-error">
              {filterError.message}
              {filterError.position !== undefined && (
                <pre>
                  {filter}
                  {"\n" + " ".repeat(filterError.position) + "^"}
                </pre>
              )}
            </div>
          )}
        </form>
        <div className="rel" ref={chooserBox}>
          <button onClick={() => setChooser((c) => !c)} aria-expanded={chooser}>
            Columns ({shown.length})
          </button>
          {chooser && (
            <div className="popover" role="dialog" aria-label="column chooser">
              {(["metrics", "params", "tags"] as Group[]).map((g) => (
                <div key={g}>
                  <h3>{g}</h3>
                  {keys[g].length === 0 && <div className="muted small">none</div>}
                  {keys[g].map((key) => (
                    <label key={key}>
                      <input
                        type="checkbox"
                        checked={shown.some((c) => c.group === g && c.key === key)}
                        onChange={() => toggleCol({ group: g, key })}
                      />{" "}
                      {key}
                    </label>
                  ))}
                </div>
              ))}
            </div>
          )}
        </div>
        <button
          className="primary"
          disabled={selected.size < 2}
          onClick={() => navigate(`/w/${ws}/compare?runs=${[...selected].join(",")}`)}
        >
          Compare {selected.size > 0 ? `(${selected.size})` : ""}
        </button>
        {selected.size > 0 && <button onClick={() => setSelected(new Set())}>Clear selection</button>}
      </div>
      <div className="muted small" data-testid="run-count">
        {rows ? `${rows.length.toLocaleString()} runs${complete ? "" : " (loading more…)"}` : ""}
      </div>
      {pageError ? (
        <ErrorState error={pageError} retry={pageError === exp.error ? exp.reload : undefined} />
      ) : (rows === undefined || !exp.data) && !error ? (
        <Loading what="Loading runs" />
      ) : rows && rows.length === 0 ? (
        <Empty>{filter ? "No run matches this filter." : "No runs in this experiment yet."}</Empty>
      ) : rows ? (
        <div className="vtable" ref={scroller} data-testid="runs-table">
          <div className="vhead" style={{ width }}>
            <div className="cell chk nosort">
              <input
                type="checkbox"
                aria-label="select all"
                checked={selected.size > 0 && selected.size === rows.length}
                onChange={(e) =>
                  setSelected(e.target.checked ? new Set(rows.slice(0, 100).map((r) => r.run.info.run_id)) : new Set())
                }
              />
            </div>
            {BASE_COLS.map((c) => (
              <div
                key={c.id}
                className={`cell ${c.order ? "" : "nosort"}`}
                style={{ width: c.width }}
                onClick={() => sortBy(c.order)}
              >
                {c.label}
                {c.order && arrow(c.order)}
              </div>
            ))}
            {shown.map((c) => {
              const expr = `${c.group}.${quoteKey(c.key)}`;
              return (
                <div
                  key={colId(c)}
                  className={`cell ${c.group === "metrics" ? "num" : ""}`}
                  style={{ width: COL_W }}
                  title={`${c.group}.${c.key}`}
                  onClick={() => sortBy(expr)}
                >
                  <span className="colgroup">{c.group.slice(0, -1)}</span>
                  {c.key}
                  {arrow(expr)}
                </div>
              );
            })}
          </div>
          <div style={{ height: virt.getTotalSize(), position: "relative", width }}>
            {virt.getVirtualItems().map((v) => {
              const r = rows[v.index];
              return (
                <RunRow
                  key={r.run.info.run_id}
                  ws={ws}
                  row={r}
                  index={v.index}
                  top={v.start}
                  height={v.size}
                  width={width}
                  shown={shown}
                  selected={selected.has(r.run.info.run_id)}
                  onToggle={toggleSel}
                />
              );
            })}
          </div>
        </div>
      ) : null}
    </>
  );
}
