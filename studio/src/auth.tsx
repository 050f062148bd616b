// Who is using the studio: `GET /api/v1/auth/me` at start (a 401 sends the user to the sign-in
// page, as does any later 401), the sign-in page (`/studio/sign-in?next=…`), the user menu in
// the header, and `useCan`, which tells a page whether the caller may do an action in a
// workspace (controls it may not use are disabled with a "needs <action>" tooltip). With
// `--auth none` the server answers the local principal and no sign-in page ever appears.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useLocation, useSearch } from "wouter";
import { ApiFailure, UNAUTHENTICATED, api, csrf, ok, type MeView } from "./api/client";
import { ErrorState, Loading } from "./components/ui";
import { useDismiss } from "./util";

interface Auth {
  me: MeView;
  /** Reloads `me` (after signing in). */
  refresh: () => Promise<void>;
}

const AuthContext = createContext<Auth | undefined>(undefined);

/** The signed-in caller; only inside `<RequireAuth>`. */
export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error("useAuth outside <RequireAuth>");
  return a;
}

/** Whether the caller may do `action` in `ws` (always, with authentication off). */
export function can(me: MeView, ws: string, action: string): boolean {
  return me.auth_mode === "none" || (me.workspaces[ws] ?? []).includes(action);
}

/** `{disabled, title}` for a control that needs `action` in `ws`. */
export function useCan(ws: string, action: string): { allowed: boolean; why?: string } {
  const { me } = useAuth();
  const allowed = can(me, ws, action);
  return { allowed, why: allowed ? undefined : `needs ${action}` };
}

/** The studio-relative location to return to after signing in. */
function here(): string {
  const p = window.location.pathname.replace(/^\/studio/, "") || "/";
  return p + window.location.search;
}

function signInPath(next: string): string {
  return `/sign-in?next=${encodeURIComponent(next)}`;
}

const fetchMe = () => api.GET("/api/v1/auth/me");

/** `auth/me`, asked for as soon as the script runs rather than after React's first render,
 * so a deep link's own calls start earlier; the first `RequireAuth` takes it, later ones ask
 * anew (a sign-in in between changes the answer). */
let earlyMe: ReturnType<typeof fetchMe> | undefined = window.location.pathname.startsWith("/studio/sign-in")
  ? undefined
  : fetchMe();

/** Whether that first `auth/me` succeeded: the deep-link prefetch waits for it, so a page
 * without a session makes no request but `auth/me` before the sign-in page. */
export const signedIn: Promise<boolean> = earlyMe
  ? earlyMe.then((r) => r.response.ok).catch(() => false)
  : Promise.resolve(false);

/** Loads `me`; renders `children` once known, else sends the user to the sign-in page. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const [, navigate] = useLocation();
  const [me, setMe] = useState<MeView | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const navRef = useRef(navigate);
  navRef.current = navigate;
  const toSignIn = useCallback(() => {
    // Both the failed call and the 401 event land here: send the user once.
    if (window.location.pathname.startsWith("/studio/sign-in")) return;
    setMe(undefined);
    navRef.current(signInPath(here()), { replace: true });
  }, []);
  const refresh = useCallback(async () => {
    setError(undefined);
    const answer = earlyMe ?? fetchMe();
    earlyMe = undefined;
    try {
      setMe(await ok(answer));
    } catch (e) {
      // The early call's 401 event may have come before anyone listened: send the user here.
      if (e instanceof ApiFailure && e.status === 401) toSignIn();
      else setError(e instanceof Error ? e : new Error(String(e)));
    }
  }, [toSignIn]);
  useEffect(() => {
    void refresh();
    window.addEventListener(UNAUTHENTICATED, toSignIn);
    return () => window.removeEventListener(UNAUTHENTICATED, toSignIn);
  }, [refresh, toSignIn]);
  if (error) return <ErrorState error={error} retry={() => void refresh()} />;
  if (!me) return <Loading what="Checking who you are" />;
  return <AuthContext.Provider value={{ me, refresh }}>{children}</AuthContext.Provider>;
}

/** A studio-relative `next` only (never another origin). */
function safeNext(raw: string | null): string {
  return raw && raw.startsWith("/") && !raw.startsWith("//") ? raw : "/";
}

