"""Figures for papers and handouts (issue #26): ``--format svg`` and ``--format pdf`` draw a
scene's last frame as vectors through Cairo's own SVG and PDF surfaces (engine/figures.py),
and ``--sections`` writes one figure per stage. Each is checked against the PNG still Manim
draws of the same scene, rasterised by programs that are not Cairo's drawing code:
rsvg-convert (librsvg) for SVG, pdftoppm (poppler) for PDF."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attention import compute
from scenes.stages import explainer_sections
from tests.ssim import ssim

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The cat sat on the mat"
SVG = "{http://www.w3.org/2000/svg}"
pytestmark = pytest.mark.xdist_group("figures")


def render(out: Path, *args) -> list[Path]:
    p = subprocess.run([sys.executable, "-m", "qkv", "render", SENTENCE, "--quality", "low",
                        "--out", str(out), *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    return [Path(line) for line in p.stdout.split()]


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


def same_picture(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest SSIM of the three colour channels (a swap of red and blue shows)."""
    assert a.shape == b.shape
    return min(ssim(a[:, :, c], b[:, :, c]) for c in range(3))


def rasterised_svg(svg: Path, tmp: Path, width=854, height=480) -> np.ndarray:
    png = tmp / f"{svg.stem}-rsvg.png"
    subprocess.run(["rsvg-convert", "-w", str(width), "-h", str(height), str(svg), "-o",
                    str(png)], check=True)
    return np.asarray(Image.open(png).convert("RGBA")).astype(float)


def rasterised_pdf(pdf: Path, tmp: Path) -> np.ndarray:
    """The page at the dots per inch that make it 854 pixels wide (it is 16 cm wide)."""
    stem = tmp / f"{pdf.stem}-poppler"
    subprocess.run(["pdftoppm", "-png", "-singlefile", "-scale-to-x", "854", "-scale-to-y",
                    "480", str(pdf), str(stem)], check=True)
    return rgb(stem.with_suffix(".png"))


@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    """The scores scene as Manim's PNG still, and as SVG and PDF figures."""
    out = tmp_path_factory.mktemp("figures")
    return {fmt: render(out, "--scene", "scores", "--format", fmt)[0]
            for fmt in ("png", "svg", "pdf")}


def test_an_svg_figure_is_vectors_and_shows_what_the_still_shows(stills, tmp_path):
    svg = stills["svg"]
    root = ET.parse(svg).getroot()  # well-formed XML
    assert root.tag == f"{SVG}svg"
    # 16 cm wide (453.5 pt), as high as the render's 854 x 480 pixels make it
    width, height = (float(root.get(side).removesuffix("pt")) for side in ("width", "height"))
    assert width == pytest.approx(16 / 2.54 * 72) and height == pytest.approx(width * 480 / 854)
    assert not list(root.iter(f"{SVG}image"))  # no raster inside
    assert "data:image" not in svg.read_text()
    assert len(list(root.iter(f"{SVG}path"))) > 150  # shapes: 84 numbers, labels, cells
    drawn = rasterised_svg(svg, tmp_path)
    assert (drawn[:, :, 3] == 255).all()  # the theme's background, everywhere
    assert same_picture(drawn[:, :, :3], rgb(stills["png"])) >= 0.98


def test_a_pdf_figure_is_one_vector_page_that_shows_what_the_still_shows(stills, tmp_path):
    pdf = stills["pdf"]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert "Pages:           1" in info and "453.543 x 254.919 pts" in info
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert len(images) == 2  # the list's header only: no image in the page
    assert same_picture(rasterised_pdf(pdf, tmp_path), rgb(stills["png"])) >= 0.98


def test_sections_give_a_figure_per_stage_of_the_explainer(tmp_path):
    """--sections: the explainer's last frame and a figure per stage, each as the stage
    stands at its end (before the fade that clears it), numbered and named by stage."""
    trace = compute(SENTENCE)
    written = render(tmp_path, "--format", "pdf", "--sections")
    stages = explainer_sections(trace)
    assert [p.name for p in written] == ["explainer.pdf"] + [
        f"explainer-{k}-{name}.pdf" for k, name in enumerate(stages, start=1)]
    pages = [rasterised_pdf(p, tmp_path) for p in written]
    assert np.array_equal(pages[0], pages[-1])  # the recap ends the explainer
    for page in pages[1:]:
        assert (np.abs(page - page[0, 0]).sum(axis=2) > 60).mean() > 0.01  # not empty
    # the same figures as pixels (Cairo's image surface) show what poppler draws of the PDFs
    as_png = render(tmp_path / "png", "--format", "png", "--sections")
    assert [p.name for p in as_png[1:]] == [p.with_suffix(".png").name for p in written[1:]]
    # (poppler smooths edges a little differently from Cairo: 0.972 for the embeddings'
    # large numbers, 0.984 to 0.999 for the others, measured)
    for pdf_page, png in zip(pages[1:], as_png[1:], strict=True):
        assert same_picture(pdf_page, rgb(png)) >= 0.97


def test_a_trained_models_heat_maps_stay_images_placed_as_in_the_still(tmp_path):
    """The overview of MiniLM draws its 72 small heat maps as images (Manim's ImageMobject):
    in the SVG they are images, each where the still has it (cells may move by a pixel:
    Manim places an image on whole pixels)."""
    png = render(tmp_path, "--model", "minilm", "--scene", "overview", "--format", "png",
                 "--theme", "light")[0]
    svg = render(tmp_path, "--model", "minilm", "--scene", "overview", "--format", "svg",
                 "--theme", "light")[0]
    assert len(list(ET.parse(svg).getroot().iter(f"{SVG}image"))) == 72
    assert same_picture(rasterised_svg(svg, tmp_path)[:, :, :3], rgb(png)) >= 0.93


def test_a_transparent_figure_has_no_background(tmp_path):
    svg = render(tmp_path, "--scene", "softmax", "--format", "svg", "--transparent")[0]
    drawn = rasterised_svg(svg, tmp_path)
    assert drawn[0, 0, 3] == 0 and (drawn[:, :, 3] == 0).mean() > 0.5
    assert (drawn[:, :, 3] == 255).any()  # the numbers are there


@pytest.mark.parametrize("args, message", [
    (("--format", "png", "--transparent"), "--transparent needs --format webm, mov, svg or pdf"),
    (("--format", "gif", "--sections"), "--sections cuts clips or figures; use it with mp4, "
                                        "webm, mov, png, svg or pdf"),
])
def test_figure_options_refused_in_one_line(tmp_path, args, message):
    p = subprocess.run([sys.executable, "-m", "qkv", "render", SENTENCE, "--out",
                        str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (2, f"error: {message}\n")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
