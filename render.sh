#!/usr/bin/env bash
# qkv: set up (once) and render.
#   ./render.sh [SENTENCE] [OPTIONS]   render a scene (default: the explainer for "The cat sat on the mat")
#   ./render.sh test [PYTEST ARGS]     run the test suite
# The first run installs system packages (as root) and a .venv; later runs skip that in a second.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  libcairo2-dev libpango1.0-dev pkg-config python3-dev          # pycairo and manimpango build from source
  texlive-latex-base texlive-latex-extra texlive-fonts-recommended dvisvgm  # MathTex formulas
  fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-symbola  # glyphs for most scripts, outline emoji
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "render.sh: installing system packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "render.sh: missing system packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "render.sh: creating .venv" >&2
  "$PY" -m venv .venv
fi
# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.qkv-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "render.sh: installing qkv and its Python packages into .venv (first run: a few minutes)" >&2
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e '.[test]'; } > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "render.sh: installing Python packages failed; the full log is in .venv/install.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

if [ "${1:-}" = "test" ]; then
  shift
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/qkv render "$@"
