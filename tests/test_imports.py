import subprocess
import sys


def test_attention_does_not_import_manim():
    code = "import sys, attention, attention.export; print('manim' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_cli_export_does_not_import_manim():
    code = ("import sys; from qkv.cli import main\n"
            "try:\n    main(['export', '--format', 'csv'])\nexcept SystemExit:\n    pass\n"
            "print('manim' in sys.modules, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stderr.strip().splitlines()[-1] == "False"
