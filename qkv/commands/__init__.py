"""The commands of ``qkv``, a module each (export, render, slides, batch, scenes), joined into
one click group in :mod:`qkv.cli`. Their shared options and helpers: :mod:`.common`."""
