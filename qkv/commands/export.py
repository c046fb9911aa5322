"""``qkv export``: every matrix as data (json, csv), or a worksheet (md, tex, pdf)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from attention import QKVError
from attention.export import FORMATS as DATA_FORMATS
from attention.worksheet import FORMATS as SHEET_FORMATS
from qkv.commands.common import config_option, math_options, resolve, sentence_argument
from qkv.output import check_folder, write_atomically

EXPORT_FORMATS = {**DATA_FORMATS, **SHEET_FORMATS}  # and pdf, written by pdflatex


@click.command()
@sentence_argument
@click.option("--format", "fmt", type=click.Choice([*EXPORT_FORMATS, "pdf"]), default="json",
              show_default=True,
              help="json or csv: every matrix as data; md, tex or pdf: a worksheet to print.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output (pdf needs one).")
@math_options
@config_option
def export(sentence, fmt, output, config_path, **math):
    """Every matrix of the computation (X, W, Q, K, V, scores, weights, output) as data, or
    as a worksheet with one dot product and one softmax row worked through."""
    if fmt == "pdf" and output is None:
        raise QKVError("--format pdf writes a file; add --output worksheet.pdf")
    trace, _ = resolve(sentence, math, config_path)
    if trace.model is not None and fmt not in ("json", "csv"):
        raise QKVError(f"worksheets (--format {fmt}) are not built for --model "
                       f"{trace.config.model} yet; use --format json or csv")
    if fmt == "pdf":
        from attention.worksheet import to_pdf

        check_folder(output)
        write_atomically(output, to_pdf(trace))
        return
    text = EXPORT_FORMATS[fmt](trace)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)
