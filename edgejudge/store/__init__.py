"""The model store: the registry of judges, finding and validating model files, installing them.

Modules, from the bottom up: ``registry`` (models.toml), ``gguf_file`` with ``gguf_semantics`` and
``gguf_tensors`` (what a file must hold before llama.cpp opens it), ``disk`` (where the store
lives, the hash cache), ``paths`` (names and paths that stay inside the store), ``identity`` (a
file against the id it claims), ``inventory`` (what the store holds), ``resolve`` (what ``-m``
means), ``carry``, ``pull``, ``catalogue`` and ``sizing`` (moving, getting and listing models).
"""
