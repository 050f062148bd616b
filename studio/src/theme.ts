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

function apply(t: Theme) {
  document.documentElement.dataset.theme = t;
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
