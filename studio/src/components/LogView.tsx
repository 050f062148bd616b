// A run's log, read through the server-sent event stream: the whole log so far, then new
// lines live until the run ends. Follow mode keeps the view at the bottom. The browser's
// EventSource reconnects with Last-Event-ID (the byte offset), so nothing is lost or doubled.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { logStreamUrl } from "../api/client";

const MAX_CHARS = 4 << 20;

export function LogView({
  ws,
  runId,
  onActivity,
}: {
  ws: string;
  runId: string;
  /** Called when lines arrive or the run ends, e.g. to refresh a status shown next to it. */
  onActivity?: () => void;
}) {
  const [text, setText] = useState("");
  const [state, setState] = useState<"connecting" | "live" | "ended" | "error">("connecting");
  const [endStatus, setEndStatus] = useState("");
  const [follow, setFollow] = useState(true);
  const pre = useRef<HTMLPreElement>(null);
  // A ref, so a new callback on each render does not reopen the stream.
  const activity = useRef(onActivity);
  activity.current = onActivity;

  useEffect(() => {
    setText("");
    setState("connecting");
    const es = new EventSource(logStreamUrl(ws, runId));
    es.onopen = () => setState("live");
    es.addEventListener("log", (e) => {
      const data = (e as MessageEvent<string>).data;
      setText((t) => {
        const n = t + data;
        return n.length > MAX_CHARS ? n.slice(n.length - MAX_CHARS) : n;
      });
      activity.current?.();
    });
    es.addEventListener("end", (e) => {
      setEndStatus((e as MessageEvent<string>).data);
      setState("ended");
      es.close();
      activity.current?.();
    });
    es.onerror = () => {
      // Reconnects by itself while the connection can be re-established.
      if (es.readyState === EventSource.CLOSED) setState((s) => (s === "ended" ? s : "error"));
    };
    return () => es.close();
  }, [ws, runId]);

  useLayoutEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text, follow]);

  return (
    <div>
      <div className="row" style={{ marginBottom: 8 }}>
        <label className="row">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <span className="muted small" data-testid="log-state">
          {state === "connecting" && "connecting…"}
          {state === "live" && "● live"}
          {state === "ended" && `run ended: ${endStatus}`}
          {state === "error" && "stream closed"}
        </span>
      </div>
      <pre className="log" ref={pre} data-testid="log">
        {text || (state === "ended" ? "(empty log)" : "")}
      </pre>
    </div>
  );
}
