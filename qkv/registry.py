"""Scene names for the CLI, without importing manim: name -> (module:class, one-line summary)."""

SCENES = {
    "embeddings": ("scenes.embeddings:EmbeddingsScene",
                   "the sentence becomes tokens, each token a vector of named features"),
    "positions": ("scenes.positions:PositionsScene",
                  "with --positions sinusoidal: each word's position vector added to it"),
    "projections": ("scenes.projections:ProjectionsScene",
                    "X times W_q, W_k, W_v: one word in detail, then every word's Q, K and V"),
    "rope": ("scenes.rope:RopeScene",
             "with --model smollm2: rotary positions, a query and a key turned by position"),
    "scores": ("scenes.scores:ScoresScene",
               "dot products of queries and keys form the score grid, then scale by sqrt(d_k)"),
    "softmax": ("scenes.softmax:SoftmaxScene",
                "row by row: exponentials, the row sum, the division; a heat map of weights"),
    "mixing": ("scenes.mixing:MixingScene",
               "each weight times its value, summed into the output; outputs beside inputs"),
    "heads": ("scenes.shared_heads:AnyHeadsScene",
              "with --heads 2 or more: every head's weights side by side, joined by W_o "
              "(--model smollm2: query heads under the key/value heads they share; minilm: "
              "the overview)"),
    "overview": ("scenes.overview:OverviewScene",
                 "with a trained model or --heads 3: every head as a small heat map; all layers"),
    "next": ("scenes.next_word:NextWordScene",
             "with --model smollm2: the last word's attention, then the next-word guesses"),
    "explainer": ("scenes.explainer:ExplainerScene",
                  "the whole story: title, the stages as sections, recap"),
}
DEFAULT_SCENE = "explainer"
VIDEO_FORMATS = ("mp4", "gif", "webm", "mov", "png", "svg", "pdf")
FIGURE_FORMATS = ("png", "svg", "pdf")  # the last frame as a still (png) or vectors (svg, pdf)


def load(name: str):
    import importlib

    module, cls = SCENES[name][0].split(":")
    return getattr(importlib.import_module(module), cls)
