// Entry point of the studio: theme, layout and the routes (every page has a deep link under
// /studio/w/<workspace>/...), behind the sign-in of `auth.tsx`.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Link, Redirect, Route, Router, Switch, useLocation, useParams } from "wouter";
import "./styles.css";
import { api, ok } from "./api/client";
import { initTheme, useTheme } from "./theme";
import { useAsync } from "./util";
import { Home } from "./pages/Home";
import { Experiments } from "./pages/Experiments";
import { Runs } from "./pages/Runs";
import { Compare } from "./pages/Compare";
import { RunDetail } from "./pages/RunDetail";
import { ModelDetail, Models } from "./pages/Models";
import { JobDetail, Jobs } from "./pages/Jobs";
import { AssetDetail, AssetVersions, Assets } from "./pages/Assets";
import { Snapshot } from "./pages/Snapshot";
import { Empty } from "./components/ui";
import { RequireAuth, SignIn, UserMenu, signedIn } from "./auth";
import { prefetch } from "./prefetch";

function Nav({ ws }: { ws: string }) {
  const [loc] = useLocation();
  const base = `/w/${encodeURIComponent(ws)}`;
  const item = (href: string, label: string, exact = false) => {
    const full = base + href;
    const active = exact ? loc === full : loc === full || loc.startsWith(full + "/");
    return (
      <Link href={full} className={active ? "active" : ""}>
        {label}
      </Link>
    );
  };
  return (
    <nav className="sidebar">
      {item("", "Home", true)}
      <div className="section">Tracking</div>
      {item("/experiments", "Experiments")}
      {item("/models", "Models")}
      <div className="section">Jobs</div>
      {item("/jobs", "Jobs")}
      <div className="section">Assets</div>
      {item("/assets/data", "Data")}
      {item("/assets/environments", "Environments")}
      {item("/assets/components", "Components")}
      {item("/assets/models", "Model assets")}
    </nav>
  );
}

function WorkspacePicker({ ws }: { ws: string }) {
  const [, navigate] = useLocation();
  const list = useAsync(() => ok(api.GET("/api/v1/workspaces", { params: { query: { max_results: 200 } } })), []);
  const names = list.data?.items.map((w) => w.name) ?? [ws];
  if (!names.includes(ws)) names.unshift(ws);
  return (
    <label className="row small">
      <span className="muted">Workspace</span>
      <select
        aria-label="workspace"
        value={ws}
        onChange={(e) => navigate(`/w/${encodeURIComponent(e.target.value)}`)}
      >
        {names.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
    </label>
  );
}

function Shell() {
  const { ws } = useParams<{ ws: string }>();
  const [theme, toggle] = useTheme();
  const w = decodeURIComponent(ws);
  const p = `/w/:ws`;
  return (
    <div className="app">
      <header className="topbar">
        <Link href={`/w/${ws}`} className="brand">
          ml<span>plane</span> studio
        </Link>
        <WorkspacePicker ws={w} />
        <div className="spacer" />
        <button onClick={toggle} aria-label="toggle theme" title="Toggle light/dark theme">
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
        <UserMenu ws={w} />
      </header>
      <Nav ws={w} />
      <main className="main">
        <Switch>
          <Route path={p} component={Home} />
          <Route path={`${p}/experiments`} component={Experiments} />
          <Route path={`${p}/experiments/:id`} component={Runs} />
          <Route path={`${p}/compare`} component={Compare} />
          <Route path={`${p}/runs/:runId/:tab?`} component={RunDetail} />
          <Route path={`${p}/models`} component={Models} />
          <Route path={`${p}/models/:name`} component={ModelDetail} />
          <Route path={`${p}/jobs`} component={Jobs} />
          <Route path={`${p}/jobs/:name/:tab?`} component={JobDetail} />
          <Route path={`${p}/assets/:kind`} component={Assets} />
          <Route path={`${p}/assets/:kind/:name`} component={AssetVersions} />
          <Route path={`${p}/assets/:kind/:name/:version`} component={AssetDetail} />
          <Route path={`${p}/snapshots/:sha/*?`} component={Snapshot} />
          <Route>
            <Empty>No such page. <Link href={`/w/${ws}`}>Go to the workspace home</Link>.</Empty>
          </Route>
        </Switch>
      </main>
    </div>
  );
}

function App() {
  return (
    <Router base="/studio">
      <Switch>
        <Route path="/sign-in" component={SignIn} />
        <Route>
          <RequireAuth>
            <Switch>
              <Route path="/">
                <Redirect to="/w/default" replace />
              </Route>
              <Route path="/w/:ws" component={Shell} />
              <Route path="/w/:ws/*" component={Shell} />
              <Route>
                <Redirect to="/w/default" replace />
              </Route>
            </Switch>
          </RequireAuth>
        </Route>
      </Switch>
    </Router>
  );
}

initTheme();
// A deep link's first requests start as soon as auth/me says who is asking, not after React
// rendered the page (see prefetch.ts).
const path = window.location.pathname.replace(/^\/studio/, "");
const search = window.location.search;
void signedIn.then((yes) => yes && prefetch(path, search));
const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
