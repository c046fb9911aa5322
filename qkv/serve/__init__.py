"""``qkv serve``: a local page where a sentence becomes every number of its attention at once
(the trace ``qkv export`` gives, computed in this process with numpy), and the videos, decks
and worksheets are made as background jobs (the ``qkv`` commands run as processes).

* :mod:`qkv.serve.explore`: the page's fields read by the CLI's own parser, the trace as the
  export's JSON, and the CLI's one-line errors.
* :mod:`qkv.serve.jobs`: the queue of jobs, each a ``qkv`` process in its own process group.
* :mod:`qkv.serve.app`: the Starlette application (the page, its API, the downloads).

No Manim is imported here: the renders happen in the job processes.
"""
