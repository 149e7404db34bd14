"""The model store: the registry of judges, finding and validating model files, installing them.

Modules, from the bottom up: ``registry`` (models.toml), ``gguf_file`` (header validation),
``disk`` (where the store lives, the hash cache), ``inventory`` (what the store holds),
``resolve`` (what ``-m`` means), ``pull`` and ``catalogue`` (getting and listing models).
"""
