"""The explainer in parts, for several jobs: its sections cut into consecutive runs, each drawn
by its own process, joined with PyAV without re-encoding (Manim encodes every animation on its
own and joins those files the same way, so the joined video has the very packets a single
process writes), with the parts' captions moved onto the joined timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations, pairwise
from pathlib import Path

from attention import AttentionTrace
from qkv.output import output_folder, remove_work, slug, staging, work_folder
from qkv.render import RenderOptions, finish, manim_render, section_clips

SPLIT_FORMATS = ("mp4",)  # joined by copying packets; alpha and GIF palettes are not tried
# CPU seconds each explainer section took to draw (6 tokens, low quality, one fresh process on
# a 2-core machine; positions and heads with every option on: 3 heads, sinusoidal positions):
# what the cut between parts balances. A part draws only its own sections (it starts with
# the first of them, at time 0), so the cut balances those alone.
# benchmarks/render_bench.py measures the result.
SECTION_COST = {"title": 1.2, "embeddings": 3.4, "positions": 4.7, "projections": 5.8,
                "scores": 4.6, "softmax": 4.6, "mixing": 4.3, "heads": 9.9, "overview": 2.5,
                "recap": 3.1,
                "rope": 2.0, "next": 1.6}  # --model smollm2's own (estimated from its render)


def explainer_parts(jobs: int, sections) -> list[tuple[str, ...]]:
    """Cut the explainer's ``sections`` into at most ``jobs`` runs whose slowest is quickest."""
    names = list(sections)
    cost = [SECTION_COST[name] for name in names]
    best = None
    for cuts in combinations(range(1, len(names)), min(jobs, len(names)) - 1):
        bounds = (0, *cuts, len(names))
        slowest = max(sum(cost[a:b]) for a, b in pairwise(bounds))
        if best is None or slowest < best[0]:
            best = (slowest, bounds)
    return [tuple(names[a:b]) for a, b in pairwise(best[1])]


@dataclass(frozen=True)
class Piece:
    """What one process wrote for a part of the explainer, in its temporary folder."""

    work: Path
    video: Path
    # the part's cues (srt.Subtitle, to the microsecond as Manim made them; its .srt file
    # cuts them to the millisecond), in its own time: 0 where its first section starts
    cues: tuple
    length: float  # seconds
    sections: tuple[tuple[str, Path], ...]  # (name, clip) with --sections


def render_part(trace: AttentionTrace, options: RenderOptions) -> Piece:
    """Draw ``options.part`` of the explainer; the files stay in a temporary folder (the
    caller joins the pieces, then removes it)."""
    folder = output_folder(trace, options.out)
    folder.mkdir(parents=True, exist_ok=True)
    work = work_folder(folder)
    try:
        scene = manim_render(trace, options, work)
        writer = scene.renderer.file_writer
        sections = tuple(section_clips(writer)) if options.sections else ()
        return Piece(work, Path(writer.movie_file_path), tuple(writer.subcaptions),
                     scene.renderer.time, sections)
    except BaseException:
        remove_work(work)
        raise


def join_videos(parts: list[Path], dest: Path) -> None:
    """Join videos of one codec and size end to end by copying packets (no re-encoding)."""
    import av

    listing = dest.with_suffix(".txt")
    listing.write_text("".join(f"file 'file:{p.resolve().as_posix()}'\n" for p in parts),
                       encoding="utf-8")
    with av.open(str(listing), format="concat", options={"safe": "0"}) as src, \
            av.open(str(dest), mode="w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = stream
            out.mux(packet)
    listing.unlink()


def join_captions(pieces: list[Piece]) -> str:
    """Each part's cues, moved onto the joined video's timeline (after the parts before it),
    as SRT text. (Moved before they are cut to the millisecond: so each lands on the
    millisecond one process writes, but for a time within a microsecond of one.)"""
    import datetime

    import srt

    cues, offset = [], 0.0
    for piece in pieces:
        shift = datetime.timedelta(seconds=offset)
        cues += [srt.Subtitle(0, cue.start + shift, cue.end + shift, cue.content)
                 for cue in piece.cues]
        offset += piece.length
    return srt.compose(cues)  # numbers the cues 1, 2, ...


def join_parts(trace: AttentionTrace, options: RenderOptions, pieces: list[Piece]) -> list[Path]:
    """Join the pieces into the explainer's final files; remove the pieces' folders."""
    name = options.scene
    with staging(trace, options.out) as stage:
        stage.remove = [p.work for p in pieces]
        folder, work = stage.folder, stage.work
        video = work / f"{name}.{options.fmt}"
        join_videos([p.video for p in pieces], video)
        pairs = [(video, folder / video.name)]
        captions = join_captions(pieces)
        if captions:
            (work / f"{name}.srt").write_text(captions, encoding="utf-8")
            pairs.append((work / f"{name}.srt", folder / f"{name}.srt"))
        clips = [clip for p in pieces for clip in p.sections]
        for k, (section, clip) in enumerate(clips, start=1):
            pairs.append((clip, folder / f"{name}-{k}-{slug(section)}{clip.suffix}"))
        stage.pairs = finish(pairs, work, options)
    return stage.written


class Finished:
    """A render's tasks as they finish (in any order): a scene's paths, or an explainer part
    kept until every part is in, then the parts joined (:func:`join_parts`)."""

    def __init__(self, trace: AttentionTrace, tasks: list[RenderOptions]):
        self.trace = trace
        self.parts = [t.part for t in tasks if t.part is not None]
        self.pieces: dict[tuple[str, ...], Piece] = {}
        self.paths: dict[str, list[Path]] = {}

    def add(self, task: RenderOptions, result) -> bool:
        """``result``: a scene's paths, or a part's Piece. True when ``task.scene`` is done."""
        if task.part is None:
            self.paths[task.scene] = result
            return True
        self.pieces[task.part] = result
        if len(self.pieces) < len(self.parts):
            return False
        self.paths[task.scene] = join_parts(self.trace, replace(task, part=None),
                                            [self.pieces[p] for p in self.parts])
        return True

    def written(self, scenes: list[str]) -> list[Path]:
        return [path for name in scenes for path in self.paths[name]]
