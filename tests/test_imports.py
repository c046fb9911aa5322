"""The four layers, and the one way their imports run: qkv -> scenes -> engine -> attention."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["attention", "engine", "scenes", "qkv"]  # lowest first
THIRD_PARTY_BELOW = {"attention": {"manim", "manim_slides", "click", "av", "cairo",
                                   "manimpango"},
                     "engine": {"click", "manim_slides"},
                     "scenes": {"click", "av", "cairo", "manimpango"}}  # not below that layer


def imported_top_names(path: Path) -> set[str]:
    """Every module a file imports (at any depth, lazily inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_only_run_downward(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:]) | THIRD_PARTY_BELOW.get(layer, set())
    files = sorted((ROOT / layer).rglob("*.py"))  # packages inside a layer too (qkv/commands)
    assert files
    wrong = {str(f.relative_to(ROOT)): sorted(imported_top_names(f) & above) for f in files}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from qkv.cli import main\n    import manim.utils\n")
    assert imported_top_names(bad) == {"qkv", "manim"}


def loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


def test_attention_does_not_import_manim():
    loaded = loaded_after("import attention, attention.export, attention.worksheet")
    assert "manim" not in loaded and "scenes" not in loaded and "qkv" not in loaded


def test_scenes_do_not_import_qkv():
    loaded = loaded_after("import scenes.explainer, scenes.deck")
    assert "manim" in loaded and not {m for m in loaded if m.split(".")[0] == "qkv"}


def test_cli_export_does_not_import_manim():
    loaded = loaded_after("from qkv.cli import main\n"
                          "try:\n    main(['export', '--format', 'csv'])\nexcept SystemExit:\n"
                          "    pass")
    assert "manim" not in loaded


def test_a_parallel_render_cuts_its_parts_without_manim():
    """The parent of a --jobs render only plans and joins: loading Manim there (1.5 s of CPU)
    would take it from the parts being drawn on the same cores."""
    loaded = loaded_after("from attention import compute\nfrom qkv.pool import plan\n"
                          "from qkv.render import RenderOptions\n"
                          "tasks = plan(compute('The cat sat on the mat'), RenderOptions(),"
                          " ['explainer'], 2)\nassert len(tasks) == 2, tasks")
    assert "manim" not in loaded


def test_batch_checks_its_rows_without_manim(tmp_path):
    """A batch checks every row (options, fonts, scene, deck) before anything renders: in the
    parent process, which must not pay for Manim (qkv/fonts.py reads the text shaping rules
    from attention.display, not from scenes)."""
    rows = tmp_path / "class.csv"
    rows.write_text("sentence,scene,causal,make\nThe cat sat on the mat,scores,1,video\n"
                    "Dogs bark,explainer,0,deck\nبيت كبير,softmax,,video\n")
    loaded = loaded_after("from pathlib import Path\nfrom qkv.batch import Job, plan\n"
                          f"b = plan(Path({str(rows)!r}), Job(0, ''), Path({str(tmp_path)!r}), "
                          "False, True)\nassert len(b.todo) == 3, b")
    assert "manim" not in loaded and "scenes.components" not in loaded