/** What the sign-in page says about a failed sign-in: the server's message, and for a
 * lockout (429) how long to wait, from the answer's `retry_after_secs`. */
function signInError(err: unknown): string {
  if (err instanceof ApiFailure && err.status === 429) {
    const wait = Number((err.body.details as { retry_after_secs?: unknown } | null)?.retry_after_secs);
    const when = Number.isFinite(wait) && wait > 0 ? `in ${fmtWait(wait)}` : "later";
    return `Too many failed sign-ins for this user or address: signing in is locked. Try again ${when}.`;
  }
  return err instanceof Error ? err.message : String(err);
}

function fmtWait(s: number): string {
  if (s < 60) return `${s} s`;
  const m = Math.ceil(s / 60);
  return m < 60 ? `${m} min` : `${Math.ceil(m / 60)} h`;
}

/** The sign-in page: user name and password; the server's message on failure. */
export function SignIn() {
  const [, navigate] = useLocation();
  const next = safeNext(new URLSearchParams(useSearch()).get("next"));
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  // With authentication off (or a session still valid) there is nothing to sign in to.
  useEffect(() => {
    let live = true;
    void api.GET("/api/v1/auth/me").then(({ data }) => {
      if (live && data?.auth_mode === "none") navigate(next, { replace: true });
    });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await ok(api.POST("/api/v1/auth/login", { body: { user, password } }));
      csrf.set(r.csrf_token);
      navigate(next, { replace: true });
    } catch (err) {
      setError(signInError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="signin">
      <form className="card" onSubmit={submit} aria-label="sign in">
        <div className="brand">
          ml<span>plane</span> studio
        </div>
        <h1>Sign in</h1>
        <label>
          User name
          <input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required autoFocus />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <div className="state error" role="alert" data-testid="sign-in-error">
            {error}
          </div>
        )}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}

/** The header's user menu: who is signed in, their roles in `ws`, and sign out. */
export function UserMenu({ ws }: { ws: string }) {
  const { me } = useAuth();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const box = useRef<HTMLDivElement>(null);
  // A click anywhere else, Escape or another page closes the menu: left open it would
  // cover the page's own controls under the header (the runs table's Columns button).
  const [loc] = useLocation();
  useEffect(() => setOpen(false), [loc]);
  useDismiss(box, open, () => setOpen(false));
  const off = me.auth_mode === "none";
  const label = off ? "local (authentication off)" : me.principal.name;
  const roles = me.roles.filter((r) => r.workspace === ws).map((r) => r.role);
  const signOut = async () => {
    try {
      await ok(api.POST("/api/v1/auth/logout"));
      csrf.set(null);
      // A fresh page load: nothing of the signed-out session stays in memory.
      window.location.assign(`/studio${signInPath(here())}`);
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return (
    <div className="usermenu" ref={box}>
      <button aria-label="user menu" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {label} ▾
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="user">
          <div>
            <strong data-testid="user-name">{label}</strong>
            {!off && <span className="muted"> ({me.principal.kind.replace("_", " ")})</span>}
          </div>
          {!off && (
            <div className="small" data-testid="user-roles">
              {me.admin && <span className="badge">administrator</span>}{" "}
              {roles.length ? `${roles.join(", ")} in ${ws}` : `no role in ${ws}`}
            </div>
          )}
          {!off && (
            <button onClick={() => void signOut()} style={{ marginTop: 8 }}>
              Sign out
            </button>
          )}
          {error && <ErrorState error={error} />}
        </div>
      )}
    </div>
  );
}
