// A run's log, read through the server-sent event stream: the whole log so far, then new
// lines live until the run ends. Follow mode keeps the view at the bottom. The browser's
// EventSource reconnects with Last-Event-ID (the byte offset), so nothing is lost or doubled.
// When the browser gives up on the stream (the server refused it, e.g. a 401 once the
// session expired), the view asks `auth/me`: a 401 there sends the user to the sign-in page
// (and back here after), anything else shows that the stream closed, with a Reconnect button.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, logStreamUrl } from "../api/client";

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
  const [attempt, setAttempt] = useState(0);
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
      if (es.readyState !== EventSource.CLOSED) return;
      setState((s) => (s === "ended" ? s : "error"));
      // EventSource does not say why it gave up; a 401 here reaches the sign-in redirect.
      void api.GET("/api/v1/auth/me").catch(() => undefined);
    };
    return () => es.close();
  }, [ws, runId, attempt]);

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
          {state === "error" && "stream closed: the server refused or dropped the log stream"}
        </span>
        {state === "error" && <button onClick={() => setAttempt((a) => a + 1)}>Reconnect</button>}
      </div>
      <pre className="log" ref={pre} data-testid="log">
        {text || (state === "ended" ? "(empty log)" : "")}
      </pre>
    </div>
  );
}
