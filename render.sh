#!/usr/bin/env bash
# qkv: set up (once) and render.
#   ./render.sh [SENTENCE] [OPTIONS]   render a scene (default: the explainer for "The cat sat on the mat")
#   ./render.sh slides [SENTENCE] [OPTIONS]   build a slide deck (see qkv slides --help)
#   ./render.sh test [PYTEST ARGS]     run the test suite
# The first run installs system packages (as root), a .venv and reveal.js (for offline decks);
# later runs skip that in a second.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  libcairo2-dev libpango1.0-dev pkg-config python3-dev          # pycairo and manimpango build from source
  texlive-latex-base texlive-latex-extra texlive-fonts-recommended dvisvgm  # MathTex formulas
  fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-symbola  # glyphs for most scripts, outline emoji
  fontconfig                                                     # fc-list: which characters can be drawn
)
if [ "${1:-}" = "test" ]; then
  # the deck in a real browser (selenium drives Debian's chromium); pdftotext reads worksheets;
  # rsvg-convert and pdftoppm draw SVG and PDF figures with code that is not Cairo's
  APT_PACKAGES+=(chromium chromium-driver poppler-utils librsvg2-bin)
fi
command -v npm >/dev/null || APT_PACKAGES+=(npm)  # fetches reveal.js from the npm registry

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
  qkv_list() { .venv/bin/python -c 'import sys, tomllib
print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["qkv"][sys.argv[1]]))' "$1"; }
  nodeps=$(qkv_list no-deps)
  site=$(qkv_list voiceover-site)
  rm -rf .venv/voiceover-site
  # uv installs the same packages as pip does, in about 20 s instead of about a minute once
  # its cache (~/.cache/uv) holds them; pip is the fallback (it reads pip.conf's indexes, uv
  # does not). Compiled to bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set, no
  # process would save its compiled modules, and each would compile them anew (import manim:
  # 1.5 s -> 3.1 s).
  uv=(.venv/bin/uv pip install --compile-bytecode --python .venv/bin/python)
  if ! { { .venv/bin/python -m pip install --upgrade pip uv &&
           "${uv[@]}" -e '.[test]' && "${uv[@]}" --no-deps $nodeps &&
           "${uv[@]}" --no-deps --target .venv/voiceover-site $site; } ||
         { echo "render.sh: uv could not install; trying pip" &&
           .venv/bin/python -m pip install -e '.[test]' &&
           .venv/bin/python -m pip install --no-deps $nodeps &&
           .venv/bin/python -m pip install --no-deps --target .venv/voiceover-site $site
         }; } > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "render.sh: installing Python packages failed; the full log is in .venv/install.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
  rm -f .venv/.qkv-reveal-version
fi

# reveal.js for HTML decks that work with no network: the version manim-slides expects, from
# the npm registry, into the cache folder manim-slides reads when converting with --offline.
version_file=.venv/.qkv-reveal-version
if [ ! -s "$version_file" ]; then
  .venv/bin/python -c 'from manim_slides.convert import RevealJS
print(RevealJS.model_fields["reveal_version"].default)' > "$version_file"
fi
reveal_version=$(cat "$version_file")
reveal_dir="${XDG_CACHE_HOME:-$HOME/.cache}/manim-slides/revealjs$reveal_version"
if [ ! -f "$reveal_dir/reveal.js" ]; then
  echo "render.sh: fetching reveal.js $reveal_version from the npm registry" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "reveal.js@$reveal_version" >/dev/null && tar xzf reveal.js-*.tgz)
  mkdir -p "$reveal_dir"
  d="$tmp/package/dist"
  cp "$d/reveal.css" "$d/plugin/highlight/zenburn.css" "$d/theme/"*.css "$d/plugin/notes.js" \
     "$d/plugin/markdown.js" "$reveal_dir/"
  cp "$d/reveal.js" "$reveal_dir/reveal.js"  # last: its presence says the copy is complete
fi

case "${1:-}" in
  test) shift; exec .venv/bin/python -m pytest "$@" ;;
  slides) shift; exec .venv/bin/qkv slides "$@" ;;
  serve) shift; exec .venv/bin/qkv serve "$@" ;;
esac
exec .venv/bin/qkv render "$@"
