// Light and dark themes: follows `prefers-color-scheme` until the user picks one with the
// toggle, which is remembered in localStorage.
import { useEffect, useState } from "react";

type Theme = "light" | "dark";
const KEY = "mlplane.theme";
const media = window.matchMedia("(prefers-color-scheme: dark)");

function chosen(): Theme | null {
  const v = window.localStorage.getItem(KEY);
  return v === "light" || v === "dark" ? v : null;
}

/** Fired on `window` when the theme changes (canvas charts redraw with its colours). */
export const THEME_EVENT = "mlplane-theme";

function apply(t: Theme) {
  if (document.documentElement.dataset.theme === t) return;
  document.documentElement.dataset.theme = t;
  window.dispatchEvent(new Event(THEME_EVENT));
}

/** A colour of the current theme, by CSS custom property name (canvas cannot read CSS). */
export function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** Re-renders the caller when the theme changes; returns a counter to use as a dependency. */
export function useThemeVersion(): number {
  const [v, setV] = useState(0);
  useEffect(() => {
    const bump = () => setV((x) => x + 1);
    window.addEventListener(THEME_EVENT, bump);
    return () => window.removeEventListener(THEME_EVENT, bump);
  }, []);
  return v;
}

export function initTheme() {
  apply(chosen() ?? (media.matches ? "dark" : "light"));
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => chosen() ?? (media.matches ? "dark" : "light"));
  useEffect(() => {
    const follow = (e: MediaQueryListEvent) => {
      if (!chosen()) setTheme(e.matches ? "dark" : "light");
    };
    media.addEventListener("change", follow);
    return () => media.removeEventListener("change", follow);
  }, []);
  useEffect(() => apply(theme), [theme]);
  const toggle = () => {
    const next: Theme = theme === "dark" ? "light" : "dark";
    window.localStorage.setItem(KEY, next);
    setTheme(next);
  };
  return [theme, toggle];
}
