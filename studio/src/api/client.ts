// The typed API client: `openapi-fetch` over `schema.d.ts`, which `openapi-typescript`
// generates from the server's OpenAPI document (`npm run gen-api`; the studio tests fail when
// the committed file differs from the running server's document), so a renamed field or
// route is a compile error here, not a blank page.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type RunView = Schemas["RunView"];
export type RunInfoView = Schemas["RunInfoView"];
export type ErrorBody = Schemas["ErrorBody"];

export type MeView = Schemas["MeView"];

const CSRF_KEY = "mlplane.csrf";

/** The session's CSRF token (answered by `POST /api/v1/auth/login`), kept for the tab's origin. */
export const csrf = {
  get: (): string | null => localStorage.getItem(CSRF_KEY),
  set: (t: string | null) => (t ? localStorage.setItem(CSRF_KEY, t) : localStorage.removeItem(CSRF_KEY)),
};

/** Fired on `window` when the server answers 401 (or refuses a missing CSRF token): the
 * studio then shows its sign-in page. The sign-in call itself never fires it. */
export const UNAUTHENTICATED = "mlplane:unauthenticated";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** Cookie sessions need `X-CSRF-Token` on every state-changing request. */
export const authMiddleware: Middleware = {
  onRequest({ request }) {
    const t = csrf.get();
    if (t && !SAFE.has(request.method)) request.headers.set("X-CSRF-Token", t);
    return request;
  },
  async onResponse({ request, response }) {
    if (new URL(request.url).pathname === "/api/v1/auth/login") return response;
    const csrfRefused =
      response.status === 403 &&
      !SAFE.has(request.method) &&
      /CSRF/.test((await response.clone().text().catch(() => "")) ?? "");
    if (response.status === 401 || csrfRefused) window.dispatchEvent(new Event(UNAUTHENTICATED));
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: "same-origin" });
api.use(authMiddleware);

/** A non-2xx answer, carrying the server's `{code, message, details}`. */
export class ApiFailure extends Error {
  constructor(
    public status: number,
    public body: ErrorBody,
  ) {
    super(body.message);
  }
  get position(): number | undefined {
    const d = this.body.details as { position?: unknown } | null;
    return typeof d?.position === "number" ? d.position : undefined;
  }
}

/** The data of an openapi-fetch result, or throws its error body as an `ApiFailure`. */
export async function ok<R extends { data?: unknown; error?: unknown; response: Response }>(
  p: Promise<R>,
): Promise<NonNullable<R["data"]>> {
  const { data, error, response } = await p;
  if (response.ok) return data as NonNullable<R["data"]>;
  const e = error as Partial<ErrorBody> | undefined;
  throw new ApiFailure(response.status, {
    code: e?.code ?? `http_${response.status}`,
    message: e?.message ?? response.statusText,
    details: e?.details ?? {},
  });
}

/** URL of a run's artifact (downloads and previews go straight to it). */
export function artifactUrl(ws: string, runId: string, path: string): string {
  return `/api/v1/workspaces/${enc(ws)}/runs/${enc(runId)}/artifacts/${path
    .split("/")
    .map(enc)
    .join("/")}`;
}

/** URL of a file in a code snapshot. */
export function snapshotFileUrl(ws: string, sha: string, path: string): string {
  return `/api/v1/workspaces/${enc(ws)}/snapshots/${enc(sha)}/files/${path
    .split("/")
    .map(enc)
    .join("/")}`;
}

/** URL of a run's log as server-sent events. */
export function logStreamUrl(ws: string, runId: string, offset = 0): string {
  return `/api/v1/workspaces/${enc(ws)}/runs/${enc(runId)}/logs/stream?offset=${offset}`;
}

export const enc = encodeURIComponent;

/** A metric value as the API sends it (number or "NaN"/"Infinity"/"-Infinity"). */
export function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return NaN;
}
